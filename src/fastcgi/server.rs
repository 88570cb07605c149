//! Serving: the requests of a connection one at a time, each built and answered by CGI's rules
//! over the connection's streams, and the worker loop that accepts connections.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::conn::{Conn, Event, FcgiSink, StderrWriter, StdinReader, StdoutWriter, lock, readable};
use super::listen::is_tcp;
use super::records::{REQUEST_COMPLETE, RESPONDER, UNKNOWN_ROLE, decode_pairs, push_end_request};
use crate::cgi::{BodyLimits, CgiSink};
use crate::exit::ExitStatus;
use crate::http::{ErrorWriter, Extension, ServerTraits};
use crate::python::{App, Outcome};

/// The most bytes of params a request may have: far beyond what any web server sends for a
/// request within its own header limits (nginx: 4 x 8 KiB by default; Apache: 100 x 8 KiB).
pub(crate) const MAX_PARAMS: usize = 1 << 20;

/// How long a connection is drained before it is closed when the web server may still be
/// sending the body of a request that was answered early: closing with unread data would reset
/// the connection, and the server could lose the answer.
const LINGER: Duration = Duration::from_secs(2);

/// How long a connection just accepted is waited on alone for its first record. A web server
/// connects to send a request, and writes it a moment later (nginx on the socket's first
/// writable event): a connection let go in that moment, because another waits at the listening
/// socket, would be closed on a request it was sent, which the web server reports as a failed
/// upstream (nginx: `502 Bad Gateway`, "recv() failed (104: Connection reset by peer)"). Past
/// this, a connection that has sent nothing is idle like any other.
const FIRST_RECORD: Duration = Duration::from_secs(10);

/// What every request of this process shares.
pub(super) struct Service {
    pub(super) app: App,
    pub(super) limits: BodyLimits,
    pub(super) max_conns: usize,
}

/// How serving a connection ended.
enum ConnEnd {
    /// Closed by the web server, or by rwsgi after a request without FCGI_KEEP_CONN.
    Done,
    /// Closed by rwsgi to stop (SIGTERM, `--max-requests`), or to take another connection.
    Left,
}

/// Serves the requests of one connection, one at a time. `served` counts requests; the
/// connection is left once it reaches `max_requests` (0: no limit) or a stop is requested.
fn serve_connection(
    service: &Service,
    stream: UnixStream,
    listener: BorrowedFd<'_>,
    served: &mut u64,
    max_requests: u64,
) -> io::Result<ConnEnd> {
    // A handle of the connection's own to wait on, without holding the lock while waiting.
    let watch = stream.try_clone()?;
    let conn = Arc::new(Mutex::new(Conn::new(stream, service.max_conns)?));
    let accepted = Instant::now();
    let mut fresh = true;
    loop {
        // Between requests: wait for the next one, but leave when told to stop, or when a new
        // connection waits at the listening socket while this one idles (a web server that
        // keeps connections open must not hold the only worker from its other connections).
        // A connection just accepted is not idle: its first request is on its way.
        loop {
            if crate::workers::stopping() {
                return Ok(ConnEnd::Left);
            }
            if !lock(&conn).reader.buffer().is_empty() {
                break;
            }
            let first_wait = if fresh {
                FIRST_RECORD.checked_sub(accepted.elapsed())
            } else {
                None
            };
            if let Some(left) = first_wait {
                if readable(watch.as_fd(), left.min(Duration::from_millis(1000)))? {
                    break;
                }
                continue;
            }
            match wait_either(watch.as_fd(), listener, Duration::from_millis(1000))? {
                Ready::Conn => break,
                Ready::Listener => return Ok(ConnEnd::Left),
                Ready::Neither => {}
            }
        }
        fresh = false;
        let event = lock(&conn).next()?;
        let (id, role, keep) = match event {
            Event::Closed => return Ok(ConnEnd::Done),
            Event::Begin { id, role, keep } => (id, role, keep),
            _ => continue,
        };
        {
            let mut c = lock(&conn);
            c.active = Some(id);
            c.stdin_done = false;
            c.stdin_buf = Vec::new();
            c.stdin_pos = 0;
            c.aborted = false;
            c.hold = false;
        }
        let app_status = if role == RESPONDER {
            serve_request(service, &conn, id)?
        } else {
            // Section 5.1: a role the application does not play.
            let mut c = lock(&conn);
            c.active = None;
            push_end_request(&mut c.out, id, 0, UNKNOWN_ROLE);
            c.flush_out()?;
            if !keep {
                return Ok(ConnEnd::Done);
            }
            continue;
        };
        let Some(app_status) = app_status else {
            // The connection is unusable (the server went away mid-request).
            return Ok(ConnEnd::Done);
        };
        *served += 1;
        let stdin_done = {
            let mut c = lock(&conn);
            if let Err(e) = c.drain_buffered_stdin() {
                crate::log::error(&format!("FastCGI: request {id}: {e}"));
            }
            c.active = None;
            c.hold = false;
            push_end_request(&mut c.out, id, app_status, REQUEST_COMPLETE);
            c.flush_out()?;
            c.stdin_done
        };
        let last = max_requests > 0 && *served >= max_requests;
        if !keep || last || crate::workers::stopping() {
            if !stdin_done {
                linger(&conn);
            }
            return Ok(if keep { ConnEnd::Left } else { ConnEnd::Done });
        }
    }
}

