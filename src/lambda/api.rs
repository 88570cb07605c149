//! The Runtime API client: HTTP/1.1 on one kept-alive blocking TCP connection.
//!
//! The Runtime API ("AWS Lambda runtime API", 2018-06-01) is a local HTTP server that a runtime
//! talks to one request at a time: `GET /runtime/invocation/next` (a long poll that ends when an
//! event arrives), then a `POST` of the result. Nothing runs beside a request while it is under
//! way, so the client blocks: a write, then reads until the answer is whole. This keeps a warm
//! invocation to two `write`s and as many `read`s as the answers take, with no event loop and
//! no task machinery in between, which is most of what an async client would cost per call here
//! (README.md, "Speed", has the measurements).
//!
//! Answers are read as RFC 9112 frames them: a `Content-Length` body, a chunked one, or one that
//! ends with the connection. A kept-alive connection may have been closed by the server while it
//! sat idle (an emulator's idle timeout): one idle for a while is checked before it is used. A
//! request that fails on a reused connection before any answer arrives is sent again, once, on a
//! new one when that is safe: when none of it had left, or when it is a `GET`. A `POST` that may
//! have reached the server is not sent twice (RFC 9110 section 9.2.2).

use std::io::{self, IoSlice, Read};
use std::net::TcpStream;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use thiserror::Error;

/// The version prefix of every Runtime API path.
const API_VERSION: &str = "/2018-06-01";

/// The largest answer head accepted; the Runtime API's are a few hundred bytes.
const MAX_HEAD: usize = 64 * 1024;

/// The most header lines in an answer head.
const MAX_HEADERS: usize = 64;

/// How long a connection may sit idle before it is checked for a close by the server (idle
/// timeouts are seconds long). The check is a system call, so a connection used again sooner,
/// as in a quick invocation, is not checked.
const IDLE_CHECK: Duration = Duration::from_millis(50);

/// The largest answer body accepted: an event is at most 6 MB (Lambda's payload limit), and a
/// server that sends more than this is not the Runtime API.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// How long an answer's body may stall once its head has arrived. The long poll itself waits
/// as long as it takes; a body the server stopped sending halfway must not hang the function.
const BODY_STALL: Duration = Duration::from_secs(30);

/// The most interim (1xx) answers before the final one.
const MAX_INTERIM: usize = 16;

/// Where the Runtime API listens: `host:port` and any path prefix before `/2018-06-01`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, as `TcpStream::connect` and the `Host` header take it.
    pub authority: String,
    /// A path prefix without a trailing `/` (`/.rt`), or empty.
    pub prefix: String,
}

impl Endpoint {
    /// `127.0.0.1:9001` (what Lambda sets in `AWS_LAMBDA_RUNTIME_API`), or a full base URL with
    /// a path prefix, as some local emulators use (`http://127.0.0.1:9000/.rt`).
    pub fn parse(value: &str) -> Result<Endpoint, String> {
        let value = value.trim();
        let rest = match value.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some(_) => {
                return Err(format!(
                    "AWS_LAMBDA_RUNTIME_API={value:?}: the Runtime API speaks plain http"
                ));
            }
            None => value,
        };
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("AWS_LAMBDA_RUNTIME_API={value:?} has no host"));
        }
        if authority.contains('@')
            || path.contains(['?', '#'])
            || value
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || !b.is_ascii())
        {
            return Err(format!(
                "AWS_LAMBDA_RUNTIME_API={value:?} is not an address (host:port or \
                 http://host:port/prefix)"
            ));
        }
        // A port, unless the host is a bracketed IPv6 address alone ("[::1]").
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        if has_port {
            let port = &authority[authority.rfind(':').unwrap_or(0) + 1..];
            if port.parse::<u16>().is_err() {
                return Err(format!(
                    "AWS_LAMBDA_RUNTIME_API={value:?}: {port:?} is not a port number"
                ));
            }
        }
        let authority = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        Ok(Endpoint {
            authority,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }
}

