//! The pre-fork pool of the long-lived process shape (README.md#layout): the app is imported once in
//! the parent, then `workers` processes are forked from it, each running the same body (a
//! FastCGI accept loop, say) and sharing the imported app's memory copy-on-write. The parent
//! only watches: a worker that dies is replaced (and logged), one that ends by itself (its
//! request budget spent) is replaced quietly, and SIGTERM or SIGINT is passed on to every worker,
//! which finishes what it is doing and exits; the parent waits for all of them, so no zombie is
//! left behind.
//!
//! Nothing here knows what a worker does: the body is a closure, and the workers learn that
//! they should stop from [`stopping`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, Signal, WaitOptions};

use crate::error::{Error, Result};
use crate::exit::ExitStatus;

/// How the pool runs.
#[derive(Debug, Clone)]
pub(crate) struct PoolConfig {
    /// How many workers run at once (at least 1).
    pub workers: usize,
    /// Whether a worker that ends (by itself or by dying) is replaced while the pool runs.
    pub replace: bool,
    /// What the log calls a worker ("FastCGI worker").
    pub name: &'static str,
}

/// Set by SIGTERM or SIGINT, in the parent and in each worker.
static STOP: AtomicBool = AtomicBool::new(false);

/// Whether this process was told to stop (SIGTERM, SIGINT). A worker checks it between
/// requests, and while it waits for one.
pub(crate) fn stopping() -> bool {
    STOP.load(Ordering::Relaxed)
}

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Installs the SIGTERM and SIGINT handlers, without SA_RESTART: a worker waiting in `poll`
/// or `accept`, and the parent waiting in `waitpid`, wake up with EINTR and look at [`stopping`].
pub(crate) fn install_stop_handlers() -> Result<()> {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an atomic, which is
        // async-signal-safe.
        let failed = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_stop_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(signal, &action, std::ptr::null_mut()) != 0
        };
        if failed {
            return Err(Error::Usage(format!(
                "cannot handle signal {signal}: {}",
                std::io::Error::last_os_error()
            )));
        }
    }
    Ok(())
}

/// A worker that lived less than this is counted as failing at start-up: replacing it at once,
/// over and over, would only burn the CPU, so the pool waits a little longer each time.
const QUICK_DEATH: Duration = Duration::from_secs(1);

struct Slot {
    pid: libc::pid_t,
    started: Instant,
}

/// Runs the pool until SIGTERM or SIGINT, then waits for every worker. Returns the exit status
/// of the parent (0), or of the one worker when the pool does not replace workers and all have
/// ended. `body` runs in each forked worker; its return value is the worker's exit status.
pub(crate) fn run(config: &PoolConfig, mut body: impl FnMut() -> ExitStatus) -> Result<ExitStatus> {
    install_stop_handlers()?;
    let count = config.workers.max(1);
    let mut slots: Vec<Option<Slot>> = (0..count).map(|_| None).collect();
    let mut quick_deaths = 0u32;
    let mut last_status = ExitStatus::Success;
    let parent = std::process::id() as libc::pid_t;
    for place in slots.iter_mut() {
        if stopping() {
            break;
        }
        *place = Some(spawn(config, parent, &mut body)?);
    }
    loop {
        if stopping() || slots.iter().all(Option::is_none) {
            break;
        }
        let (pid, status) = match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) => (pid.as_raw_pid(), status.as_raw()),
            Ok(None) | Err(Errno::INTR) => continue,
            // ECHILD: nothing left to wait for.
            Err(_) => break,
        };
        let Some(slot) = slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.pid == pid))
        else {
            // A child of the app's own (a subprocess it started before the fork).
            continue;
        };
        let lived = slots[slot].take().map(|s| s.started.elapsed());
        let (clean, description) = describe(status);
        last_status = exit_code(status);
        if stopping() {
            break;
        }
        if !config.replace {
            continue;
        }
        if clean {
            crate::log::info(&format!(
                "{} {pid} ended after its requests; starting another",
                config.name
            ));
        } else {
            crate::log::warn(&format!(
                "{} {pid} {description}; starting another",
                config.name
            ));
        }
        if lived.is_some_and(|l| l < QUICK_DEATH) && !clean {
            quick_deaths += 1;
            let pause = Duration::from_millis(100 * u64::from(quick_deaths.min(50)));
            interruptible_sleep(pause);
            if stopping() {
                break;
            }
        } else {
            quick_deaths = 0;
        }
        slots[slot] = Some(spawn(config, parent, &mut body)?);
    }
    // Pass the signal on and wait for every worker: each finishes the request it is serving.
    let children = slots.iter().flatten().filter_map(|s| Pid::from_raw(s.pid));
    for pid in children.clone() {
        let _ = rustix::process::kill_process(pid, Signal::TERM);
    }
    for pid in children {
        let status = loop {
            match rustix::process::waitpid(Some(pid), WaitOptions::empty()) {
                Err(Errno::INTR) => continue,
                Ok(Some((_, status))) => break Some(status.as_raw()),
                _ => break None,
            }
        };
        let Some(status) = status else {
            continue;
        };
        let (clean, description) = describe(status);
        if !clean {
            crate::log::warn(&format!(
                "{} {} {description}",
                config.name,
                pid.as_raw_pid()
            ));
        }
    }
    Ok(if config.replace {
        ExitStatus::Success
    } else {
        last_status
    })
}

