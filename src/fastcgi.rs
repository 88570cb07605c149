//! FastCGI mode (the FastCGI Specification 1.0,
//! <https://fastcgi-archives.github.io/FastCGI_Specification.html>): the app is imported once,
//! then each request arrives as records on a connection. FastCGI params are CGI meta-variables
//! and FCGI_STDIN is CGI's stdin, so a request is built by CGI's own rules
//! ([`crate::cgi::build_request`]) and answered through CGI's sink ([`crate::cgi::CgiSink`]),
//! whose bytes travel as FCGI_STDOUT records.
//!
//! The record layer is rwsgi's own. The crates were weighed and set aside:
//! - `tokio-fastcgi` 1.3 builds each request whole in memory before handing it over ("Requests
//!   are built in memory": no body streaming, no spooling, no size limit), answers
//!   FCGI_MPXS_CONNS with 1 whatever the application can do, only drops an aborted request that
//!   has not started (an FCGI_ABORT_REQUEST for the request being served never reaches it), and
//!   keys params by `String` in a `HashMap` (order lost);
//! - `fastcgi` 1.0 (2016) runs a thread per connection inside its own accept loop, `assert!`s on
//!   short reads (a peer that vanishes panics the process) and reads params as `String`;
//! - `gfcgi` 0.4 decodes params lossily as UTF-8 and is unmaintained.
//!
//! The protocol is small (eight record types, one header layout), and rwsgi needs control of
//! exactly the parts those crates get wrong: the body streamed from the socket into CGI's
//! spooling, aborts seen while the app is answering, and one request at a time per process.
//!
//! Process shape: one listening socket (fd 0 from the web server, `--bind`, or systemd's fd 3),
//! shared by the workers of [`crate::workers`]; each worker accepts a connection and serves its
//! requests one at a time, so it says so in FCGI_GET_VALUES (FCGI_MPXS_CONNS 0). A worker has
//! nothing to do while the app runs but watch its one connection, so its I/O is plain blocking
//! reads and writes with `poll` where it must wait for two things (its connection and the
//! listening socket, or a signal): an async runtime would add a layer and buy nothing here.

use std::ffi::OsString;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cgi::{BodyLimits, CgiSink};
use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::http::{ErrorWriter, Extension, ResponseHead, ResponseSink, ServerTraits};
use crate::python::{App, Outcome};

// Record types and constants, section 8 of the specification.
const VERSION_1: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const ABORT_REQUEST: u8 = 2;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
const DATA: u8 = 8;
const GET_VALUES: u8 = 9;
const GET_VALUES_RESULT: u8 = 10;
const UNKNOWN_TYPE: u8 = 11;

const KEEP_CONN: u8 = 1;
const RESPONDER: u16 = 1;

const REQUEST_COMPLETE: u8 = 0;
const CANT_MPX_CONN: u8 = 1;
const UNKNOWN_ROLE: u8 = 3;

/// The most content bytes one record carries while keeping records on 8-byte boundaries
/// (section 3.3 recommends padding to a multiple of eight).
const MAX_CONTENT: usize = 65528;

/// The most bytes of params a request may have: far beyond what any web server sends for a
/// request within its own header limits (nginx: 4 x 8 KiB by default; Apache: 100 x 8 KiB).
pub const MAX_PARAMS: usize = 1 << 20;

/// Responses of a known length up to this size go out in one write with their
/// FCGI_END_REQUEST: the whole body is at hand, so holding it back costs no streaming.
const HOLD_LIMIT: usize = 64 << 10;

/// How often a streaming response looks for an FCGI_ABORT_REQUEST (or a closed connection)
/// between its chunks.
const ABORT_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// How long a connection is drained before it is closed when the web server may still be
/// sending the body of a request that was answered early: closing with unread data would reset
/// the connection, and the server could lose the answer.
const LINGER: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------
// Records

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    kind: u8,
    id: u16,
    content: Vec<u8>,
}

