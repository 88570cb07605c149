//! One FastCGI connection: records read into what they mean for the request being served, its
//! FCGI_STDIN as a reader, FCGI_STDOUT and FCGI_STDERR as writers, and aborts seen while the app
//! answers.

use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::records::*;
use crate::cgi::CgiSink;
use crate::http::{ResponseHead, ResponseSink};

/// Responses of a known length up to this size go out in one write with their
/// FCGI_END_REQUEST: the whole body is at hand, so holding it back costs no streaming.
const HOLD_LIMIT: usize = 64 << 10;

/// How often a streaming response looks for an FCGI_ABORT_REQUEST (or a closed connection)
/// between its chunks.
const ABORT_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// What one record meant for the request being served.
#[derive(Debug)]
pub(super) enum Event {
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
pub(super) fn malformed(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

pub(super) struct Conn {
    pub(super) reader: BufReader<UnixStream>,
    pub(super) writer: UnixStream,
    /// Records waiting to be written.
    pub(super) out: Vec<u8>,
    /// Hold the output back until the request ends (a short response of known length).
    pub(super) hold: bool,
    /// The request being served, and whether the server asked to keep the connection.
    pub(super) active: Option<u16>,
    /// The active request's FCGI_STDIN has ended (its empty record came).
    pub(super) stdin_done: bool,
    /// FCGI_STDIN bytes read but not yet consumed.
    pub(super) stdin_buf: Vec<u8>,
    pub(super) stdin_pos: usize,
    /// The web server sent FCGI_ABORT_REQUEST for the active request.
    pub(super) aborted: bool,
    /// FCGI_MAX_CONNS and FCGI_MAX_REQS.
    pub(super) max_conns: usize,
    pub(super) last_abort_check: Instant,
}

impl Conn {
    pub(super) fn new(stream: UnixStream, max_conns: usize) -> io::Result<Conn> {
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

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.writer.as_fd()
    }

    /// Writes what is waiting.
    pub(super) fn flush_out(&mut self) -> io::Result<()> {
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
    pub(super) fn next(&mut self) -> io::Result<Event> {
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
    pub(super) fn drain_buffered_stdin(&mut self) -> io::Result<()> {
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

pub(super) fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the web server aborted the request (FCGI_ABORT_REQUEST)",
    )
}

/// Whether `fd` has bytes (or an end) to read within `timeout`.
pub(super) fn readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let timeout = Timespec::try_from(timeout).ok();
    match poll(&mut [PollFd::new(&fd, PollFlags::IN)], timeout.as_ref()) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn lock(conn: &Mutex<Conn>) -> MutexGuard<'_, Conn> {
    conn.lock().unwrap_or_else(|p| p.into_inner())
}

/// The request body as CGI's request builder reads it.
pub(super) struct StdinReader<'a>(pub(super) &'a Mutex<Conn>);

impl Read for StdinReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        lock(self.0).read_stdin(buf)
    }
}

/// FCGI_STDOUT: what CGI's sink writes, as records.
pub(super) struct StdoutWriter {
    pub(super) conn: Arc<Mutex<Conn>>,
    pub(super) id: u16,
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
pub(super) struct StderrWriter {
    pub(super) conn: Arc<Mutex<Conn>>,
    pub(super) id: u16,
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
pub(super) struct FcgiSink {
    pub(super) cgi: CgiSink<StdoutWriter>,
    pub(super) conn: Arc<Mutex<Conn>>,
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
