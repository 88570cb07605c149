//! The Runtime API connection's socket, as hyper reads and writes it: a TCP socket registered
//! with tokio's reactor whose answer, once a whole request has been written, may be waited for
//! with one blocking `recv`.
//!
//! Why not tokio's `TcpStream`: with it every exchange with the Runtime API is a `writev`, an
//! `epoll_wait` and a `recvfrom`, and on a virtual machine each system call is costly (a warm
//! hello-world invocation spent 27 µs of its 60 µs of CPU in the kernel, for six calls and
//! two context switches; README.md, "Speed"). The loop sends one request at a time and has
//! nothing else to do until its answer comes, so the answer is waited for in the `recvfrom`
//! that takes it: two calls per exchange, as a blocking client makes. A `/next` that waits
//! longer than [`BLOCKING_WAIT`] costs one call more than with tokio's socket (the timed-out
//! read), and the reply's exchange one fewer.
//!
//! The socket stays in blocking mode; every other call says `MSG_DONTWAIT` and waits for
//! readiness through tokio, so that everything else -- an answer's rest, a streamed
//! request's body, a connection closed while idle -- is what tokio's `TcpStream` does. The
//! blocking `recv` has a short `SO_RCVTIMEO`, for two reasons: a timed-out wait goes back to
//! tokio, which then runs what else is waiting (the shutdown extension, the signal watcher);
//! and with a receive timeout set, Linux ends the `recv` with `EINTR` when a signal arrives
//! rather than restarting it (signal(7), "Interruption of system calls and library functions
//! by signal handlers"), so a `SIGTERM` that this thread takes is handled at once (one that
//! another thread of the app's takes, within [`BLOCKING_WAIT`]).

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use rustix::net::{RecvFlags, SendFlags};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// How long one blocking `recv` waits before the wait goes back to tokio's reactor. Shorter than
/// the 500 ms Lambda leaves between `SIGTERM` and `SIGKILL` ("Lambda execution environment
/// lifecycle", Shutdown phase), for a signal that another thread of the app's took.
const BLOCKING_WAIT: Duration = Duration::from_millis(100);

/// What the connection's driver and its socket tell each other about the answer awaited.
#[derive(Debug, Default)]
pub(crate) struct Wait {
    /// A whole request has been written (hyper flushed its buffer) since [`Wait::arm`], and
    /// nothing of its answer has been read yet.
    due: AtomicBool,
    /// The next read may block: set by [`Wait::block_once`] around one poll of the driver.
    block: AtomicBool,
    /// Something was written since the last flush.
    wrote: AtomicBool,
}

impl Wait {
    /// Before a request is handed to hyper: no answer is due yet.
    pub(crate) fn arm(&self) {
        self.due.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
    }

    /// Whether a written request's answer is due and has not been waited for yet; taken once.
    pub(crate) fn take_due(&self) -> bool {
        self.due.swap(false, Ordering::Relaxed)
    }

    /// Runs `poll` (one poll of the connection's driver) with the socket's next read allowed
    /// to block until the answer arrives.
    pub(crate) fn block_once<R>(&self, poll: impl FnOnce() -> R) -> R {
        self.block.store(true, Ordering::Relaxed);
        let out = poll();
        self.block.store(false, Ordering::Relaxed);
        out
    }
}

/// A connected TCP socket for hyper's HTTP/1.1 client.
pub(crate) struct Socket {
    fd: AsyncFd<std::net::TcpStream>,
    wait: Arc<Wait>,
}

impl Socket {
    /// Takes over a connected stream from tokio.
    pub(crate) fn new(stream: tokio::net::TcpStream) -> io::Result<(Socket, Arc<Wait>)> {
        let stream = stream.into_std()?;
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(BLOCKING_WAIT))?;
        // SAFETY: the stream owns its descriptor, which stays open, and the same, for as long
        // as the `AsyncFd` that owns the stream.
        let fd = unsafe {
            AsyncFd::register_with_interest(stream, Interest::READABLE | Interest::WRITABLE)
        }?;
        let wait = Arc::new(Wait::default());
        Ok((
            Socket {
                fd,
                wait: wait.clone(),
            },
            wait,
        ))
    }

    /// One `recv` into `buf`: blocking (within [`BLOCKING_WAIT`]) or not.
    fn recv(&self, buf: &mut [MaybeUninit<u8>], flags: RecvFlags) -> io::Result<usize> {
        rustix::net::recv(self.fd.get_ref().as_fd(), buf, flags)
            .map(|((filled, _), _)| filled.len())
            .map_err(io::Error::from)
    }

    /// A read that put `n` bytes into `buf`. Once part of an answer has come, the rest is read
    /// as it arrives, without blocking: what the next read of hyper's is for (the answer's
    /// rest, or a look for the connection's end once the answer is whole) is hyper's to know.
    fn filled(&self, mut buf: hyper::rt::ReadBufCursor<'_>, n: usize) -> Poll<io::Result<()>> {
        // SAFETY: the `recv` that returned `n` initialised the first `n` bytes of `buf`.
        unsafe { buf.advance(n) };
        if n > 0 {
            self.wait.due.store(false, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }

    fn wrote(&self, n: usize) {
        if n > 0 {
            self.wait.wrote.store(true, Ordering::Relaxed);
        }
    }

    /// A write that does not block, retried when tokio says the socket is writable.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        send: impl Fn(&std::net::TcpStream) -> rustix::io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            match send(self.fd.get_ref()) {
                Ok(n) => {
                    self.wrote(n);
                    return Poll::Ready(Ok(n));
                }
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
    }
}

/// Writes never block and never raise `SIGPIPE` (a closed connection is an error, not a signal).
const SEND: SendFlags = SendFlags::DONTWAIT.union(SendFlags::NOSIGNAL);

impl hyper::rt::Read for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: `recv` only writes into the slice, and `filled` counts no more than it wrote.
        let unfilled = unsafe { buf.as_mut() };
        if self.wait.block.swap(false, Ordering::Relaxed) {
            match self.recv(unfilled, RecvFlags::empty()) {
                Ok(n) => return self.filled(buf, n),
                // Timed out or interrupted by a signal: back to tokio, which waits from here.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            match self.recv(unfilled, RecvFlags::DONTWAIT) {
                Ok(n) => return self.filled(buf, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl hyper::rt::Write for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, |s| rustix::net::send(s, buf, SEND))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, |s| {
            rustix::net::sendmsg(s, bufs, &mut Default::default(), SEND)
        })
    }

    /// hyper flushes once its whole buffer is written: after a write, a request is out and its
    /// answer due.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.wait.wrote.swap(false, Ordering::Relaxed) {
            self.wait.due.store(true, Ordering::Relaxed);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shut = rustix::net::shutdown(self.fd.get_ref(), rustix::net::Shutdown::Write);
        Poll::Ready(shut.map_err(io::Error::from))
    }
}