/// Appends one record, padded to a multiple of eight bytes. `content` is at most 65535 bytes.
fn push_record(out: &mut Vec<u8>, kind: u8, id: u16, content: &[u8]) {
    debug_assert!(content.len() <= u16::MAX as usize);
    let padding = (8 - content.len() % 8) % 8;
    let [id1, id0] = id.to_be_bytes();
    let [len1, len0] = (content.len() as u16).to_be_bytes();
    out.extend_from_slice(&[VERSION_1, kind, id1, id0, len1, len0, padding as u8, 0]);
    out.extend_from_slice(content);
    out.extend_from_slice(&[0u8; 8][..padding]);
}

/// Appends a stream's bytes as as many records as they need.
fn push_stream(out: &mut Vec<u8>, kind: u8, id: u16, mut data: &[u8]) {
    while !data.is_empty() {
        let n = data.len().min(MAX_CONTENT);
        push_record(out, kind, id, &data[..n]);
        data = &data[n..];
    }
}

fn push_end_request(out: &mut Vec<u8>, id: u16, app_status: u32, protocol_status: u8) {
    let mut body = [0u8; 8];
    body[..4].copy_from_slice(&app_status.to_be_bytes());
    body[4] = protocol_status;
    push_record(out, END_REQUEST, id, &body);
}

/// Section 3.4: a length below 128 is one byte; otherwise four, the high bit set.
fn push_length(out: &mut Vec<u8>, n: usize) {
    if n < 128 {
        out.push(n as u8);
    } else {
        out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
    }
}

/// Encodes name-value pairs (section 3.4).
fn encode_pairs(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in pairs {
        push_length(&mut out, name.len());
        push_length(&mut out, value.len());
        out.extend_from_slice(name);
        out.extend_from_slice(value);
    }
    out
}

/// Decodes name-value pairs (section 3.4); `None` when a length runs past the end.
fn decode_pairs(mut data: &[u8]) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    fn length(data: &mut &[u8]) -> Option<usize> {
        let first = *data.first()?;
        if first < 128 {
            *data = &data[1..];
            return Some(first as usize);
        }
        let bytes: [u8; 4] = data.get(..4)?.try_into().ok()?;
        *data = &data[4..];
        Some((u32::from_be_bytes(bytes) & 0x7fff_ffff) as usize)
    }
    let mut pairs = Vec::new();
    while !data.is_empty() {
        let name_len = length(&mut data)?;
        let value_len = length(&mut data)?;
        if data.len() < name_len.checked_add(value_len)? {
            return None;
        }
        let (name, rest) = data.split_at(name_len);
        let (value, rest) = rest.split_at(value_len);
        pairs.push((name.to_vec(), value.to_vec()));
        data = rest;
    }
    Some(pairs)
}

// ---------------------------------------------------------------------------------------------
// A connection

/// What one record meant for the request being served.
#[derive(Debug)]
enum Event {
    /// The web server closed the connection between records.
    Closed,
    /// A record that needed no more than what [`Conn::next`] did about it.
    Handled,
    Begin {
        id: u16,
        role: u16,
        keep: bool,
    },
    Params(Vec<u8>),
    Stdin(Vec<u8>),
    Abort,
}

/// Why a connection could not go on.
fn malformed(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// Records waiting to be written.
    out: Vec<u8>,
    /// Hold the output back until the request ends (a short response of known length).
    hold: bool,
    /// The request being served, and whether the server asked to keep the connection.
    active: Option<u16>,
    /// The active request's FCGI_STDIN has ended (its empty record came).
    stdin_done: bool,
    /// FCGI_STDIN bytes read but not yet consumed.
    stdin_buf: Vec<u8>,
    stdin_pos: usize,
    /// The web server sent FCGI_ABORT_REQUEST for the active request.
    aborted: bool,
    /// FCGI_MAX_CONNS and FCGI_MAX_REQS.
    max_conns: usize,
    last_abort_check: Instant,
}

