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

use std::sync::atomic::{AtomicBool, Ordering};

/// Set in the workers of a Managed Instances pool, whose parent holds the one registration
/// (names are unique within a function, and a worker may die and be replaced).
static REGISTERED_ELSEWHERE: AtomicBool = AtomicBool::new(false);

/// Makes [`start`] only watch for the signals in this process.
pub(super) fn registered_elsewhere() {
    REGISTERED_ELSEWHERE.store(true, Ordering::Relaxed);
}

/// Registers the extension from a process of its own that keeps its long poll open, for the
/// parent of a Managed Instances pool: a thread would be copied into every worker forked later
/// in whatever lock it held at the time (glibc's resolver's, say), so the parent runs none. The
/// call returns once the registration is done (or failed), so that it precedes the workers'
/// first `/next` as the Extensions API requires. The process ends with the parent
/// (`PR_SET_PDEATHSIG`); the pool's `waitpid` reaps it.
pub(super) fn register_in_background() {
    let Ok((read_end, write_end)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
    else {
        crate::log::warn("cannot start the shutdown extension: no pipe");
        return;
    };
    match crate::python::fork() {
        Ok(Some(_pid)) => {
            // Our copy of the write end closed, a blocking read of one byte (or end of file,
            // when the extension's process died) from the read end.
            drop(write_end);
            let mut byte = [0u8];
            while rustix::io::read(&read_end, &mut byte) == Err(rustix::io::Errno::INTR) {}
        }
        Ok(None) => {
            drop(read_end);
            let _ = rustix::process::set_parent_process_death_signal(Some(
                rustix::process::Signal::KILL,
            ));
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()
            {
                runtime.block_on(async {
                    let registered = lambda_extension::Extension::new()
                        .with_events(&[])
                        .with_extension_name(EXTENSION_NAME)
                        .register()
                        .await;
                    // One byte to the parent, which waits for it.
                    let _ = rustix::io::write(&write_end, &[1]);
                    if let Ok(extension) = registered {
                        let _ = extension.run().await;
                    }
                });
            }
            // SAFETY: this process ends here without running the parent's exit handlers.
            unsafe { libc::_exit(crate::ExitStatus::Success.code().into()) }
        }
        Err(e) => {
            crate::log::warn(&format!("cannot start the shutdown extension: {e}"));
        }
    }
}

/// Registers the extension (when the Extensions API is there) and starts watching for the
/// signals. Runs during init, before the first `/next`, as extensions must register then.
pub(super) async fn start() {
    if !REGISTERED_ELSEWHERE.load(Ordering::Relaxed) {
        // The registration is awaited here, so that it is done before the first `/next`.
        let registered = lambda_extension::Extension::new()
            .with_events(&[])
            .with_extension_name(EXTENSION_NAME)
            .register()
            .await;
        if let Ok(extension) = registered {
            tokio::spawn(async move {
                let _ = extension.run().await;
            });
        }
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
        std::process::exit(crate::ExitStatus::Success.code().into());
    });
}