/// Why a request to the Runtime API got no answer.
#[derive(Debug, Error)]
pub enum ApiError {
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        authority: String,
        source: io::Error,
    },
    #[error("the connection failed: {0}")]
    Io(#[from] io::Error),
    #[error("the connection closed before the answer was whole")]
    Closed,
    #[error("the answer is not HTTP/1.1: {0}")]
    Protocol(String),
    #[error("the answer stopped arriving for {} s after its head", BODY_STALL.as_secs())]
    Stalled,
}

/// An answer's header fields: the head's bytes and where each name and value lies in them, so
/// that reading a head takes two allocations however many fields it has.
#[derive(Debug, Default)]
struct Headers {
    raw: Vec<u8>,
    fields: Vec<(Range<usize>, Range<usize>)>,
}

impl Headers {
    /// The values of a field, in order; names compare without regard to letter case.
    fn all<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.fields
            .iter()
            .filter(move |(n, _)| self.raw[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| &self.raw[v.clone()])
    }

    /// Whether a comma-separated field lists `token` (`Connection: close`).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.all(name).any(|v| {
            v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
        })
    }
}

/// One answer from the Runtime API.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    headers: Headers,
    pub body: Vec<u8>,
}

impl Answer {
    /// A header's value, when it is present and UTF-8 text (a repeated one: the first).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .all(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// A connection and the bytes read from it but not yet used.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    /// Where the bytes read but not yet used end in `buffer`.
    end: usize,
    /// How much of `buffer` has been used.
    start: usize,
    /// Whether a request has been answered on it (so the server may have closed it since).
    reused: bool,
    /// When its last answer was read.
    last_used: Instant,
    /// Reads are of an answer's body, which may not stall for longer than [`BODY_STALL`].
    in_body: bool,
    /// The socket has `stall` as its read timeout.
    stall_armed: bool,
    /// [`BODY_STALL`], but for tests.
    stall: Duration,
}

impl Connection {
    fn open(authority: &str) -> Result<Connection, ApiError> {
        let stream = TcpStream::connect(authority).map_err(|source| ApiError::Connect {
            authority: authority.to_string(),
            source,
        })?;
        // Each request is written whole in one call and then waited on: Nagle's algorithm would
        // only hold a short final segment back until the previous one is acknowledged.
        stream.set_nodelay(true)?;
        Ok(Connection {
            stream,
            buffer: vec![0; 8 * 1024],
            end: 0,
            start: 0,
            reused: false,
            last_used: Instant::now(),
            in_body: false,
            stall_armed: false,
            stall: BODY_STALL,
        })
    }