impl Conn {
    fn new(stream: UnixStream, max_conns: usize) -> io::Result<Conn> {
        let writer = stream.try_clone()?;
        Ok(Conn {
            reader: BufReader::with_capacity(64 << 10, stream),
            writer,
            out: Vec::with_capacity(8 << 10),
            hold: false,
            active: None,
            stdin_done: false,
            stdin_buf: Vec::new(),
            stdin_pos: 0,
            aborted: false,
            max_conns,
            last_abort_check: Instant::now(),
        })
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.writer.as_fd()
    }

    /// Writes what is waiting.
    fn flush_out(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = self.writer.write_all(&self.out);
        self.out.clear();
        result
    }

    /// Reads one record; `None` when the connection ends cleanly before a record starts.
    fn read_record(&mut self) -> io::Result<Option<Record>> {
        let mut header = [0u8; 8];
        // A clean end is an end before the first byte of a header.
        let mut got = 0;
        while got < header.len() {
            match self.reader.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the web server closed the connection in the middle of a record",
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        if header[0] != VERSION_1 {
            return Err(malformed(format!(
                "a record of FastCGI version {} (only version 1 exists)",
                header[0]
            )));
        }
        let kind = header[1];
        let id = u16::from_be_bytes([header[2], header[3]]);
        let len = u16::from_be_bytes([header[4], header[5]]) as usize;
        let padding = header[6] as usize;
        let mut content = vec![0u8; len + padding];
        self.reader.read_exact(&mut content).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the web server closed the connection in the middle of a record",
                )
            } else {
                e
            }
        })?;
        content.truncate(len);
        Ok(Some(Record { kind, id, content }))
    }

    /// Reads the next record and does what it asks that needs no request: management records
    /// (section 4) are answered here, records of requests that are not active are ignored
    /// (section 3.3), and a second request on the connection is refused (FCGI_CANT_MPX_CONN,
    /// section 5.5: rwsgi serves one request at a time).
    fn next(&mut self) -> io::Result<Event> {
        let Some(record) = self.read_record()? else {
            return Ok(Event::Closed);
        };
        if record.id == 0 {
            self.management(&record);
            self.flush_out()?;
            return Ok(Event::Handled);
        }
        let active = self.active == Some(record.id);
        match record.kind {
            BEGIN_REQUEST => {
                if self.active.is_some() {
                    push_end_request(&mut self.out, record.id, 0, CANT_MPX_CONN);
                    self.flush_out()?;
                    return Ok(Event::Handled);
                }
                if record.content.len() < 3 {
                    return Err(malformed(
                        "an FCGI_BEGIN_REQUEST record shorter than its body",
                    ));
                }
                Ok(Event::Begin {
                    id: record.id,
                    role: u16::from_be_bytes([record.content[0], record.content[1]]),
                    keep: record.content[2] & KEEP_CONN != 0,
                })
            }
            ABORT_REQUEST if active => {
                self.aborted = true;
                Ok(Event::Abort)
            }
            PARAMS if active => Ok(Event::Params(record.content)),
            STDIN if active => Ok(Event::Stdin(record.content)),
            // A Responder has no FCGI_DATA stream; records for requests that ended are ignored.
            ABORT_REQUEST | PARAMS | STDIN | DATA => Ok(Event::Handled),
            other => {
                crate::log::warn(&format!(
                    "FastCGI: ignoring a record of unknown type {other} for request {}",
                    record.id
                ));
                Ok(Event::Handled)
            }
        }
    }

    /// Section 4.1: FCGI_GET_VALUES is answered with the values rwsgi knows, others left out;
    /// section 4.2: any other management record gets FCGI_UNKNOWN_TYPE.
    fn management(&mut self, record: &Record) {
        if record.kind != GET_VALUES {
            let mut body = [0u8; 8];
            body[0] = record.kind;
            push_record(&mut self.out, UNKNOWN_TYPE, 0, &body);
            return;
        }
        let max = self.max_conns.to_string();
        let mut answers: Vec<(&[u8], &[u8])> = Vec::new();
        for (name, _) in decode_pairs(&record.content).unwrap_or_default() {
            let value: &[u8] = match name.as_slice() {
                b"FCGI_MAX_CONNS" | b"FCGI_MAX_REQS" => max.as_bytes(),
                b"FCGI_MPXS_CONNS" => b"0",
                _ => continue,
            };
            let name: &[u8] = match name.as_slice() {
                b"FCGI_MAX_CONNS" => b"FCGI_MAX_CONNS",
                b"FCGI_MAX_REQS" => b"FCGI_MAX_REQS",
                _ => b"FCGI_MPXS_CONNS",
            };
            answers.push((name, value));
        }
        let body = encode_pairs(&answers);
        push_record(&mut self.out, GET_VALUES_RESULT, 0, &body);
    }

    /// Reads the active request's FCGI_STDIN into `buf`; 0 at its end.
    fn read_stdin(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.stdin_pos < self.stdin_buf.len() {
                let n = buf.len().min(self.stdin_buf.len() - self.stdin_pos);
                buf[..n].copy_from_slice(&self.stdin_buf[self.stdin_pos..self.stdin_pos + n]);
                self.stdin_pos += n;
                return Ok(n);
            }
            if self.stdin_done || self.aborted {
                return if self.aborted { Err(aborted()) } else { Ok(0) };
            }
            match self.next()? {
                Event::Stdin(data) if data.is_empty() => self.stdin_done = true,
                Event::Stdin(data) => {
                    self.stdin_buf = data;
                    self.stdin_pos = 0;
                }
                Event::Abort => return Err(aborted()),
                Event::Closed => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the web server closed the connection in the middle of the request body",
                    ));
                }
                Event::Params(_) => {
                    return Err(malformed("FCGI_PARAMS records after the params ended"));
                }
                Event::Handled | Event::Begin { .. } => {}
            }
        }
    }

    /// Reads what is already buffered of the active request's FCGI_STDIN, up to its end: a
    /// request whose body the app left unread (a GET, whose empty FCGI_STDIN usually comes in
    /// the same packet as its params) then needs no lingering close.
    fn drain_buffered_stdin(&mut self) -> io::Result<()> {
        while !self.stdin_done && !self.reader.buffer().is_empty() {
            if let Event::Stdin(data) = self.next()?
                && data.is_empty()
            {
                self.stdin_done = true;
            }
        }
        Ok(())
    }

    /// While a response streams: whether the web server aborted the request or went away.
    /// Looks at most every [`ABORT_CHECK_INTERVAL`], and only reads when bytes are waiting.
    fn check_abort(&mut self) -> io::Result<()> {
        if self.last_abort_check.elapsed() < ABORT_CHECK_INTERVAL {
            return Ok(());
        }
        self.last_abort_check = Instant::now();
        loop {
            if self.reader.buffer().is_empty() && !readable(self.fd(), Duration::ZERO)? {
                return Ok(());
            }
            match self.next()? {
                Event::Abort => return Err(aborted()),
                Event::Closed => {
                    return Err(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the web server closed the connection",
                    ));
                }
                Event::Stdin(data) if data.is_empty() => self.stdin_done = true,
                // The rest of a body the app did not read, past CONTENT_LENGTH.
                _ => {}
            }
        }
    }
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the web server aborted the request (FCGI_ABORT_REQUEST)",
    )
}