enum Ready {
    Conn,
    Listener,
    Neither,
}

fn wait_either(
    conn: BorrowedFd<'_>,
    listener: BorrowedFd<'_>,
    timeout: Duration,
) -> io::Result<Ready> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut fds = [
        PollFd::new(&conn, PollFlags::IN),
        PollFd::new(&listener, PollFlags::IN),
    ];
    let timeout = Timespec::try_from(timeout).ok();
    match poll(&mut fds, timeout.as_ref()) {
        Ok(_) => {}
        Err(rustix::io::Errno::INTR) => return Ok(Ready::Neither),
        Err(e) => return Err(e.into()),
    }
    Ok(if !fds[0].revents().is_empty() {
        Ready::Conn
    } else if !fds[1].revents().is_empty() {
        Ready::Listener
    } else {
        Ready::Neither
    })
}

/// Stops writing, then reads and drops what the web server still sends, for at most
/// [`LINGER`], so that closing does not reset a connection with unread bytes.
fn linger(conn: &Mutex<Conn>) {
    let c = lock(conn);
    let _ = c.writer.shutdown(std::net::Shutdown::Write);
    let Ok(mut watch) = c.writer.try_clone() else {
        return;
    };
    drop(c);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 16 << 10];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match readable(watch.as_fd(), left) {
            Ok(true) => {}
            _ => return,
        }
        if !matches!(watch.read(&mut sink), Ok(n) if n > 0) {
            return;
        }
    }
}

/// Serves one Responder request whose FCGI_BEGIN_REQUEST has been read. Returns the app
/// status for FCGI_END_REQUEST, or `None` when the connection can no longer be used.
fn serve_request(service: &Service, conn: &Arc<Mutex<Conn>>, id: u16) -> io::Result<Option<u32>> {
    let (params, oversized) = match read_params(conn, id) {
        Ok(params) => params,
        Err(end) => return Ok(end),
    };
    let stderr = ErrorWriter(Arc::new(Mutex::new(StderrWriter {
        conn: conn.clone(),
        id,
    })));
    let sink = Arc::new(Mutex::new(FcgiSink {
        cgi: CgiSink::new(StdoutWriter {
            conn: conn.clone(),
            id,
        }),
        conn: conn.clone(),
    }));
    // RFC 3875 section 4.3.2, as under CGI: no body in reply to HEAD, rwsgi's own answers
    // included.
    let send_error = |code: u16, reason: &str, head_request: bool| {
        let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
        crate::http::send_error(&mut *s, code, reason, head_request)
    };
    let _log = LogToStderrRecords::install(stderr.clone());

    if oversized {
        crate::log::error(&format!(
            "answering 431 Request Header Fields Too Large: the request's params are larger \
             than {MAX_PARAMS} bytes"
        ));
        return finish_early(send_error(431, "Request Header Fields Too Large", false), 0);
    }
    let Some(vars) = decode_pairs(&params) else {
        crate::log::error(
            "answering 500 Internal Server Error: the web server sent malformed FastCGI params \
             (a name or value runs past the end of the stream)",
        );
        return finish_early(send_error(500, "Internal Server Error", false), 1);
    };
    drop(params);
    let head_request = vars.iter().any(|(k, v)| {
        k == b"REQUEST_METHOD" && crate::python::is_head(&crate::http::latin1_string(v))
    });

    let built = crate::cgi::build_request(&vars, &mut StdinReader(conn), &service.limits);
    drop(vars);
    let mut request = match built {
        Ok(r) => r,
        Err(rejection) => {
            return rejected(conn, id, rejection, |code, reason| {
                send_error(code, reason, head_request)
            });
        }
    };
    // PEP 3333: one request at a time per process, many processes, and the process serves on.
    request.traits = ServerTraits {
        multithread: false,
        multiprocess: true,
        run_once: false,
    };
    request
        .extensions
        .push(("wsgi.errors".into(), Extension::Errors(stderr)));

    let outcome = service.app.call(request, sink.clone());
    Ok(app_status(conn, id, outcome))
}

