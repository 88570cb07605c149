//! Lambda Managed Instances: with `AWS_LAMBDA_MAX_CONCURRENCY` above 1, Lambda sends up to
//! that many invocations to one execution environment at once, and the Runtime API takes that
//! many concurrent `/next` long polls ("Lambda Managed Instances execution environment",
//! https://docs.aws.amazon.com/lambda/latest/dg/lambda-managed-instances-execution-environment.html;
//! "AWS Lambda runtime API", https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
//! Init is complete once one worker polls `/next`.
//!
//! AWS's Python runtime answers with one process per slot, each importing the app itself.
//! rwsgi imports the app once, freezes it out of the garbage collector's reach (done at the
//! import), then forks the workers with the pre-fork pool, so the imported app's pages stay
//! shared copy-on-write. Each worker makes its own event loop and Runtime API client after the
//! fork and runs the ordinary one-at-a-time loop; the pool replaces a worker that dies, passes
//! SIGTERM on to all and waits for them.
//!
//! Logs: Lambda connects the runtime's own stdout and stderr to the function's log; forked
//! workers get theirs from the unix socket named in `_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`
//! (when set): AWS's Python runtime client connects to it once for each of fds 1 and 2 and
//! writes plain lines, no framing and no descriptor passing; rwsgi does the same.

use std::os::unix::net::UnixStream;

use http::Uri;

use crate::error::Result;
use crate::exit::ExitStatus;
use crate::lambda::Handler;

/// The variable naming the socket the workers' logs go through.
const LOG_SOCKET: &str = "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET";

/// The number of workers when the function runs on Managed Instances with more than one
/// concurrent invocation per environment; `None` runs the classic single process.
pub(crate) fn slots() -> Option<usize> {
    let text = crate::env_nonempty("AWS_LAMBDA_MAX_CONCURRENCY")?;
    match text.trim().parse::<usize>() {
        Ok(n) if n > 1 => Some(n),
        Ok(_) => None,
        Err(_) => {
            crate::log::warn(&format!(
                "AWS_LAMBDA_MAX_CONCURRENCY={text:?} is not a number; serving one invocation \
                 at a time"
            ));
            None
        }
    }
}

/// Forks `slots` workers, each serving invocations one at a time, and watches them until
/// SIGTERM.
pub(crate) fn run(slots: usize, base: Uri, mut handler: Handler) -> Result<ExitStatus> {
    crate::log::info(&format!(
        "Lambda Managed Instances: {slots} workers share the imported app"
    ));
    // Output the import buffered would be written again by every worker.
    crate::python::flush_stdio();
    super::shutdown::register_in_background();
    let config = crate::workers::PoolConfig {
        workers: slots,
        replace: true,
        name: "Lambda worker",
    };
    // Each call of the body runs in a newly forked worker, whose copy of the parent's memory
    // still holds the handler: the worker takes it from its own copy.
    handler.options.multiprocess = true;
    let mut handler = Some(handler);
    crate::workers::run(&config, move || {
        super::shutdown::registered_elsewhere();
        if let Err(e) = connect_log_socket() {
            crate::log::warn(&e);
        }
        let Some(handler) = handler.take() else {
            return ExitStatus::Failure;
        };
        match super::runtime::run_loop(base.clone(), Ok(handler)) {
            Ok(status) => status,
            Err(e) => {
                crate::log::error(&e.to_string());
                ExitStatus::from(&e)
            }
        }
    })
}

/// Points fds 1 and 2 at the log socket, one connection each, when Lambda provides one.
fn connect_log_socket() -> std::result::Result<(), String> {
    let Some(path) = std::env::var_os(LOG_SOCKET).filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    crate::python::flush_stdio();
    for fd in [1, 2] {
        let stream = UnixStream::connect(&path).map_err(|e| {
            format!(
                "cannot connect to the log socket {}: {e}; logging to the inherited output",
                path.to_string_lossy()
            )
        })?;
        // The stream's own descriptor is closed when it is dropped, leaving the duplicate.
        let pointed = if fd == 1 {
            rustix::stdio::dup2_stdout(&stream)
        } else {
            rustix::stdio::dup2_stderr(&stream)
        };
        pointed.map_err(|e| format!("cannot point fd {fd} at the log socket: {e}"))?;
    }
    Ok(())
}