/// Whether `fd` has bytes (or an end) to read within `timeout_ms`.
fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = Timespec::try_from(timeout).ok();
    match poll(&mut [PollFd::new(&fd, PollFlags::IN)], timeout.as_ref()) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn lock(conn: &Mutex<Conn>) -> MutexGuard<'_, Conn> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// The request body as CGI's request builder reads it.
struct StdinReader<'a>(&'a Mutex<Conn>);

impl Read for StdinReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        lock(self.0).read_stdin(buf)
    }
}

/// FCGI_STDOUT: what CGI's sink writes, as records.
struct StdoutWriter {
    conn: Arc<Mutex<Conn>>,
    id: u16,
}

impl Write for StdoutWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut c = lock(&self.conn);
        push_stream(&mut c.out, STDOUT, self.id, data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut c = lock(&self.conn);
        if c.hold && c.out.len() <= HOLD_LIMIT {
            return Ok(());
        }
        c.check_abort()?;
        c.flush_out()
    }
}

/// FCGI_STDERR: the app's `wsgi.errors`, and rwsgi's own log lines about the request, which so
/// land in the web server's error log beside the request they concern. Once the request has
/// ended, text goes to rwsgi's own stderr.
struct StderrWriter {
    conn: Arc<Mutex<Conn>>,
    id: u16,
}

