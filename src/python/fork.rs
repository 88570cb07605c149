//! Forking a process that has a Python interpreter in it, the way `os.fork()` does: the
//! interpreter's locks are taken before the fork and set right on both sides after it
//! (`PyOS_BeforeFork`, `PyOS_AfterFork_Parent`, `PyOS_AfterFork_Child`; "Process Control" in
//! the Python/C API reference). Used by the pre-fork pool, which forks after the app's import so
//! the imported app's memory is shared copy-on-write.

use pyo3::prelude::*;

/// Forks. Returns `Some(pid)` in the parent and `None` in the child. Call it from the thread
/// that started the interpreter, with no other thread running Python: the child has only the
/// calling thread.
pub(crate) fn fork() -> std::io::Result<Option<libc::pid_t>> {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
        // SAFETY: no interpreter: a plain fork.
        return match unsafe { libc::fork() } {
            -1 => Err(std::io::Error::last_os_error()),
            0 => Ok(None),
            pid => Ok(Some(pid)),
        };
    }
    Python::attach(|_py| {
        // SAFETY: the GIL is held by this thread, as PyOS_BeforeFork and the AfterFork calls
        // require; each BeforeFork is matched by exactly one AfterFork on each side.
        unsafe {
            pyo3::ffi::PyOS_BeforeFork();
            match libc::fork() {
                -1 => {
                    let e = std::io::Error::last_os_error();
                    pyo3::ffi::PyOS_AfterFork_Parent();
                    Err(e)
                }
                0 => {
                    pyo3::ffi::PyOS_AfterFork_Child();
                    Ok(None)
                }
                pid => {
                    pyo3::ffi::PyOS_AfterFork_Parent();
                    Ok(Some(pid))
                }
            }
        }
    })
}
