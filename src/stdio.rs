//! The process's standard streams, shared by the sinks that write a response to stdout (the CLI,
//! CGI): the response gets stdout to itself, and everything else written to fd 1 goes to stderr.

use std::io;
use std::os::fd::FromRawFd;

/// Returns a private copy of stdout for the response and re-points fd 1 at stderr, so that what
/// the app prints (`print()`, C extensions, subprocesses) lands in the log (a terminal, the web
/// server's error log) and can never corrupt the response. Call it before Python starts: Python
/// builds `sys.stdout` on fd 1.
pub(crate) fn private_stdout() -> io::Result<std::fs::File> {
    // SAFETY: plain descriptor calls; the new descriptor (close-on-exec, so subprocesses do not
    // hold the response open) is owned by the returned File.
    unsafe {
        let fd = libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::dup2(2, 1) < 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(std::fs::File::from_raw_fd(fd))
    }
}