impl Write for StderrWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Not `lock`: rwsgi may log while this thread holds the connection (about a record it
        // is reading); that line goes to stderr rather than waiting on itself.
        let mut c = match self.conn.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return io::stderr().write(data),
        };
        if c.active != Some(self.id) {
            drop(c);
            return io::stderr().write(data);
        }
        push_stream(&mut c.out, STDERR, self.id, data);
        if !c.hold {
            c.flush_out()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// CGI's sink over FCGI_STDOUT, holding back a short response of known length so that it
/// leaves in one write with the end of the request.
struct FcgiSink {
    cgi: CgiSink<StdoutWriter>,
    conn: Arc<Mutex<Conn>>,
}

impl ResponseSink for FcgiSink {
    fn send_head(&mut self, head: &ResponseHead, body_len: Option<u64>) -> io::Result<()> {
        if body_len.is_some_and(|n| n <= HOLD_LIMIT as u64) {
            lock(&self.conn).hold = true;
        }
        self.cgi.send_head(head, body_len)
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.cgi.send_body(chunk)
    }
}

// ---------------------------------------------------------------------------------------------
// Serving

/// What every request of this process shares.
struct Service {
    app: App,
    limits: BodyLimits,
    max_conns: usize,
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
    loop {
        // Between requests: wait for the next one, but leave when told to stop, or when a new
        // connection waits at the listening socket while this one idles (a web server that
        // keeps connections open must not hold the only worker from its other connections).
        loop {
            if crate::workers::stopping() {
                return Ok(ConnEnd::Left);
            }
            if !lock(&conn).reader.buffer().is_empty() {
                break;
            }
            match wait_either(watch.as_fd(), listener, Duration::from_secs(1))? {
                Ready::Conn => break,
                Ready::Listener => return Ok(ConnEnd::Left),
                Ready::Neither => {}
            }
        }
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
    // FCGI_PARAMS, to its empty record.
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
                return Ok(Some(0));
            }
            Ok(Event::Closed) => {
                crate::log::error(&format!(
                    "FastCGI: the web server closed the connection while sending the params of \
                     request {id}"
                ));
                return Ok(None);
            }
            Ok(Event::Stdin(_)) => {
                crate::log::error(&format!(
                    "FastCGI: request {id} sent FCGI_STDIN before its params ended; closing the \
                     connection"
                ));
                return Ok(None);
            }
            Ok(_) => {}
            Err(e) => {
                crate::log::error(&format!(
                    "FastCGI: request {id}: {e}; closing the connection"
                ));
                return Ok(None);
            }
        }
    }
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
        let (head, body) = ResponseHead::error(code, reason);
        let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
        s.send_head(&head, Some(body.len() as u64)).and_then(|()| {
            if head_request {
                Ok(())
            } else {
                s.send_body(&body)
            }
        })
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
            return finish_early(send_error(code, reason, head_request), 0);
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
    Ok(match outcome {
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
    })
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

// ---------------------------------------------------------------------------------------------
// Listening

/// Where the listening socket comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// `unix:/run/app.sock`
    Unix(PathBuf),
    /// `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000`
    Tcp(String),
}