    /// Whether the server has closed the connection (or sent something unasked, such as a 408
    /// before closing), seen without waiting.
    fn closed_by_server(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: a one-byte peek into a local buffer on a socket this connection owns.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error().kind();
            return !matches!(e, io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted);
        }
        true
    }

    fn pending(&self) -> &[u8] {
        &self.buffer[self.start..self.end]
    }

    /// Before a read of a body from the socket: the stall limit, set once per answer (most
    /// answers arrive whole with their head and need no such read).
    fn arm_stall(&mut self) -> Result<(), ApiError> {
        if self.in_body && !self.stall_armed {
            self.stream.set_read_timeout(Some(self.stall))?;
            self.stall_armed = true;
        }
        Ok(())
    }

    /// Back to reads that wait as long as they must (the long poll), after an answer.
    fn end_answer(&mut self) -> Result<(), ApiError> {
        self.in_body = false;
        if self.stall_armed {
            self.stall_armed = false;
            self.stream.set_read_timeout(None)?;
        }
        Ok(())
    }

    /// Reads more bytes into the buffer; `false` at the end of the stream. The buffer is zeroed
    /// once, when it grows, not before each read.
    fn fill(&mut self) -> Result<bool, ApiError> {
        self.arm_stall()?;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buffer.len() - self.end < 4096 {
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.buffer.len() - self.end < 4096 {
                self.buffer.resize(self.buffer.len() + 8 * 1024, 0);
            }
        }
        let n = loop {
            match self.stream.read(&mut self.buffer[self.end..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(stall_or(e)),
            }
        };
        self.end += n;
        Ok(n > 0)
    }

    /// Moves `n` bytes (or up to the end of the stream, with `None`) into `out`: the buffered
    /// ones first, then straight from the socket into `out`'s own memory.
    fn take_into(&mut self, out: &mut Vec<u8>, n: Option<usize>) -> Result<(), ApiError> {
        if n.is_some_and(|n| out.len().saturating_add(n) > MAX_BODY) {
            return Err(too_large());
        }
        let buffered = self.pending().len().min(n.unwrap_or(usize::MAX));
        // One allocation of the whole body.
        out.reserve(n.unwrap_or(buffered));
        out.extend_from_slice(&self.buffer[self.start..self.start + buffered]);
        self.start += buffered;
        if n == Some(buffered) {
            return Ok(());
        }
        self.arm_stall()?;
        // Straight from the socket, up to the length, or (to the end) one byte past the limit.
        let wanted = match n {
            Some(n) => (n - buffered) as u64,
            None => (MAX_BODY + 1).saturating_sub(out.len()) as u64,
        };
        let got = (&mut self.stream)
            .take(wanted)
            .read_to_end(out)
            .map_err(stall_or)?;
        match n {
            Some(_) if got as u64 != wanted => Err(ApiError::Closed),
            None if out.len() > MAX_BODY => Err(too_large()),
            _ => Ok(()),
        }
    }

    /// One line of a chunked body (without its CRLF).
    fn line(&mut self) -> Result<Vec<u8>, ApiError> {
        // How much of the pending bytes is known to hold no line end: each read is searched once.
        let mut searched = 0;
        loop {
            if let Some(i) = self.pending()[searched..]
                .iter()
                .position(|&b| b == b'\n')
                .map(|i| i + searched)
            {
                let mut line = self.pending()[..i].to_vec();
                self.start += i + 1;
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.pending().len() > MAX_HEAD {
                return Err(ApiError::Protocol("a chunk line is too long".into()));
            }
            searched = self.pending().len();
            if !self.fill()? {
                return Err(ApiError::Closed);
            }
        }
    }

    /// A chunked body (RFC 9112 section 7.1), its trailers read and dropped.
    fn chunked(&mut self, out: &mut Vec<u8>) -> Result<(), ApiError> {
        loop {
            let line = self.line()?;
            let size_text = line.split(|&b| b == b';').next().unwrap_or_default();
            let size_text = std::str::from_utf8(size_text)
                .ok()
                .map(|s| s.trim_matches([' ', '\t']))
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()));
            let size = size_text
                .and_then(|s| usize::from_str_radix(s, 16).ok())
                .ok_or_else(|| {
                    ApiError::Protocol(format!(
                        "bad chunk size {:?}",
                        String::from_utf8_lossy(&line)
                    ))
                })?;
            if size == 0 {
                // Trailer fields, dropped; as much of them as a head may hold.
                let mut trailers = 0;
                loop {
                    let line = self.line()?;
                    if line.is_empty() {
                        return Ok(());
                    }
                    trailers += line.len();
                    if trailers > MAX_HEAD {
                        return Err(ApiError::Protocol("the trailers are too long".into()));
                    }
                }
            }
            self.take_into(out, Some(size))?;
            if !self.line()?.is_empty() {
                return Err(ApiError::Protocol("a chunk runs past its size".into()));
            }
        }
    }
}

/// The parts of an answer head that decide how its body is read.
struct Head {
    status: u16,
    http10: bool,
    headers: Headers,
    /// The server will close the connection after this answer.
    close: bool,
}

fn parse_head(bytes: &[u8]) -> Result<Option<(usize, Head)>, ApiError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let used = match response.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ApiError::Protocol(e.to_string())),
    };
    let status = response.code.unwrap_or(0);
    let http10 = response.version == Some(0);
    // httparse hands out slices of `bytes`; their offsets locate them in the copy.
    let base = bytes.as_ptr() as usize;
    let span = |part: &[u8]| {
        let start = part.as_ptr() as usize - base;
        start..start + part.len()
    };
    let headers = Headers {
        raw: bytes[..used].to_vec(),
        fields: response
            .headers
            .iter()
            .map(|h| (span(h.name.as_bytes()), span(h.value)))
            .collect(),
    };
    let close = headers.has_token("connection", "close")
        || (http10 && !headers.has_token("connection", "keep-alive"));
    Ok(Some((
        used,
        Head {
            status,
            http10,
            headers,
            close,
        },
    )))
}