/// Reads FCGI_PARAMS to its empty record: the params, and whether they were over
/// [`MAX_PARAMS`] (then dropped). `Err` holds what [`serve_request`] returns when the request
/// ends before its params do.
fn read_params(conn: &Mutex<Conn>, id: u16) -> Result<(Vec<u8>, bool), Option<u32>> {
    let mut params = Vec::new();
    let mut oversized = false;
    loop {
        let event = lock(conn).next();
        match event {
            Ok(Event::Params(data)) if data.is_empty() => break,
            Ok(Event::Params(data)) => {
                if params.len() + data.len() > MAX_PARAMS {
                    oversized = true;
                    params = Vec::new();
                }
                if !oversized {
                    params.extend_from_slice(&data);
                }
            }
            Ok(Event::Abort) => {
                crate::log::info(&format!(
                    "FastCGI: request {id} was aborted by the web server before it started"
                ));
                return Err(Some(0));
            }
            Ok(Event::Closed) => {
                crate::log::error(&format!(
                    "FastCGI: the web server closed the connection while sending the params of \
                     request {id}"
                ));
                return Err(None);
            }
            Ok(Event::Stdin(_)) => {
                crate::log::error(&format!(
                    "FastCGI: request {id} sent FCGI_STDIN before its params ended; closing the \
                     connection"
                ));
                return Err(None);
            }
            Ok(_) => {}
            Err(e) => {
                crate::log::error(&format!(
                    "FastCGI: request {id}: {e}; closing the connection"
                ));
                return Err(None);
            }
        }
    }
    Ok((params, oversized))
}

/// A request that CGI's rules refused: a body that could not be read ends the request (the web
/// server aborted it) or the connection; any other refusal is answered with its status.
fn rejected(
    conn: &Mutex<Conn>,
    id: u16,
    rejection: crate::cgi::Rejection,
    send_error: impl Fn(u16, &str) -> io::Result<()>,
) -> io::Result<Option<u32>> {
    if let crate::cgi::Rejection::Read(e) = &rejection {
        let aborted = lock(conn).aborted;
        if aborted {
            crate::log::info(&format!(
                "FastCGI: request {id} was aborted by the web server while its body \
                 arrived"
            ));
            return Ok(Some(0));
        }
        crate::log::error(&format!("FastCGI: request {id}: {e}"));
        return Ok(None);
    }
    let (code, reason) = rejection.status();
    crate::log::error(&format!("answering {code} {reason}: {rejection}"));
    finish_early(send_error(code, reason), 0)
}

/// The app status for FCGI_END_REQUEST once the app has answered, or `None` when the
/// connection can no longer be used.
fn app_status(conn: &Mutex<Conn>, id: u16, outcome: Outcome) -> Option<u32> {
    match outcome {
        Outcome::Complete | Outcome::FailedBeforeHeaders => Some(0),
        Outcome::FailedAfterHeaders | Outcome::Interrupted => Some(1),
        Outcome::SinkFailed(e) => {
            let aborted = lock(conn).aborted;
            if aborted {
                crate::log::info(&format!(
                    "FastCGI: request {id} was aborted by the web server; the response was cut \
                     short"
                ));
                // The connection is in order: the request ends as section 5.4 asks.
                lock(conn).out.clear();
                Some(1)
            } else {
                crate::log::error(&format!(
                    "cannot write the response of request {id} (did the client go away?): {e}"
                ));
                None
            }
        }
    }
}

/// The end of a request answered without the app.
fn finish_early(sent: io::Result<()>, status: u32) -> io::Result<Option<u32>> {
    match sent {
        Ok(()) => Ok(Some(status)),
        Err(e) => {
            crate::log::error(&format!("cannot send the answer: {e}"));
            Ok(None)
        }
    }
}

/// While it lives, rwsgi's log lines go to the request's FCGI_STDERR.
struct LogToStderrRecords;

impl LogToStderrRecords {
    fn install(writer: ErrorWriter) -> LogToStderrRecords {
        crate::log::set_request_writer(Some(writer));
        LogToStderrRecords
    }
}

impl Drop for LogToStderrRecords {
    fn drop(&mut self) {
        crate::log::set_request_writer(None);
    }
}

/// One worker: accept a connection, serve it, until stopped or `max_requests` are served.
pub(super) fn worker_loop(
    service: &Service,
    listener: BorrowedFd<'_>,
    max_requests: u64,
) -> ExitStatus {
    let mut served = 0u64;
    let tcp = is_tcp(listener);
    loop {
        if crate::workers::stopping() || (max_requests > 0 && served >= max_requests) {
            return ExitStatus::Success;
        }
        let fd = match rustix::net::accept_with(listener, rustix::net::SocketFlags::CLOEXEC) {
            Ok(fd) => fd,
            Err(e) => {
                use rustix::io::Errno;
                match e {
                    // The receive timeout, a signal, or a client that left before it was
                    // accepted.
                    Errno::AGAIN | Errno::INTR | Errno::CONNABORTED => continue,
                    // Out of descriptors or memory for a moment: wait rather than spin.
                    Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM => {
                        crate::log::error(&format!("FastCGI: cannot accept a connection: {e}"));
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    _ => {
                        crate::log::error(&format!("FastCGI: cannot accept connections: {e}"));
                        return ExitStatus::Failure;
                    }
                }
            }
        };
        // Any stream socket reads and writes the same way; UnixStream is the std type with
        // `shutdown` that takes one without asking its family. TCP_NODELAY for TCP, so that
        // the last small record of a response does not wait for an acknowledgement.
        if tcp {
            let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
        }
        let stream = UnixStream::from(fd);
        match serve_connection(service, stream, listener, &mut served, max_requests) {
            Ok(_) => {}
            Err(e) => crate::log::error(&format!(
                "FastCGI: the connection ended: {e}; waiting for the next one"
            )),
        }
    }
}