impl Bind {
    pub fn parse(text: &str) -> std::result::Result<Bind, String> {
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
struct Listener {
    fd: OwnedFd,
    /// The socket file rwsgi created, removed when the pool stops.
    unix_path: Option<PathBuf>,
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

/// Whether `fd` is a listening socket: how a FastCGI application tells that the web server
/// started it (section 2.2: FCGI_LISTENSOCK_FILENO, fd 0, "refers to a listening socket";
/// `getpeername` fails with ENOTCONN on it).
pub fn is_listening_socket(fd: BorrowedFd<'_>) -> bool {
    if let Ok(listening) = rustix::net::sockopt::socket_acceptconn(fd) {
        return listening;
    }
    // Systems without SO_ACCEPTCONN: the specification's own test.
    rustix::net::getpeername(fd) == Err(rustix::io::Errno::NOTCONN)
}

/// Whether a socket is an IPv4 or IPv6 one.
fn is_tcp(fd: BorrowedFd<'_>) -> bool {
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

// ---------------------------------------------------------------------------------------------
// The mode

/// Serve a WSGI app over FastCGI: for nginx's fastcgi_pass, systemd socket units, or any
/// FastCGI web server.
#[derive(Parser, Debug)]
#[command(name = "rwsgi fastcgi", version = crate::VERSION)]
struct FastcgiArgs {
    /// The app's script (a .wsgi or .py file), as an alternative to --app.
    #[arg(value_name = "SCRIPT")]
    script: Option<PathBuf>,
    /// The app (default: $RWSGI_APP).
    #[arg(long, value_name = "SPEC")]
    app: Option<String>,
    /// A virtualenv to import from (default: $RWSGI_VENV, else $VIRTUAL_ENV, else a .venv
    /// beside the script).
    #[arg(long, value_name = "DIR")]
    venv: Option<PathBuf>,
    /// Where to listen: unix:/path/to.sock or HOST:PORT. Without it: the socket systemd passes
    /// (LISTEN_FDS), else fd 0 when the web server started rwsgi with a listening socket there.
    #[arg(long, value_name = "ADDRESS")]
    bind: Option<String>,
    /// How many worker processes serve requests, each one at a time (default: $RWSGI_WORKERS,
    /// else 1 when the web server started rwsgi, else the number of CPUs).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// A worker is replaced after this many requests; 0 for never (default:
    /// $RWSGI_MAX_REQUESTS, else 0).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// The listening socket's backlog (default: $RWSGI_BACKLOG, else 1024).
    #[arg(long, value_name = "N")]
    backlog: Option<i32>,
}

/// A number from the environment, or a usage error naming the variable.
fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>> {
    match crate::env_nonempty(name) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::Usage(format!("{name}={text:?} is not a whole number"))),
    }
}

/// `rwsgi fastcgi [OPTIONS] [SCRIPT]`, or rwsgi started by a web server with a listening socket
/// on fd 0 (`server_started`; `script` is the drop-in script the kernel named, and the options
/// come from the environment, as a web server passes no arguments).
pub fn main(
    script: Option<PathBuf>,
    args: Vec<OsString>,
    server_started: bool,
) -> Result<ExitStatus> {
    let args = if server_started {
        FastcgiArgs {
            script,
            app: None,
            venv: None,
            bind: None,
            workers: None,
            max_requests: None,
            backlog: None,
        }
    } else {
        match crate::cli::parse_args::<FastcgiArgs>("rwsgi fastcgi", args) {
            Ok(a) => a,
            Err(code) => return Ok(ExitStatus::from_code(code)),
        }
    };
    let workers = match args.workers {
        Some(n) => n,
        None => match env_number::<usize>("RWSGI_WORKERS")? {
            Some(n) => n,
            // A web server that starts FastCGI programs runs as many as it wants itself.
            None if server_started => 1,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    };
    if workers == 0 {
        return Err(Error::Usage("--workers must be at least 1".into()));
    }
    let max_requests = match args.max_requests {
        Some(n) => n,
        None => env_number("RWSGI_MAX_REQUESTS")?.unwrap_or(0),
    };
    let backlog = match args.backlog {
        Some(n) => n,
        None => env_number("RWSGI_BACKLOG")?.unwrap_or(1024),
    };
    if backlog < 1 {
        return Err(Error::Usage("--backlog must be at least 1".into()));
    }
    let limits = BodyLimits::from_env()?;

    // The socket first: a mistake there is reported before the app's import time is spent.
    let listener = match (&args.bind, server_started) {
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
    // The workers wait in a blocking accept, which the kernel wakes one waiter at a time for
    // (no herd of workers woken for each connection); a receive timeout makes accept return
    // every second, and SIGTERM interrupts it (no SA_RESTART), so a worker notices that it
    // should stop either way.
    {
        use rustix::fs::{OFlags, fcntl_getfl, fcntl_setfl};
        let fd = listener.fd.as_fd();
        if let Ok(flags) = fcntl_getfl(fd) {
            let _ = fcntl_setfl(fd, flags - OFlags::NONBLOCK);
        }
        let _ = rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::CLOEXEC);
        let _ = rustix::net::sockopt::set_socket_timeout(
            fd,
            rustix::net::sockopt::Timeout::Recv,
            Some(Duration::from_secs(1)),
        );
    }
    // What the app prints goes to the log, never into a socket (fd 0 and 1 are not the
    // response here, but fd 1 may be anything the server left there).
    let _ = rustix::stdio::dup2_stdout(io::stderr());

    // The current folder, as for `rwsgi call` and other WSGI servers: `rwsgi fastcgi --app
    // myproject.wsgi:application` started in the project's folder finds it. (A web server starts
    // a script in its own folder, which is first on the path anyway.)
    let base_dirs = vec![PathBuf::from(".")];
    let app =
        match crate::cgi::load_script_app(args.script.as_deref(), args.app, args.venv, base_dirs) {
            Ok(app) => app,
            Err(e) => {
                crate::log::error(&e.to_string());
                return Ok(ExitStatus::from(&e));
            }
        };
    let service = Service {
        app,
        limits,
        max_conns: workers,
    };
    let listen_fd = listener.fd.as_fd();
    let config = crate::workers::PoolConfig {
        workers,
        replace: true,
        name: "FastCGI worker",
    };
    let result = crate::workers::run(&config, |_worker| {
        worker_loop(&service, listen_fd, max_requests)
    });
    if let Some(path) = &listener.unix_path {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// One worker: accept a connection, serve it, until stopped or `max_requests` are served.
fn worker_loop(service: &Service, listener: BorrowedFd<'_>, max_requests: u64) -> ExitStatus {
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

/// The drop-in script of a server-started process, when argv[1] names one.
pub fn script_from(args: &[OsString]) -> Option<PathBuf> {
    args.first()
        .map(PathBuf::from)
        .filter(|p| Path::new(p).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let mut out = Vec::new();
        push_record(&mut out, STDOUT, 258, b"hello");
        assert_eq!(
            out,
            [
                1, STDOUT, 1, 2, 0, 5, 3, 0, b'h', b'e', b'l', b'l', b'o', 0, 0, 0
            ]
        );
        let mut out = Vec::new();
        push_stream(&mut out, STDOUT, 1, &vec![7u8; MAX_CONTENT + 10]);
        // Two records: a full one, then ten bytes padded to sixteen.
        assert_eq!(out.len(), 8 + MAX_CONTENT + 8 + 16);
        let mut out = Vec::new();
        push_end_request(&mut out, 1, 258, UNKNOWN_ROLE);
        assert_eq!(out, [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 1, 2, 3, 0, 0, 0]);
    }

    #[test]
    fn name_value_pairs() {
        let long = vec![b'v'; 300];
        let encoded = encode_pairs(&[(b"A", b"1"), (b"LONG", &long), (b"", b"")]);
        assert_eq!(&encoded[..4], [1, 1, b'A', b'1']);
        // 300 needs the four-byte form.
        assert_eq!(&encoded[4..9], [4, 0x80, 0, 1, 44]);
        assert_eq!(
            decode_pairs(&encoded).unwrap(),
            vec![
                (b"A".to_vec(), b"1".to_vec()),
                (b"LONG".to_vec(), long.clone()),
                (Vec::new(), Vec::new())
            ]
        );
        // Lengths that run past the end.
        assert_eq!(decode_pairs(&[5, 1, b'A']), None);
        assert_eq!(decode_pairs(&[0x80, 0]), None);
        assert_eq!(
            decode_pairs(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            None
        );
    }

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
