//! The listening socket: fd 0 from the web server, `--bind`, or systemd's fd 3.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where the listening socket comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Bind {
    /// `unix:/run/app.sock`
    Unix(PathBuf),
    /// `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000`
    Tcp(String),
}

impl Bind {
    pub(super) fn parse(text: &str) -> std::result::Result<Bind, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(format!("--bind {text:?}: the socket's path is missing"));
            }
            return Ok(Bind::Unix(PathBuf::from(path)));
        }
        match text.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(Bind::Tcp(text.to_string()))
            }
            _ => Err(format!(
                "--bind {text:?} is neither unix:/path/to.sock nor HOST:PORT (127.0.0.1:9000)"
            )),
        }
    }
}

/// A listening socket and what to clean up after it.
pub(super) struct Listener {
    pub(super) fd: OwnedFd,
    /// The socket file rwsgi created, removed when the pool stops.
    pub(super) unix_path: Option<PathBuf>,
}

fn listen_on(bind: &Bind, backlog: i32) -> Result<Listener> {
    let fail = |e: io::Error| Error::Usage(format!("cannot listen on {bind:?}: {e}"));
    let (fd, unix_path): (OwnedFd, _) = match bind {
        Bind::Unix(path) => {
            // A socket file left by a process that is gone is replaced; one that answers is not.
            if std::fs::symlink_metadata(path).is_ok() {
                if UnixStream::connect(path).is_ok() {
                    return Err(Error::Usage(format!(
                        "cannot listen on {}: another process is serving there",
                        path.display()
                    )));
                }
                use std::os::unix::fs::FileTypeExt;
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
                    let _ = std::fs::remove_file(path);
                }
            }
            let l = std::os::unix::net::UnixListener::bind(path).map_err(fail)?;
            (l.into(), Some(path.clone()))
        }
        Bind::Tcp(address) => {
            let l = std::net::TcpListener::bind(address.as_str()).map_err(fail)?;
            (l.into(), None)
        }
    };
    // Listening again on a bound, listening socket sets the backlog.
    rustix::net::listen(&fd, backlog).map_err(|e| fail(e.into()))?;
    Ok(Listener { fd, unix_path })
}

/// The listening socket: `--bind`, else fd 0 when the web server started rwsgi, else the one
/// systemd passed, else fd 0 when it is a listening socket.
pub(super) fn open(bind: Option<&str>, server_started: bool, backlog: i32) -> Result<Listener> {
    let listener = match (bind, server_started) {
        (Some(text), _) => listen_on(&Bind::parse(text).map_err(Error::Usage)?, backlog)?,
        (None, true) => Listener {
            // SAFETY: fd 0 is the listening socket the web server passed; it is ours alone.
            fd: unsafe { OwnedFd::from_raw_fd(0) },
            unix_path: None,
        },
        (None, false) => match systemd_socket() {
            Some(fd) => Listener {
                // SAFETY: the descriptor systemd passed for this process (LISTEN_PID is ours),
                // owned by nothing else.
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                unix_path: None,
            },
            None if is_listening_socket(io::stdin().as_fd()) => Listener {
                // SAFETY: as above, fd 0.
                fd: unsafe { OwnedFd::from_raw_fd(0) },
                unix_path: None,
            },
            None => {
                return Err(Error::Usage(
                    "rwsgi fastcgi: nowhere to listen: pass --bind unix:/path/to.sock or \
                     --bind HOST:PORT, or start it from a systemd socket unit"
                        .into(),
                ));
            }
        },
    };
    Ok(listener)
}

/// Makes the socket ready for the workers' blocking accepts.
pub(super) fn prepare_for_workers(listener: &Listener) {
    // The workers wait in a blocking accept, which the kernel wakes one waiter at a time for
    // (no herd of workers woken for each connection); a receive timeout makes accept return
    // every second, and SIGTERM interrupts it (no SA_RESTART), so a worker notices that it
    // should stop either way.
    use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
    let fd = listener.fd.as_fd();
    if let Ok(flags) = fcntl_getfl(fd) {
        let _ = fcntl_setfl(fd, flags - OFlags::NONBLOCK);
    }
    let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
    let _ = rustix::net::sockopt::set_socket_timeout(
        fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(std::time::Duration::from_secs(1)),
    );
}

/// Whether `fd` is a listening socket: how a FastCGI application tells that the web server
/// started it (section 2.2: FCGI_LISTENSOCK_FILENO, fd 0, "refers to a listening socket";
/// `getpeername` fails with ENOTCONN on it).
pub(crate) fn is_listening_socket(fd: BorrowedFd<'_>) -> bool {
    if let Ok(listening) = rustix::net::sockopt::socket_acceptconn(fd) {
        return listening;
    }
    // Systems without SO_ACCEPTCONN: the specification's own test.
    rustix::net::getpeername(fd) == Err(rustix::io::Errno::NOTCONN)
}

/// Whether a socket is an IPv4 or IPv6 one.
pub(super) fn is_tcp(fd: BorrowedFd<'_>) -> bool {
    use rustix::net::AddressFamily;
    rustix::net::getsockname(fd)
        .is_ok_and(|a| [AddressFamily::INET, AddressFamily::INET6].contains(&a.address_family()))
}

/// The socket systemd passed (`LISTEN_FDS`, `LISTEN_PID`; sd_listen_fds(3)): fd 3 when it is
/// meant for this process. The variables are removed, so the app's subprocesses do not take
/// the socket for theirs.
fn systemd_socket() -> Option<RawFd> {
    let pid: u32 = crate::env_nonempty("LISTEN_PID")?.trim().parse().ok()?;
    let fds: u32 = crate::env_nonempty("LISTEN_FDS")?.trim().parse().ok()?;
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    // SAFETY: changing the environment needs no other thread to read it at the same time:
    // this runs at start-up, before Python starts or any thread is spawned.
    unsafe {
        std::env::remove_var("LISTEN_PID");
        std::env::remove_var("LISTEN_FDS");
        std::env::remove_var("LISTEN_FDNAMES");
    }
    Some(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds() {
        assert_eq!(
            Bind::parse("unix:/run/app.sock"),
            Ok(Bind::Unix("/run/app.sock".into()))
        );
        assert_eq!(
            Bind::parse("127.0.0.1:9000"),
            Ok(Bind::Tcp("127.0.0.1:9000".into()))
        );
        assert_eq!(
            Bind::parse("[::1]:9000"),
            Ok(Bind::Tcp("[::1]:9000".into()))
        );
        for bad in [
            "unix:",
            "9000",
            "host:",
            ":9000",
            "host:port",
            "/run/app.sock",
        ] {
            assert!(Bind::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listening_sockets_are_told_apart() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(is_listening_socket(listener.as_fd()));
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(!is_listening_socket(stream.as_fd()));
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(!is_listening_socket(file.as_fd()));
    }
}