fn spawn(
    config: &PoolConfig,
    parent: libc::pid_t,
    body: &mut impl FnMut() -> ExitStatus,
) -> Result<Slot> {
    match crate::python::fork() {
        Ok(Some(pid)) => Ok(Slot {
            pid,
            started: Instant::now(),
        }),
        Ok(None) => {
            // PR_SET_PDEATHSIG: a worker whose parent is killed outright (SIGKILL) is told to
            // stop too, rather than serving on unwatched. If the parent died before the call,
            // the check after it says so.
            let _ = rustix::process::set_parent_process_death_signal(Some(Signal::TERM));
            if rustix::process::getppid().map(Pid::as_raw_pid) != Some(parent) {
                STOP.store(true, Ordering::Relaxed);
            }
            let status = body();
            crate::python::finish();
            // SAFETY: the worker ends here; the parent's Rust state is not unwound in it.
            unsafe { libc::_exit(i32::from(status.code())) }
        }
        Err(e) => Err(Error::Usage(format!(
            "cannot start a {}: fork failed: {e}",
            config.name
        ))),
    }
}

/// Sleeps, waking early when a signal arrives.
fn interruptible_sleep(d: Duration) {
    // poll with no descriptors is a sleep that a signal interrupts.
    let timeout = rustix::event::Timespec::try_from(d).ok();
    let _ = rustix::event::poll(&mut [], timeout.as_ref());
}

/// Whether the worker ended with status 0, and how it ended, in words.
fn describe(status: libc::c_int) -> (bool, String) {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        (false, format!("was killed by signal {signal}"))
    } else if libc::WIFEXITED(status) {
        let code = libc::WEXITSTATUS(status);
        (code == 0, format!("exited with status {code}"))
    } else {
        (false, format!("ended ({status})"))
    }
}

/// A worker's wait status as one of ours: a status outside the table (the app's
/// `os._exit(7)`), or death by a signal, is a failure.
fn exit_code(status: libc::c_int) -> ExitStatus {
    if libc::WIFEXITED(status) {
        ExitStatus::from_code(libc::WEXITSTATUS(status) as u8)
    } else {
        ExitStatus::Failure
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        // Exit status 3: 3 << 8; killed by SIGKILL: 9.
        assert_eq!(describe(3 << 8), (false, "exited with status 3".into()));
        assert_eq!(describe(0), (true, "exited with status 0".into()));
        assert_eq!(describe(9), (false, "was killed by signal 9".into()));
        assert_eq!(exit_code(2 << 8), ExitStatus::Usage);
        assert_eq!(exit_code(7 << 8), ExitStatus::Failure);
        assert_eq!(exit_code(9), ExitStatus::Failure);
    }
}
