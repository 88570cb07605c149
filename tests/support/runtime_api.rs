//! A fake Lambda Runtime API for the integration tests: the 2018-06-01 interface that a custom
//! runtime talks to ("Using the Lambda runtime API for custom runtimes" and "AWS Lambda runtime
//! API" in the AWS Lambda developer guide), served on `127.0.0.1:0` by plain threads.
//!
//! It does what Lambda does where rwsgi can tell the difference: `GET .../invocation/next`
//! holds the connection open until an event is queued (a long poll), hands the event out with
//! the `Lambda-Runtime-*` headers (the invocation id of July 2026 included), and every `POST` of
//! a result is answered `202 Accepted`. It also does what Lambda only does on a bad day, when a
//! test asks: a 500 or a closed connection on `/next` or on a response, a 413 for a response, a
//! 410 for a reply to an invocation that has gone stale. Whatever rwsgi posts is recorded for
//! the test to inspect. It serves the Extensions API's registration and event long poll too (2020-01-01),
//! so that an extension can register as on Lambda.
//!
//! HTTP/1.1 with keep-alive is all it speaks: `Content-Length` bodies, and the chunked body
//! with trailers of a streamed response ("Response streaming for custom runtimes"), whose
//! chunks it records with the time each arrived. When a test asks, it closes the connection
//! in the middle of a streamed response, as Lambda does when the invocation is reset.

use std::collections::{HashSet, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// The version prefix of every Runtime API path.
pub const API_VERSION: &str = "/2018-06-01";

/// The version prefix of the Extensions API's paths.
pub const EXTENSION_API_VERSION: &str = "/2020-01-01";

/// How often an idle connection or a waiting long poll looks whether the server is stopping.
const POLL: Duration = Duration::from_millis(50);

/// The largest request body the fake accepts; a little over Lambda's 6 MB response limit, so
/// that an oversized reply from rwsgi is still read whole and recorded.
const MAX_BODY: usize = 8 * 1024 * 1024;

/// Milliseconds since the Unix epoch, the unit of `Lambda-Runtime-Deadline-Ms`.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_millis() as u64
}

/// Makes each default trace id and invocation id differ from the others.
static TRACE_COUNTER: AtomicU64 = AtomicU64::new(1);

