//! The listening socket: fd 0 from the web server, `--bind`, or systemd's fd 3.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Where the listening socket comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bind {
    /// `unix:/run/app.sock`
    Unix(PathBuf),
    /// `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000`
    Tcp(String),
}

impl Bind {
    pub(crate) fn parse(text: &str) -> std::result::Result<Bind, String> {
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
    // SAFETY: listen on a bound socket; calling it again sets the backlog.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
        return Err(fail(io::Error::last_os_error()));
    }
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
            // SAFETY: the descriptor systemd passed for this process.
            Some(fd) => Listener {
                fd: unsafe { OwnedFd::from_raw_fd(fd) },
                unix_path: None,
            },
            None if is_listening_socket(0) => Listener {
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
    // SAFETY: plain descriptor calls on the listening socket. The workers wait in a blocking
    // accept, which the kernel wakes one waiter at a time for (no herd of workers woken for
    // each connection); a receive timeout makes accept return every second, and SIGTERM
    // interrupts it (no SA_RESTART), so a worker notices that it should stop either way.
    unsafe {
        let fd = listener.fd.as_raw_fd();
        let flags = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
}

/// Whether `fd` is a listening socket: how a FastCGI application tells that the web server
/// started it (section 2.2: FCGI_LISTENSOCK_FILENO, fd 0, "refers to a listening socket";
/// `getpeername` fails with ENOTCONN on it).
pub(crate) fn is_listening_socket(fd: RawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt into a local int of the right size.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if r == 0 {
        return value != 0;
    }
    // Systems without SO_ACCEPTCONN: the specification's own test.
    // SAFETY: sockaddr_storage is plain data, for which all-zero bytes are a valid value.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: getpeername into a local sockaddr_storage.
    let r = unsafe {
        libc::getpeername(
            fd,
            (&mut addr as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    r != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTCONN)
}

/// Whether a socket is an IPv4 or IPv6 one.
pub(super) fn is_tcp(fd: RawFd) -> bool {
    // SAFETY: getsockname into a local sockaddr_storage.
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockname(
            fd,
            (&mut addr as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    r == 0 && [libc::AF_INET, libc::AF_INET6].contains(&i32::from(addr.ss_family))
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
    // SAFETY: single-threaded start-up.
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
        assert!(is_listening_socket(listener.as_raw_fd()));
        let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(!is_listening_socket(stream.as_raw_fd()));
        let file = std::fs::File::open("/dev/null").unwrap();
        assert!(!is_listening_socket(file.as_raw_fd()));
    }
}