/// A client for one Runtime API endpoint, holding its connection open between requests.
pub struct Client {
    endpoint: Endpoint,
    user_agent: String,
    connection: Option<Connection>,
    idle_check: Duration,
    body_stall: Duration,
}

impl Client {
    pub fn new(endpoint: Endpoint) -> Client {
        Client {
            endpoint,
            user_agent: format!("rwsgi/{}", crate::VERSION),
            connection: None,
            idle_check: IDLE_CHECK,
            body_stall: BODY_STALL,
        }
    }

    /// `GET` a Runtime API path (after `/2018-06-01`).
    pub fn get(&mut self, path: &str) -> Result<Answer, ApiError> {
        self.request("GET", path, None, None)
    }

    /// `POST` a JSON body, with `Lambda-Runtime-Function-Error-Type` when it reports an error.
    pub fn post(
        &mut self,
        path: &str,
        body: &[u8],
        error_type: Option<&str>,
    ) -> Result<Answer, ApiError> {
        self.request("POST", path, Some(body), error_type)
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        error_type: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let head = self.request_head(method, path, body, error_type);
        let body = body.unwrap_or_default();
        let mut retried = false;
        loop {
            if self
                .connection
                .as_ref()
                .is_some_and(|c| c.last_used.elapsed() >= self.idle_check && c.closed_by_server())
            {
                self.connection = None;
            }
            let connection = match self.connection.as_mut() {
                Some(c) => c,
                None => {
                    let mut c = Connection::open(&self.endpoint.authority)?;
                    c.stall = self.body_stall;
                    self.connection.insert(c)
                }
            };
            let reused = connection.reused;
            match exchange(connection, &head, body) {
                Ok((answer, close)) => {
                    if close {
                        self.connection = None;
                    } else if let Some(c) = self.connection.as_mut() {
                        c.reused = true;
                        c.last_used = Instant::now();
                    }
                    return Ok(answer);
                }
                Err(Failure {
                    error,
                    sent,
                    answered,
                }) => {
                    self.connection = None;
                    // A kept-alive connection the server had closed: a request none of which
                    // left never reached it, and a GET that got no answer changes nothing on
                    // the server; either goes again, once, on a new connection. A POST the
                    // server may have taken is not sent twice.
                    if reused && !answered && !retried && (!sent || method == "GET") {
                        retried = true;
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    fn request_head(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        error_type: Option<&str>,
    ) -> Vec<u8> {
        use std::io::Write as _;
        let mut head = Vec::with_capacity(256);
        // Writes into a Vec cannot fail.
        let _ = write!(
            head,
            "{method} {}{API_VERSION}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\n",
            self.endpoint.prefix, self.endpoint.authority, self.user_agent
        );
        if let Some(body) = body {
            let _ = write!(
                head,
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        if let Some(t) = error_type {
            // An exception's class name is the app's to choose; only visible ASCII can go in a
            // header field (RFC 9110 section 5.5).
            let clean: String = t.chars().filter(|c| c.is_ascii_graphic()).collect();
            if !clean.is_empty() {
                let _ = write!(head, "Lambda-Runtime-Function-Error-Type: {clean}\r\n");
            }
        }
        head.extend_from_slice(b"\r\n");
        head
    }
}

/// A failed exchange: whether any of the request left (so the server may have seen it), and
/// whether any of an answer had arrived.
struct Failure {
    error: ApiError,
    sent: bool,
    answered: bool,
}

fn fail(error: ApiError, answered: bool) -> Failure {
    Failure {
        error,
        sent: true,
        answered,
    }
}

fn too_large() -> ApiError {
    ApiError::Protocol(format!("the answer's body is over {} MiB", MAX_BODY >> 20))
}

/// A read that timed out is a stalled body (the only reads with a timeout).
fn stall_or(e: io::Error) -> ApiError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ApiError::Stalled,
        _ => ApiError::Io(e),
    }
}

/// Writes one request and reads its answer; the `bool` says the connection must be closed.
fn exchange(c: &mut Connection, head: &[u8], body: &[u8]) -> Result<(Answer, bool), Failure> {
    let result = read_answer(c, head, body);
    let reset = c.end_answer();
    let (answer, close) = result?;
    match reset {
        Ok(()) => Ok((answer, close)),
        // The answer is whole; only the connection cannot be used again.
        Err(_) => Ok((answer, true)),
    }
}

fn read_answer(c: &mut Connection, head: &[u8], body: &[u8]) -> Result<(Answer, bool), Failure> {
    write_all(&mut c.stream, head, body).map_err(|(e, sent)| Failure {
        error: e.into(),
        sent,
        answered: false,
    })?;
    let mut interim = 0;
    // Interim 1xx answers (RFC 9110 section 15.2) come before the final one and are skipped.
    let head = loop {
        let parsed = parse_head(c.pending()).map_err(|e| fail(e, true))?;
        match parsed {
            Some((used, head)) => {
                c.start += used;
                if head.status == 101 {
                    // Nothing here asks to switch protocols.
                    return Err(fail(
                        ApiError::Protocol("101 Switching Protocols, unasked".into()),
                        true,
                    ));
                }
                if (100..200).contains(&head.status) {
                    interim += 1;
                    if interim > MAX_INTERIM {
                        return Err(fail(
                            ApiError::Protocol("too many interim answers".into()),
                            true,
                        ));
                    }
                    continue;
                }
                break head;
            }
            None => {
                if c.pending().len() > MAX_HEAD {
                    return Err(fail(
                        ApiError::Protocol("the answer's head is too long".into()),
                        true,
                    ));
                }
                let answered = !c.pending().is_empty();
                match c.fill() {
                    Ok(true) => {}
                    Ok(false) => return Err(fail(ApiError::Closed, answered)),
                    Err(e) => return Err(fail(e, answered)),
                }
            }
        }
    };
    c.in_body = true;
    let mut body = Vec::new();
    let mut close = head.close;
    // RFC 9112 section 6.3: how the body's length is known.
    let headers = &head.headers;
    let header = |name: &'static str| headers.all(name);
    let no_body = head.status == 204 || head.status == 304;
    // Chunked when it is the last coding listed (RFC 9112 section 6.3, item 4).
    let last_coding = header("transfer-encoding")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
        .last();
    let chunked = last_coding.is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
    if last_coding.is_some() && (head.http10 || header("content-length").next().is_some()) {
        // Transfer-Encoding in an HTTP/1.0 answer, or beside a Content-Length, is faulty
        // framing (RFC 9112 sections 6.1 and 6.3): read as the coding says, then close.
        close = true;
    }
    let read = if no_body {
        Ok(())
    } else if chunked {
        c.chunked(&mut body)
    } else if last_coding.is_some() {
        close = true;
        c.take_into(&mut body, None)
    } else {
        let mut lengths = header("content-length").map(|v| {
            std::str::from_utf8(v)
                .ok()
                .map(|s| s.trim_matches([' ', '\t']))
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<usize>().ok())
        });
        match lengths.next() {
            None => {
                close = true;
                c.take_into(&mut body, None)
            }
            Some(Some(n)) if lengths.all(|other| other == Some(n)) => {
                c.take_into(&mut body, Some(n))
            }
            Some(_) => Err(ApiError::Protocol("a bad Content-Length".into())),
        }
    };
    read.map_err(|e| fail(e, true))?;
    if !c.pending().is_empty() {
        // Bytes the Runtime API never sends unasked: the connection's state is unknown.
        close = true;
    }
    Ok((
        Answer {
            status: head.status,
            headers: head.headers,
            body,
        },
        close,
    ))
}

/// The head and the body in as few writes as the socket takes (one, normally). A failure says
/// whether any of it had been sent.
fn write_all(stream: &mut TcpStream, head: &[u8], body: &[u8]) -> Result<(), (io::Error, bool)> {
    let mut parts = [IoSlice::new(head), IoSlice::new(body)];
    let mut slices = &mut parts[..];
    let mut sent = false;
    while !slices.is_empty() {
        match send_vectored(stream, slices) {
            Ok(0) => return Err((io::ErrorKind::WriteZero.into(), sent)),
            Ok(n) => {
                sent = true;
                IoSlice::advance_slices(&mut slices, n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((e, sent)),
        }
    }
    Ok(())
}

/// `sendmsg` with `MSG_NOSIGNAL`: a connection the server has closed is an error to report, never
/// a SIGPIPE, whatever the app has done to that signal's disposition.
fn send_vectored(stream: &TcpStream, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: msghdr is plain data, for which all zeroes is a valid (empty) value.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is ABI-compatible with iovec on Unix (its documented guarantee); sendmsg only
    // reads through the pointer.
    message.msg_iov = slices.as_ptr().cast_mut().cast();
    message.msg_iovlen = slices.len() as _;
    // SAFETY: the iovecs point at live slices for the length of the call.
    let n = unsafe { libc::sendmsg(stream.as_raw_fd(), &message, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, mpsc};
    use std::thread;

    #[test]
    fn endpoints() {
        let ok = |s: &str| Endpoint::parse(s).unwrap();
        assert_eq!(
            ok("127.0.0.1:9001"),
            Endpoint {
                authority: "127.0.0.1:9001".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            ok("http://127.0.0.1:9000/.rt/"),
            Endpoint {
                authority: "127.0.0.1:9000".into(),
                prefix: "/.rt".into()
            }
        );
        assert_eq!(ok("localhost").authority, "localhost:80");
        assert_eq!(ok("HTTP://[::1]:9001").authority, "[::1]:9001");
        assert_eq!(ok("[::1]").authority, "[::1]:80");
        assert_eq!(ok(" localhost:9001 ").authority, "localhost:9001");
        for bad in [
            "",
            "https://x:1",
            "a b",
            "http://",
            "/path",
            "x:port",
            "x:99999",
            "u@x:1",
            "x:1/p?q",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// A server that answers each request on one connection with the next canned bytes, then
    /// closes; it reports the requests it read.
    fn serve(answers: Vec<Vec<u8>>) -> (Endpoint, mpsc::Receiver<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            for answer in answers {
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).unwrap_or(0) == 0 {
                        return;
                    }
                    request.push(byte[0]);
                }
                let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
                if let Some(len) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|l| l.trim().parse::<usize>().ok())
                {
                    let mut body = vec![0; len];
                    stream.read_exact(&mut body).unwrap();
                    request.extend_from_slice(&body);
                }
                tx.send(request).unwrap();
                stream.write_all(&answer).unwrap();
            }
        });
        (
            Endpoint {
                authority,
                prefix: "/p".into(),
            },
            rx,
        )
    }

    #[test]
    fn reads_each_framing_on_one_connection() {
        let (endpoint, requests) = serve(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\
              Lambda-Runtime-Aws-Request-Id: abc\r\n\r\nhello"
                .to_vec(),
            b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n\
              3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
                .to_vec(),
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end".to_vec(),
        ]);
        let mut client = Client::new(endpoint);
        let a = client.get("/runtime/invocation/next").unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, b"hello".as_slice()));
        assert_eq!(a.header("lambda-runtime-aws-request-id"), Some("abc"));
        let request = requests.recv().unwrap();
        assert!(
            request.starts_with(b"GET /p/2018-06-01/runtime/invocation/next HTTP/1.1\r\n"),
            "{}",
            String::from_utf8_lossy(&request)
        );
        let b = client
            .post("/runtime/invocation/abc/error", b"{}", Some("Bad\r\nType"))
            .unwrap();
        assert_eq!(
            (b.status, b.body.as_slice()),
            (202, b"abc0123456789".as_slice())
        );
        let request = String::from_utf8(requests.recv().unwrap()).unwrap();
        assert!(request.contains("Lambda-Runtime-Function-Error-Type: BadType\r\n"));
        assert!(request.contains("Content-Length: 2\r\n") && request.ends_with("\r\n\r\n{}"));
        let c = client.get("/x").unwrap();
        assert_eq!(c.body, b"to the end");
        assert!(client.connection.is_none());
    }

    /// A server that answers one request per connection and then closes it, as an idle timeout
    /// would; it counts the connections.
    fn one_per_connection() -> (Endpoint, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
            }
        });
        (
            Endpoint {
                authority,
                prefix: String::new(),
            },
            connections,
        )
    }

    #[test]
    fn a_connection_closed_while_idle_is_replaced() {
        // Checked before use: a POST goes on a new connection, once.
        let (endpoint, connections) = one_per_connection();
        let mut client = Client::new(endpoint);
        client.idle_check = Duration::ZERO;
        assert_eq!(client.get("/a").unwrap().body, b"ok");
        thread::sleep(Duration::from_millis(50));
        assert_eq!(client.post("/b", b"{}", None).unwrap().body, b"ok");
        assert_eq!(connections.load(Ordering::SeqCst), 2);

        // Not checked (used again soon enough): a GET that gets no answer goes again, once; a
        // POST does not, since the server may have acted on it.
        let (endpoint, connections) = one_per_connection();
        let mut client = Client::new(endpoint);
        client.idle_check = Duration::from_secs(3600);
        assert_eq!(client.get("/a").unwrap().body, b"ok");
        thread::sleep(Duration::from_millis(50));
        assert_eq!(client.get("/b").unwrap().body, b"ok");
        assert_eq!(connections.load(Ordering::SeqCst), 2);
        thread::sleep(Duration::from_millis(50));
        assert!(client.post("/c", b"{}", None).is_err());
        assert_eq!(connections.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn framing_edge_cases() {
        let (endpoint, _requests) = serve(vec![
            // Not chunked: "xchunked" is another coding, so the body runs to the close.
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
        ]);
        let mut client = Client::new(endpoint);
        let a = client.get("/x").unwrap();
        assert_eq!(a.body, b"3\r\nabc\r\n0\r\n\r\n");
        assert!(client.connection.is_none());

        // Chunked in an HTTP/1.0 answer, or beside a Content-Length: read, then closed.
        for answer in [
            &b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        ] {
            let mut bytes = answer.to_vec();
            bytes.extend_from_slice(b"2\r\nok\r\n0\r\n\r\n");
            let (endpoint, _requests) = serve(vec![bytes]);
            let mut client = Client::new(endpoint);
            assert_eq!(client.get("/x").unwrap().body, b"ok");
            assert!(client.connection.is_none());
        }
    }

    #[test]
    fn a_stalled_body_is_an_error_not_a_hang() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let (done, wait) = mpsc::channel::<()>();
        thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            // Holds the connection open without sending the rest.
            let _ = wait.recv();
        });
        let mut client = Client::new(Endpoint {
            authority,
            prefix: String::new(),
        });
        client.body_stall = Duration::from_millis(200);
        let started = Instant::now();
        let result = client.get("/x");
        assert!(matches!(result, Err(ApiError::Stalled)), "{result:?}");
        assert!(started.elapsed() < Duration::from_secs(20));
        drop(done);
    }

    #[test]
    fn broken_answers_are_errors() {
        for (answer, what) in [
            (
                &b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"[..],
                "closed",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                "length",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "chunk",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
                "past",
            ),
            (b"SMTP ready\r\n\r\n", "protocol"),
            (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
                "upgrade",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",
                "too large",
            ),
            (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffff\r\n",
                "huge chunk",
            ),
            (b"HTTP/1.1 200 OK\r\nContent-Le", "closed"),
        ] {
            let (endpoint, _requests) = serve(vec![answer.to_vec()]);
            let mut client = Client::new(endpoint);
            let result = client.get("/x");
            assert!(result.is_err(), "{what}: {result:?}");
        }
    }
}