/// One queued invocation: the event and the headers `/next` sends with it.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub event: Vec<u8>,
    /// `Lambda-Runtime-Deadline-Ms`: when the invocation times out, in epoch milliseconds.
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub function_arn: String,
    /// `Lambda-Runtime-Trace-Id`, the X-Ray tracing header; `None` leaves the header out.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context` (invocations from the AWS Mobile SDK).
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity` (invocations from the AWS Mobile SDK).
    pub cognito_identity: Option<String>,
    /// `Lambda-Runtime-Aws-Tenant-Id` (functions with tenant isolation).
    pub tenant_id: Option<String>,
    /// `Lambda-Runtime-Invocation-Id`, which the runtime echoes on its reply; unlike the
    /// request id it is never reused, even by a retry. `None` leaves the header out, as the
    /// Runtime API did before July 2026.
    pub invocation_id: Option<String>,
    /// Leaves out `Lambda-Runtime-Deadline-Ms`, as some local emulators do.
    pub no_deadline: bool,
}

impl Invocation {
    /// An invocation of `event` with a deadline a minute away, the ARN of a function named
    /// `rwsgi-test`, and a trace id of its own (in X-Ray's `Root=1-...` form).
    pub fn new(request_id: &str, event: &Value) -> Invocation {
        Invocation {
            request_id: request_id.to_string(),
            event: serde_json::to_vec(event).expect("an event serializes"),
            deadline_ms: now_ms() + 60_000,
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:rwsgi-test".into(),
            trace_id: Some(format!(
                "Root=1-5e1b4151-{:024x};Parent=53995c3f42cd8ad8;Sampled=1",
                TRACE_COUNTER.fetch_add(1, Ordering::Relaxed)
            )),
            client_context: None,
            cognito_identity: None,
            tenant_id: None,
            invocation_id: Some(format!(
                "3f2a9c1e-7b4d-4e8a-9f61-{:012x}",
                TRACE_COUNTER.fetch_add(1, Ordering::Relaxed)
            )),
            no_deadline: false,
        }
    }

    /// The same invocation with the raw bytes `event` as its body (which need not be JSON).
    pub fn raw(mut self, event: &[u8]) -> Invocation {
        self.event = event.to_vec();
        self
    }

    pub fn deadline_ms(mut self, deadline_ms: u64) -> Invocation {
        self.deadline_ms = deadline_ms;
        self
    }

    pub fn trace_id(mut self, trace_id: Option<&str>) -> Invocation {
        self.trace_id = trace_id.map(str::to_string);
        self
    }

    pub fn client_context(mut self, text: &str) -> Invocation {
        self.client_context = Some(text.to_string());
        self
    }

    pub fn cognito_identity(mut self, text: &str) -> Invocation {
        self.cognito_identity = Some(text.to_string());
        self
    }

    pub fn tenant_id(mut self, text: &str) -> Invocation {
        self.tenant_id = Some(text.to_string());
        self
    }

    pub fn invocation_id(mut self, id: Option<&str>) -> Invocation {
        self.invocation_id = id.map(str::to_string);
        self
    }

    pub fn without_deadline(mut self) -> Invocation {
        self.no_deadline = true;
        self
    }
}

/// Which Runtime API call a recorded post was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostKind {
    /// `POST /runtime/invocation/{id}/response`
    Response,
    /// `POST /runtime/invocation/{id}/error`
    Error,
    /// `POST /runtime/init/error`
    InitError,
    /// `POST /runtime/restore/error` (SnapStart)
    RestoreError,
}

/// One result rwsgi posted, as the fake received it.
#[derive(Debug, Clone)]
pub struct Posted {
    pub kind: PostKind,
    /// The `{id}` of the path (percent-decoded); `None` for `/init/error`.
    pub request_id: Option<String>,
    /// The `Lambda-Runtime-Function-Error-Type` header, when sent.
    pub error_type: Option<String>,
    /// The `Lambda-Runtime-Invocation-Id` header, when sent.
    pub invocation_id: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The status the fake answered with: 202, 413 for a rejected response, 410 for a stale
    /// one, 500 for one the test made fail so; 0 when the fake closed the connection instead
    /// of answering (in the middle of a streamed body, or as the test asked).
    pub answered: u16,
    /// What was received of a streamed (chunked) body; `None` for a `Content-Length` one.
    pub stream: Option<StreamReceived>,
}

/// A chunked request body as it arrived.
#[derive(Debug, Clone, Default)]
pub struct StreamReceived {
    /// The `Lambda-Runtime-Function-Response-Mode` header.
    pub response_mode: Option<String>,
    /// The `Trailer` header: the trailers the request declared.
    pub trailer_header: Option<String>,
    /// Each chunk: when it had arrived whole (seconds since the Unix epoch) and its size.
    pub chunks: Vec<(f64, usize)>,
    /// The trailer fields after the last chunk.
    pub trailers: Vec<(String, String)>,
    /// The body's length, and its FNV-1a 64 digest (the body is kept only up to
    /// [`MAX_KEPT`] bytes).
    pub len: u64,
    pub digest: u64,
    /// The body ended with its last chunk (not cut off by the fake or the peer).
    pub complete: bool,
}

impl StreamReceived {
    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The most of a streamed body the fake keeps (the rest is only counted and digested).
pub const MAX_KEPT: usize = 16 * 1024 * 1024;

/// FNV-1a, 64 bits, continued from `hash` (start from [`FNV_START`]).
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// Seconds since the Unix epoch, to the microsecond: the clock Python's `time.time()` reads.
pub fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

impl Posted {
    /// The body parsed as JSON; panics, showing the body, when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the {:?} posted for {:?} is not JSON ({e}): {}",
                self.kind,
                self.request_id,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// What the fake does instead of answering a call as Lambda does on a good day: `/next`
/// instead of handing out an event ([`FakeRuntimeApi::fail_next`]), or a `/response` instead of
/// accepting it ([`FakeRuntimeApi::fail_response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Answers `500 Internal Server Error`, as the Runtime API does when the execution
    /// environment is broken ("the runtime should exit promptly").
    Status500,
    /// Closes the connection without an answer.
    Close,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Invocation>,
    /// Request ids handed out by `/next`, in order.
    handed_out: Vec<String>,
    posted: Vec<Posted>,
    /// Every request line received: `GET /2018-06-01/runtime/invocation/next`.
    requests: Vec<String>,
    /// The connection each of `requests` came on, numbered from 1 in the order accepted.
    request_connections: Vec<u64>,
    /// When the first `/next` arrived: on Managed Instances, init is complete then.
    first_next: Option<Instant>,
    /// How many extensions had registered when the first `/next` arrived.
    extensions_at_first_next: Option<usize>,
    /// How many `/restore/next` long polls may still be answered (one per [`FakeRuntimeApi::restore`]).
    restores: usize,
    next_failure: Option<Failure>,
    /// Request ids whose `/response` fails this way.
    failing_responses: Vec<(String, Failure)>,
    /// Request ids whose `/response` is refused with 413.
    rejected: HashSet<String>,
    /// Request ids whose reply is refused with 410, as the reply of a timed-out invocation is.
    stale: HashSet<String>,
    /// The invocation id handed out with each request id.
    invocation_ids: Vec<(String, Option<String>)>,
    /// The extensions registered through the Extensions API, by name.
    extensions: Vec<String>,
    /// Answers the Extensions API's paths 404, as a local emulator that has none does.
    no_extensions: bool,
    /// Request ids whose streamed response is cut off, the connection closed, once this many
    /// body bytes have arrived.
    cut_stream: Vec<(String, u64)>,
    stopping: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// A path prefix served besides the plain paths, e.g. `/.rt`.
    prefix: Option<String>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running fake. Dropping it stops it.
