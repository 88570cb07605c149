//! Shutdown: when Lambda shuts an execution environment down it sends the runtime `SIGTERM`
//! and waits before `SIGKILL` -- but only when an extension is registered; without one the
//! runtime is killed outright ("Lambda execution environment lifecycle", Shutdown phase: 500 ms
//! with internal extensions only, 2,000 ms with an external one). So during init rwsgi
//! registers an internal extension that subscribes to no events (through AWS's
//! `lambda_extension`, as `lambda_runtime`'s `graceful-shutdown` feature does), and on `SIGTERM`
//! (or `SIGINT`, as from `docker stop` or a terminal) does what Python does at exit: the app's
//! `atexit` handlers run and its output is flushed, then the process ends.
//!
//! `lambda_runtime::spawn_graceful_shutdown_handler` is not used as it stands: it `expect`s the
//! registration to succeed, and the Runtime API emulators rwsgi also runs under (`cargo
//! lambda`, test doubles) have no Extensions API. There the registration is skipped and the
//! signals are still handled.

/// The name the extension registers under; names are unique within a function.
const EXTENSION_NAME: &str = "rwsgi-shutdown";

/// Registers the extension (when the Extensions API is there) and starts watching for the
/// signals. Runs during init, before the first `/next`, as extensions must register then.
pub async fn start() {
    let registered = lambda_extension::Extension::new()
        .with_events(&[])
        .with_extension_name(EXTENSION_NAME)
        .register()
        .await;
    if let Ok(extension) = registered {
        // The extension's own long poll on `/extension/event/next`, which never answers since it
        // asked for no events: it only has to be under way for init to end.
        tokio::spawn(async move {
            let _ = extension.run().await;
        });
    }
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        crate::log::warn("cannot watch for SIGTERM: atexit handlers will not run at shutdown");
        return;
    };
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        crate::log::info(&format!("{name}: shutting down"));
        crate::python::finish();
        std::process::exit(0);
    });
}
