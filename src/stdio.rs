//! The process's standard streams, shared by the sinks that write a response to stdout (the CLI,
//! CGI): the response gets stdout to itself, and everything else written to fd 1 goes to stderr.

use std::io;
use std::os::fd::AsFd;

/// Returns a private copy of stdout for the response and re-points fd 1 at stderr, so that what
/// the app prints (`print()`, C extensions, subprocesses) lands in the log (a terminal, the web
/// server's error log) and can never corrupt the response. Call it before Python starts: Python
/// builds `sys.stdout` on fd 1.
pub(crate) fn private_stdout() -> io::Result<std::fs::File> {
    // A duplicate that is close-on-exec, so subprocesses do not hold the response open.
    let response = io::stdout().as_fd().try_clone_to_owned()?;
    rustix::stdio::dup2_stdout(io::stderr())?;
    Ok(std::fs::File::from(response))
}