pub struct FakeRuntimeApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FakeRuntimeApi {
    /// Starts the fake on a free port of 127.0.0.1.
    pub fn start() -> FakeRuntimeApi {
        FakeRuntimeApi::start_with(None)
    }

    /// Starts the fake without the Extensions API, as a local emulator has none.
    pub fn start_without_extensions() -> FakeRuntimeApi {
        let api = FakeRuntimeApi::start_with(None);
        api.shared.lock().no_extensions = true;
        api
    }

    /// Starts the fake serving `{prefix}/2018-06-01/...` as well as the plain paths, as a
    /// local emulator that shares its port with other things does.
    pub fn start_with_prefix(prefix: &str) -> FakeRuntimeApi {
        FakeRuntimeApi::start_with(Some(prefix.trim_end_matches('/').to_string()))
    }

    fn start_with(prefix: Option<String>) -> FakeRuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("the listener's address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            prefix,
        });
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let shared = shared.clone();
            let connections = connections.clone();
            std::thread::spawn(move || accept_loop(listener, shared, connections))
        };
        FakeRuntimeApi {
            shared,
            addr,
            acceptor: Some(acceptor),
            connections,
        }
    }

    /// `127.0.0.1:PORT`, the form Lambda gives in `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT{prefix}`, the form a local emulator with a path prefix gives.
    pub fn url_with_prefix(&self) -> String {
        format!(
            "http://{}{}",
            self.addr,
            self.shared.prefix.as_deref().unwrap_or("")
        )
    }

    /// Queues an invocation for `/next`.
    pub fn push(&self, invocation: Invocation) {
        self.shared.lock().queue.push_back(invocation);
        self.shared.changed.notify_all();
    }

    /// Makes every following `/next` (including one already waiting) fail this way.
    pub fn fail_next(&self, failure: Failure) {
        self.shared.lock().next_failure = Some(failure);
        self.shared.changed.notify_all();
    }

    /// Makes the `/response` of `request_id` fail this way (read whole and recorded first, so
    /// that the test sees what rwsgi sent): a 500, as the Runtime API answers when the
    /// environment is broken, or a connection closed without an answer.
    pub fn fail_response(&self, request_id: &str, failure: Failure) {
        self.shared
            .lock()
            .failing_responses
            .push((request_id.to_string(), failure));
    }

    /// Makes the `/response` of `request_id` be refused with `413 Request Entity Too Large`,
    /// as Lambda refuses a response over its payload limit.
    pub fn reject_response(&self, request_id: &str) {
        self.shared.lock().rejected.insert(request_id.to_string());
    }

    /// Makes every reply for `request_id` be refused with `410 Gone`, as the Runtime API refuses
    /// the reply of an invocation that timed out (`ErrorRuntimeInvokeTimeout`).
    pub fn stale(&self, request_id: &str) {
        self.shared.lock().stale.insert(request_id.to_string());
    }

    /// Makes the fake close the connection once `bytes` body bytes of the streamed response
    /// for `request_id` have arrived, as Lambda does when the invocation is reset.
    pub fn cut_stream(&self, request_id: &str, bytes: u64) {
        self.shared
            .lock()
            .cut_stream
            .push((request_id.to_string(), bytes));
    }

    /// The names of the extensions registered so far.
    pub fn extensions(&self) -> Vec<String> {
        self.shared.lock().extensions.clone()
    }

    /// The first result posted for `request_id` (a response or an error), waiting for it up to
    /// `timeout`.
    pub fn wait_for(&self, request_id: &str, timeout: Duration) -> Option<Posted> {
        self.wait_until(timeout, |state| {
            state
                .posted
                .iter()
                .find(|p| p.request_id.as_deref() == Some(request_id))
                .cloned()
        })
    }

    /// The first `/init/error` posted, waiting for it up to `timeout`.
    pub fn wait_init_error(&self, timeout: Duration) -> Option<Posted> {
        self.wait_until(timeout, |state| {
            state
                .posted
                .iter()
                .find(|p| p.kind == PostKind::InitError)
                .cloned()
        })
    }

    /// Waits up to `timeout` until `count` results have been posted; returns them all.
    pub fn wait_posted(&self, count: usize, timeout: Duration) -> Option<Vec<Posted>> {
        self.wait_until(timeout, |state| {
            (state.posted.len() >= count).then(|| state.posted.clone())
        })
    }

    /// Waits up to `timeout` until `count` `/next` requests have arrived (the last one may
    /// still be waiting for an event).
    pub fn wait_next_requests(&self, count: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| {
            let nexts = state
                .requests
                .iter()
                .filter(|r| r.starts_with("GET ") && r.ends_with("/runtime/invocation/next"))
                .count();
            (nexts >= count).then_some(())
        })
        .is_some()
    }

    fn wait_until<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&State) -> Option<T>,
    ) -> Option<T> {
        let end = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(found) = check(&state) {
                return Some(found);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Everything posted so far, in order.
    pub fn posted(&self) -> Vec<Posted> {
        self.shared.lock().posted.clone()
    }

    /// The invocation id handed out with `request_id` (`None` when none was sent).
    pub fn invocation_id_of(&self, request_id: &str) -> Option<String> {
        self.shared
            .lock()
            .invocation_ids
            .iter()
            .find(|(id, _)| id == request_id)
            .and_then(|(_, inv)| inv.clone())
    }

    /// The request ids `/next` has handed out, in order.
    pub fn handed_out(&self) -> Vec<String> {
        self.shared.lock().handed_out.clone()
    }

    /// Every request line received so far, e.g. `GET /2018-06-01/runtime/invocation/next`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }

    /// Every request line received so far with the number of the connection it came on.
    pub fn request_log(&self) -> Vec<(u64, String)> {
        let state = self.shared.lock();
        state
            .request_connections
            .iter()
            .copied()
            .zip(state.requests.iter().cloned())
            .collect()
    }

    /// How many extensions had registered when the first `/next` arrived (`None`: no `/next`
    /// yet).
    pub fn extensions_at_first_next(&self) -> Option<usize> {
        self.shared.lock().extensions_at_first_next
    }

    /// Answers one `/runtime/restore/next` (already waiting or still to come): the restore of
    /// one execution environment from the snapshot.
    pub fn restore(&self) {
        self.shared.lock().restores += 1;
        self.shared.changed.notify_all();
    }

    /// Waits up to `timeout` until `count` requests whose line ends with `path` have arrived.
    pub fn wait_requests(&self, path: &str, count: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, |state| {
            let seen = state.requests.iter().filter(|r| r.ends_with(path)).count();
            (seen >= count).then_some(())
        })
        .is_some()
    }

    /// Stops accepting, ends every connection and waits for the server's threads.
    pub fn shutdown(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.changed.notify_all();
        if let Some(acceptor) = self.acceptor.take() {
            // The acceptor is blocked in accept(): one more connection wakes it to see the flag.
            let _ = TcpStream::connect(self.addr);
            let _ = acceptor.join();
        }
        let threads =
            std::mem::take(&mut *self.connections.lock().unwrap_or_else(|p| p.into_inner()));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeRuntimeApi {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    for stream in listener.incoming() {
        if shared.lock().stopping {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
        let thread = std::thread::spawn(move || serve(stream, &shared, connection));
        connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(thread);
    }
}

/// Numbers the connections accepted, for [`FakeRuntimeApi::request_log`].
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// One parsed request.
struct HttpRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    stream: Option<StreamReceived>,
}

impl HttpRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake sends back.
enum Answer {
    Http {
        status: u16,
        reason: &'static str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without a word.
    Close,
}

impl Answer {
    fn json(status: u16, reason: &'static str, body: &Value) -> Answer {
        Answer::Http {
            status,
            reason,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }
}

/// A connection: requests one after another (keep-alive) until the peer closes it, it breaks
/// the protocol, or the server stops.
fn serve(mut stream: TcpStream, shared: &Shared, connection: u64) {
    // A read timeout lets an idle connection notice that the server is stopping.
    if stream.set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut buffer = Vec::new();
    loop {
        let request = match read_request(&mut stream, &mut buffer, shared) {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(why) => {
                let answer = Answer::json(
                    400,
                    "Bad Request",
                    &serde_json::json!({"errorMessage": why, "errorType": "BadRequest"}),
                );
                let _ = write_answer(&mut stream, answer);
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
        };
        let answer = route(shared, request, connection, &stream);
        match answer {
            Answer::Close => {
                let _ = stream.shutdown(Shutdown::Both);
                return;
            }
            answer => {
                if write_answer(&mut stream, answer).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one request. `Ok(None)` when the connection ended (or the server is stopping) before
/// a request began; `Err` for a request the fake cannot read.
fn read_request(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    shared: &Shared,
) -> Result<Option<HttpRequest>, String> {
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buffer.len() > 64 * 1024 {
            return Err("request head over 64 KiB".into());
        }
        if !fill(stream, buffer, shared)? {
            return Ok(None);
        }
    };
    let head = String::from_utf8(buffer[..head_end].to_vec())
        .map_err(|_| "request head is not UTF-8".to_string())?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {request_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported protocol {version:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let mut request = HttpRequest {
        method: method.to_string(),
        path: path.to_string(),
        headers,
        body: Vec::new(),
        stream: None,
    };
    buffer.drain(..head_end + 4);
    if let Some(coding) = request.header("transfer-encoding") {
        if !coding.eq_ignore_ascii_case("chunked") {
            return Err(format!("unsupported Transfer-Encoding {coding:?}"));
        }
        let cut = request
            .path
            .rsplit_once("/invocation/")
            .and_then(|(_, rest)| rest.strip_suffix("/response"))
            .map(percent_decode)
            .and_then(|id| {
                shared
                    .lock()
                    .cut_stream
                    .iter()
                    .find(|(i, _)| *i == id)
                    .map(|(_, n)| *n)
            });
        read_chunked(stream, buffer, shared, &mut request, cut)?;
        return Ok(Some(request));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| format!("bad Content-Length {v:?}"))?,
    };
    if length > MAX_BODY {
        return Err(format!("body of {length} bytes is over {MAX_BODY}"));
    }
    while buffer.len() < length {
        if !fill(stream, buffer, shared)? {
            return Err("the connection closed inside a request body".into());
        }
    }
    request.body = buffer.drain(..length).collect();
    Ok(Some(request))
}

/// Reads a chunked body (RFC 9112 section 7.1), its trailers included, recording when each
/// chunk arrived. With `cut`, stops once that many body bytes have come (the caller closes
/// the connection).
fn read_chunked(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    shared: &Shared,
    request: &mut HttpRequest,
    cut: Option<u64>,
) -> Result<(), String> {
    let mut got = StreamReceived {
        response_mode: request
            .header("lambda-runtime-function-response-mode")
            .map(str::to_string),
        trailer_header: request.header("trailer").map(str::to_string),
        digest: FNV_START,
        ..StreamReceived::default()
    };
    let line = |stream: &mut TcpStream, buffer: &mut Vec<u8>| -> Result<String, String> {
        loop {
            if let Some(i) = buffer.windows(2).position(|w| w == b"\r\n") {
                let text = String::from_utf8_lossy(&buffer[..i]).into_owned();
                buffer.drain(..i + 2);
                return Ok(text);
            }
            if !fill(stream, buffer, shared)? {
                return Err("the connection closed inside a chunked body".into());
            }
        }
    };
    loop {
        let size_line = line(stream, buffer)?;
        let size_text = size_line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size line {size_line:?}"))?;
        if size == 0 {
            loop {
                let field = line(stream, buffer)?;
                if field.is_empty() {
                    break;
                }
                let (name, value) = field
                    .split_once(':')
                    .ok_or_else(|| format!("bad trailer line {field:?}"))?;
                got.trailers
                    .push((name.trim().to_string(), value.trim().to_string()));
            }
            got.complete = true;
            break;
        }
        while buffer.len() < size + 2 {
            if !fill(stream, buffer, shared)? {
                return Err("the connection closed inside a chunk".into());
            }
        }
        if &buffer[size..size + 2] != b"\r\n" {
            return Err("a chunk is not followed by CRLF".into());
        }
        got.chunks.push((now_secs(), size));
        got.len += size as u64;
        got.digest = fnv1a(got.digest, &buffer[..size]);
        let keep = size.min(MAX_KEPT.saturating_sub(request.body.len()));
        request.body.extend_from_slice(&buffer[..keep]);
        buffer.drain(..size + 2);
        if cut.is_some_and(|n| got.len >= n) {
            break;
        }
    }
    request.stream = Some(got);
    Ok(())
}

/// Reads more bytes into `buffer`. `Ok(false)` at end of stream or when the server stops.
fn fill(stream: &mut TcpStream, buffer: &mut Vec<u8>, shared: &Shared) -> Result<bool, String> {
    let mut chunk = [0u8; 64 * 1024];
    loop {
        if shared.lock().stopping {
            return Ok(false);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                return Ok(true);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Ok(false),
        }
    }
}

fn write_answer(stream: &mut TcpStream, answer: Answer) -> std::io::Result<()> {
    let Answer::Http {
        status,
        reason,
        headers,
        body,
    } = answer
    else {
        return Ok(());
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    stream.write_all(&bytes)?;
    stream.flush()
}

/// `%XX` escapes decoded (request ids are sent percent-encoded as a path segment).
fn percent_decode(text: &str) -> String {
    String::from_utf8_lossy(&rwsgi::http::percent_decode(text.as_bytes())).into_owned()
}

fn route(shared: &Shared, request: HttpRequest, connection: u64, stream: &TcpStream) -> Answer {
    let mut path = request.path.as_str();
    if let Some(prefix) = &shared.prefix
        && let Some(rest) = path.strip_prefix(prefix.as_str())
    {
        path = rest;
    }
    // The Extensions API's calls are kept apart from the Runtime API's (see `extensions`).
    if let Some(path) = path.strip_prefix(EXTENSION_API_VERSION) {
        if shared.lock().no_extensions {
            return not_found(&request);
        }
        return extension(shared, &request, path);
    }
    {
        let mut state = shared.lock();
        state
            .requests
            .push(format!("{} {}", request.method, request.path));
        state.request_connections.push(connection);
        if state.first_next.is_none() && path.ends_with("/runtime/invocation/next") {
            state.first_next = Some(Instant::now());
            state.extensions_at_first_next = Some(state.extensions.len());
        }
    }
    shared.changed.notify_all();
    let Some(path) = path.strip_prefix(API_VERSION) else {
        return not_found(&request);
    };
    match (request.method.as_str(), path) {
        ("GET", "/runtime/invocation/next") => next(shared, stream),
        ("POST", "/runtime/init/error") => record(shared, &request, PostKind::InitError, None),
        ("GET", "/runtime/restore/next") => restore_next(shared),
        ("POST", "/runtime/restore/error") => {
            record(shared, &request, PostKind::RestoreError, None)
        }
        ("POST", rest) => {
            let Some(rest) = rest.strip_prefix("/runtime/invocation/") else {
                return not_found(&request);
            };
            match rest.rsplit_once('/') {
                Some((id, "response")) => record(
                    shared,
                    &request,
                    PostKind::Response,
                    Some(percent_decode(id)),
                ),
                Some((id, "error")) => {
                    record(shared, &request, PostKind::Error, Some(percent_decode(id)))
                }
                _ => not_found(&request),
            }
        }
        _ => not_found(&request),
    }
}

/// The Extensions API ("Lambda Extensions API"): `POST /extension/register` answers with an
/// identifier and the function's settings; `GET /extension/event/next` waits until the server
/// stops, since an extension that asked for no events is never sent one.
fn extension(shared: &Shared, request: &HttpRequest, path: &str) -> Answer {
    match (request.method.as_str(), path) {
        ("POST", "/extension/register") => {
            let Some(name) = request.header("lambda-extension-name") else {
                return Answer::json(
                    400,
                    "Bad Request",
                    &serde_json::json!({"errorMessage": "missing Lambda-Extension-Name", "errorType": "InvalidRequest"}),
                );
            };
            let name = name.to_string();
            let id = {
                let mut state = shared.lock();
                state.extensions.push(name);
                format!("ext-{}", state.extensions.len())
            };
            shared.changed.notify_all();
            Answer::Http {
                status: 200,
                reason: "OK",
                headers: vec![("Lambda-Extension-Identifier".to_string(), id)],
                body: serde_json::json!({
                    "functionName": "rwsgi-test",
                    "functionVersion": "$LATEST",
                    "handler": "app.application",
                })
                .to_string()
                .into_bytes(),
            }
        }
        ("GET", "/extension/event/next") => {
            let mut state = shared.lock();
            while !state.stopping {
                state = shared
                    .changed
                    .wait_timeout(state, POLL)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
            Answer::Close
        }
        _ => not_found(request),
    }
}

fn not_found(request: &HttpRequest) -> Answer {
    Answer::json(
        404,
        "Not Found",
        &serde_json::json!({
            "errorMessage": format!("no such Runtime API call: {} {}", request.method, request.path),
            "errorType": "NotFound",
        }),
    )
}

/// The Runtime API's answer when the execution environment is broken ("the runtime should exit
/// promptly").
fn internal_error() -> Answer {
    Answer::json(
        500,
        "Internal Server Error",
        &serde_json::json!({
            "errorMessage": "Container error. Non-recoverable state. Runtime should exit promptly.",
            "errorType": "InternalError",
        }),
    )
}

/// `GET /runtime/invocation/next`: the next event, waiting for one as long as it takes (Lambda
/// freezes the environment meanwhile; here the connection simply stays open).
fn next(shared: &Shared, stream: &TcpStream) -> Answer {
    let mut state = shared.lock();
    loop {
        if state.stopping {
            return Answer::Close;
        }
        // A runtime process that died while polling (a killed worker) must not be handed an
        // event: Lambda would time that invocation out; here it would be lost to the test.
        if peer_closed(stream) {
            return Answer::Close;
        }
        match state.next_failure {
            Some(Failure::Status500) => {
                return internal_error();
            }
            Some(Failure::Close) => return Answer::Close,
            None => {}
        }
        if let Some(invocation) = state.queue.pop_front() {
            state.handed_out.push(invocation.request_id.clone());
            state.invocation_ids.push((
                invocation.request_id.clone(),
                invocation.invocation_id.clone(),
            ));
            drop(state);
            shared.changed.notify_all();
            let mut headers = vec![
                (
                    "Lambda-Runtime-Aws-Request-Id".to_string(),
                    invocation.request_id.clone(),
                ),
                (
                    "Lambda-Runtime-Invoked-Function-Arn".to_string(),
                    invocation.function_arn.clone(),
                ),
            ];
            if !invocation.no_deadline {
                headers.push((
                    "Lambda-Runtime-Deadline-Ms".to_string(),
                    invocation.deadline_ms.to_string(),
                ));
            }
            if let Some(id) = &invocation.invocation_id {
                headers.push(("Lambda-Runtime-Invocation-Id".to_string(), id.clone()));
            }
            if let Some(tenant) = &invocation.tenant_id {
                headers.push(("Lambda-Runtime-Aws-Tenant-Id".to_string(), tenant.clone()));
            }
            if let Some(trace) = &invocation.trace_id {
                headers.push(("Lambda-Runtime-Trace-Id".to_string(), trace.clone()));
            }
            if let Some(text) = &invocation.client_context {
                headers.push(("Lambda-Runtime-Client-Context".to_string(), text.clone()));
            }
            if let Some(text) = &invocation.cognito_identity {
                headers.push(("Lambda-Runtime-Cognito-Identity".to_string(), text.clone()));
            }
            return Answer::Http {
                status: 200,
                reason: "OK",
                headers,
                body: invocation.event,
            };
        }
        state = shared
            .changed
            .wait_timeout(state, POLL)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// `GET /runtime/restore/next` (SnapStart): the snapshot is taken while it waits; it is
/// answered, with an empty body, once the test restores ([`FakeRuntimeApi::restore`]).
fn restore_next(shared: &Shared) -> Answer {
    let mut state = shared.lock();
    loop {
        if state.stopping {
            return Answer::Close;
        }
        if state.restores > 0 {
            state.restores -= 1;
            drop(state);
            shared.changed.notify_all();
            return Answer::Http {
                status: 200,
                reason: "OK",
                headers: Vec::new(),
                body: Vec::new(),
            };
        }
        state = shared
            .changed
            .wait_timeout(state, POLL)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// Whether the client has closed its end (a read would see end of file or an error).
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

/// A posted result: recorded, then answered 202 (or 413 when the test asked for it).
fn record(
    shared: &Shared,
    request: &HttpRequest,
    kind: PostKind,
    request_id: Option<String>,
) -> Answer {
    let mut state = shared.lock();
    let rejected = kind == PostKind::Response
        && request_id
            .as_ref()
            .is_some_and(|id| state.rejected.contains(id));
    let stale = request_id
        .as_ref()
        .is_some_and(|id| state.stale.contains(id));
    let failure = (kind == PostKind::Response)
        .then(|| {
            state
                .failing_responses
                .iter()
                .find(|(id, _)| Some(id) == request_id.as_ref())
                .map(|(_, failure)| *failure)
        })
        .flatten();
    let cut =
        request.stream.as_ref().is_some_and(|s| !s.complete) || failure == Some(Failure::Close);
    let answered = if stale {
        410
    } else if rejected {
        413
    } else if failure == Some(Failure::Status500) {
        500
    } else {
        202
    };
    state.posted.push(Posted {
        kind,
        request_id,
        error_type: request
            .header("lambda-runtime-function-error-type")
            .map(str::to_string),
        invocation_id: request
            .header("lambda-runtime-invocation-id")
            .map(str::to_string),
        content_type: request.header("content-type").map(str::to_string),
        body: request.body.clone(),
        answered: if cut { 0 } else { answered },
        stream: request.stream.clone(),
    });
    drop(state);
    shared.changed.notify_all();
    if cut {
        return Answer::Close;
    }
    if answered == 500 {
        internal_error()
    } else if stale {
        Answer::json(
            410,
            "Gone",
            &serde_json::json!({
                "errorMessage": "Invoke timed out",
                "errorType": "ErrorRuntimeInvokeTimeout",
            }),
        )
    } else if rejected {
        Answer::json(
            413,
            "Request Entity Too Large",
            &serde_json::json!({
                "errorMessage": "Exceeded maximum allowed payload size (6291556 bytes).",
                "errorType": "RequestEntityTooLarge",
            }),
        )
    } else {
        Answer::json(202, "Accepted", &serde_json::json!({"status": "OK"}))
    }
}
