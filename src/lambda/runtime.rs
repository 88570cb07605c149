//! The custom-runtime loop ("Using the Lambda runtime API for custom runtimes", AWS Lambda
//! developer guide): import the app once during init, then `GET /invocation/next`, run the
//! event, `POST /invocation/{id}/response` or `/error`, forever.
//!
//! The Runtime API is spoken with AWS's own client crate, `lambda_runtime_api_client` (its
//! request builder and body), over one kept-alive hyper connection that the loop drives itself
//! ([`Api`]; reopened after a SnapStart restore), on a current-thread tokio runtime made after
//! the app is imported: the loop runs Python between two requests and has nothing else to do
//! meanwhile, so tokio's multi-thread scheduler would only add cost.
//!
//! The loop itself is rwsgi's, not `lambda_runtime::Runtime::run`, because in `lambda_runtime`
//! 1.5 that loop loses things rwsgi must keep:
//! - `Context::new` and the request id lookup `expect` the `Lambda-Runtime-Deadline-Ms` and
//!   `Lambda-Runtime-Aws-Request-Id` headers: a local emulator that sends no deadline, or a
//!   `/next` answered 408 (`cargo lambda`'s request timeout) or 500, is a panic, and the
//!   invocation is never answered;
//! - a `Lambda-Runtime-Client-Context` that is not its typed shape, or a cognito identity of
//!   `{}`, ends `run()` with an error: the loop dies;
//! - `Diagnostic` has no `stackTrace` and every error is posted with the error type
//!   `unhandled`, so the Python traceback and exception class would be lost;
//! - it sets `_X_AMZN_TRACE_ID` with `std::env::set_var` on every invocation: glibc keeps every
//!   value `setenv` replaced, and Python's `os.environ` never sees the change.
//!
//! What the loop adds is the per-invocation header handling and the paths; the HTTP (hyper's),
//! the request builder (`build_request`), the error body's shape (`Diagnostic`) and the
//! extension registration for shutdown (`lambda_extension`) are AWS's.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use hyper::client::conn::http1;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::build_request;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::lambda::socket::{Socket, Wait};
use crate::lambda::stream::{self, InvokeMode, Streamed};
use crate::lambda::{
    ErrorReport, EventHandler, Handler, Invocation, InvocationContext, error_body,
};
use crate::python::{self, LoadErrorKind};

/// The version prefix of every Runtime API path.
const API_VERSION: &str = "/2018-06-01";

/// The largest event accepted from `/next`: an event is at most 6 MB (Lambda's payload limit),
/// and a server that sends more than this is not the Runtime API.
const MAX_EVENT: usize = 64 * 1024 * 1024;

/// The size of every read from the Runtime API, which is also the longest answer head taken
/// (hyper's "message head is too large" past it; a `/next` head is a few KiB, its largest
/// header, `Lambda-Runtime-Client-Context`, at most 3,583 bytes). A fixed size rather than
/// hyper's adaptive buffer with a 1 MiB limit: while the adaptive buffer grows, unread bytes keep
/// it from being reused in place, `Vec`'s doubling takes it to 2 MiB, and it is kept for the
/// connection's life: on top of the event, its body and the app's copy, that was 0.4x of a 5 MiB
/// upload's size at its peak, in about half the runs. A 6 MB event is about a hundred reads.
const READ_BUFFER: usize = 64 * 1024;

/// How long an answer's body may take once its head has arrived. The long poll itself waits as
/// long as it takes; a body the server stopped sending halfway must not hang the function.
const BODY_STALL: Duration = Duration::from_secs(30);

/// The most of an error answer's body quoted in the log.
const MAX_QUOTED: usize = 64 * 1024;

/// The header the Runtime API sends with each invocation on `/next` and that a runtime echoes on
/// its `/response` or `/error`, so that a reply from an invocation that has timed out meanwhile
/// is refused (410) rather than taken for a later one's (awslambdaric 4.0.2, July 2026, and
/// every AWS runtime client since).
pub(crate) const INVOCATION_ID: &str = "lambda-runtime-invocation-id";

/// The `/next` answer's headers that rwsgi reads, made once: a lookup by a name given as text
/// parses and checks the name first.
const REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
const DEADLINE: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
const FUNCTION_ARN: HeaderName = HeaderName::from_static("lambda-runtime-invoked-function-arn");
const TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
const CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");
const COGNITO_IDENTITY: HeaderName = HeaderName::from_static("lambda-runtime-cognito-identity");
const TENANT_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-tenant-id");
const INVOCATION_ID_HEADER: HeaderName = HeaderName::from_static(INVOCATION_ID);
const ERROR_TYPE_HEADER: HeaderName = HeaderName::from_static("lambda-runtime-function-error-type");

/// The function's settings, from the variables Lambda defines ("Defined runtime environment
/// variables"), with neutral values where a local emulator leaves one out.
/// (`lambda_runtime::Config::from_env` panics on a missing one.)
#[derive(Debug, Clone, Default)]
pub(crate) struct FunctionConfig {
    pub function_name: Arc<str>,
    pub version: Arc<str>,
    pub memory_mb: i64,
    pub log_group: Arc<str>,
    pub log_stream: Arc<str>,
}

impl FunctionConfig {
    pub(crate) fn from_env() -> FunctionConfig {
        let var = |name: &str| std::env::var(name).unwrap_or_default();
        FunctionConfig {
            function_name: var("AWS_LAMBDA_FUNCTION_NAME").into(),
            version: var("AWS_LAMBDA_FUNCTION_VERSION").into(),
            memory_mb: var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                .trim()
                .parse()
                .unwrap_or(0),
            log_group: var("AWS_LAMBDA_LOG_GROUP_NAME").into(),
            log_stream: var("AWS_LAMBDA_LOG_STREAM_NAME").into(),
        }
    }
}

/// What one `/next` handed out: the invocation's headers and its event.
pub struct Next {
    pub headers: HeaderMap,
    pub event: Vec<u8>,
}

impl Next {
    /// A header's value, trimmed, when it is present and text.
    fn header(&self, name: &HeaderName) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    }

    /// The header's value when present and not empty.
    fn nonempty(&self, name: &HeaderName) -> Option<String> {
        self.header(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }
}

/// The invocation context from the `/next` answer's `Lambda-Runtime-*` headers ("AWS Lambda
/// runtime API", Next invocation), and the X-Ray trace id. A missing deadline (some local
/// emulators send none) leaves no time to report rather than refusing the invocation.
pub(crate) fn invocation_context(
    request_id: &str,
    config: &FunctionConfig,
    next: &Next,
) -> (InvocationContext, Option<String>) {
    (
        InvocationContext {
            aws_request_id: request_id.to_string(),
            function_name: config.function_name.clone(),
            function_version: config.version.clone(),
            invoked_function_arn: next.nonempty(&FUNCTION_ARN).unwrap_or_default(),
            memory_limit_in_mb: config.memory_mb,
            log_group_name: config.log_group.clone(),
            log_stream_name: config.log_stream.clone(),
            deadline_ms: next
                .header(&DEADLINE)
                .and_then(|d| d.parse().ok())
                .unwrap_or(0),
            tenant_id: next.nonempty(&TENANT_ID),
            client_context: next.nonempty(&CLIENT_CONTEXT),
            cognito_identity: next.nonempty(&COGNITO_IDENTITY),
        },
        next.nonempty(&TRACE_ID),
    )
}

/// The app as the function names it: `RWSGI_APP`, else the function's Handler setting
/// (`_HANDLER`, which may use the Python runtime's `module.function` form).
pub(crate) fn app_from_env() -> Option<(String, bool)> {
    crate::env_nonempty("RWSGI_APP")
        .map(|spec| (spec, false))
        .or_else(|| crate::env_nonempty("_HANDLER").map(|h| (h, true)))
}

/// Imports the app (and `RWSGI_EVENT_HANDLER`): from `base_dirs` (on Lambda
/// `LAMBDA_TASK_ROOT`, then `/opt/python` for layers), `RWSGI_PATH`, and the virtualenv.
pub(crate) fn init(
    app: Option<(String, bool)>,
    base_dirs: Vec<PathBuf>,
    venv: Option<PathBuf>,
) -> std::result::Result<Handler, ErrorReport> {
    let Some((spec_text, lambda_style)) = app else {
        return Err(ErrorReport {
            error_type: "Runtime.MalformedHandlerName".into(),
            message: "no app to run: set RWSGI_APP (e.g. app:application) or the function's \
                      Handler"
                .into(),
            stack: Vec::new(),
        });
    };
    let place = crate::AppPlace {
        venv,
        default_venv: None,
        base_dirs,
        cgi_script: None,
        signal_handlers: false,
        lambda_handler: lambda_style,
        line_buffered: true,
    };
    let app = crate::load_app(&spec_text, place).map_err(|e| init_report(&e))?;
    let event_handler = match crate::env_nonempty("RWSGI_EVENT_HANDLER") {
        None => None,
        Some(text) => {
            let spec = crate::app_spec::AppSpec::parse(&text, false, Path::is_file)
                .map_err(|e| init_report(&Error::Spec(e)))?;
            Some(EventHandler::load(&spec).map_err(|e| init_report(&Error::Load(e)))?)
        }
    };
    let (options, text_types) = Handler::settings_from_env();
    let invoke_mode = InvokeMode::parse(std::env::var("RWSGI_INVOKE_MODE").ok().as_deref())
        .map_err(|message| ErrorReport {
            error_type: "Rwsgi.InvalidInvokeMode".into(),
            message,
            stack: Vec::new(),
        })?;
    Ok(Handler {
        app,
        event_handler,
        options,
        text_types,
        invoke_mode,
    })
}

/// An init failure in the shape `/runtime/init/error` takes, with the error types of AWS's
/// own runtimes.
fn init_report(e: &Error) -> ErrorReport {
    match e {
        Error::Load(load) => ErrorReport {
            error_type: match load.kind {
                LoadErrorKind::Import => "Runtime.ImportModuleError",
                LoadErrorKind::NotFound => "Runtime.HandlerNotFound",
            }
            .into(),
            message: load.message.clone(),
            stack: load.stack.clone(),
        },
        Error::Spec(_) => ErrorReport {
            error_type: "Runtime.MalformedHandlerName".into(),
            message: e.to_string(),
            stack: Vec::new(),
        },
        _ => ErrorReport {
            error_type: "Runtime.ImportModuleError".into(),
            message: e.to_string(),
            stack: Vec::new(),
        },
    }
}

/// Where the Runtime API listens, as a base URI: `127.0.0.1:9001` (what Lambda sets in
/// `AWS_LAMBDA_RUNTIME_API`), or a full base URL with a path prefix, as some local emulators
/// use (`http://127.0.0.1:9000/.rt`). Checked here, since the client `expect`s an authority.
pub fn endpoint(value: &str) -> std::result::Result<Uri, String> {
    let value = value.trim();
    let bad = || {
        format!(
            "AWS_LAMBDA_RUNTIME_API={value:?} is not an address (host:port or \
             http://host:port/prefix)"
        )
    };
    let full = match value.split_once("://") {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("http") => value.to_string(),
        Some(_) => {
            return Err(format!(
                "AWS_LAMBDA_RUNTIME_API={value:?}: the Runtime API speaks plain http"
            ));
        }
        None => format!("http://{value}"),
    };
    let uri: Uri = full.parse().map_err(|_| bad())?;
    let Some(authority) = uri.authority().map(|a| a.as_str().to_string()) else {
        return Err(bad());
    };
    if authority.contains('@') || authority.starts_with(':') {
        return Err(bad());
    }
    // A port, unless the host is a bracketed IPv6 address alone ("[::1]"), must be a number.
    if let Some(i) = authority.rfind(':')
        && !authority[i..].contains(']')
        && authority[i + 1..].parse::<u16>().is_err()
    {
        return Err(format!(
            "AWS_LAMBDA_RUNTIME_API={value:?}: {:?} is not a port number",
            &authority[i + 1..]
        ));
    }
    if uri.query().is_some() || full.contains('#') {
        return Err(bad());
    }
    Ok(uri)
}

/// The Runtime API: requests built with AWS's client's `build_request` and `Body`, sent on one
/// kept-alive HTTP/1.1 connection (hyper's `client::conn::http1`) that is driven on the loop's
/// own task.
///
/// `lambda_runtime_api_client`'s `PooledClient` runs the same hyper connection in a task of its
/// own behind hyper-util's pool, so each request and each answer crossed between two tasks and
/// went through the pool's checkout and return: a warm hello-world invocation took 254,000
/// instructions with it and 218,000 without (callgrind; README.md, "Speed"). The loop
/// sends one request at a time and has nothing else to do meanwhile, so the connection is
/// polled only while a request or an answer's body is under way, by the future waiting for it.
pub struct Api {
    /// Where to connect: `host:port`.
    address: String,
    /// The `Host` header every request carries (RFC 9112 section 3.2).
    host: HeaderValue,
    /// The base URL's path without its trailing `/`: empty, or an emulator's prefix (`/.rt`).
    prefix: String,
    /// `GET .../runtime/invocation/next`, made once.
    next_uri: Uri,
    user_agent: HeaderValue,
    connection: Option<Connection>,
    /// Whether an answer may be waited for in a blocking read ([`Socket`]): not until the
    /// first invocation has arrived, so that during init, while `/next` waits for the
    /// function's extensions to finish theirs, tokio runs the shutdown extension's task.
    blocking_waits: bool,
}

/// hyper's half of a connection that reads and writes the socket.
type Driver = http1::Connection<Socket, Body>;

/// The kept-alive connection.
struct Connection {
    sender: http1::SendRequest<Body>,
    /// `None` once the connection has ended (closed by the server, or failed).
    driver: Option<Driver>,
    wait: Arc<Wait>,
}

/// A `/next` that did not hand out an invocation.
#[derive(Debug)]
pub enum NextError {
    /// No answer: the Runtime API is gone.
    Gone(String),
    /// An answer other than 200, and what it said.
    Status(u16, String),
}

/// Runs `work` to its end while driving the connection on this same task: the connection's
/// reads and writes happen when it is polled, and `work` (waiting for an answer, or reading its
/// body) is woken by them. When the connection ends, hyper fails whatever it still had, so
/// `work` ends too.
///
/// With `wait`, once a whole request has been written and `work` waits for its answer, the
/// connection is polled once more with its socket's read allowed to block until the answer
/// comes ([`Socket`]), rather than going back to tokio to wait for it.
async fn drive<F: Future>(driver: &mut Option<Driver>, wait: Option<&Wait>, work: F) -> F::Output {
    let mut work = pin!(work);
    std::future::poll_fn(|cx| {
        // The connection first: what it reads is then there for `work`, which need not wait
        // (and arm its timer) for it.
        poll_driver(driver, cx);
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        match wait {
            Some(wait) if driver.is_some() && wait.take_due() => {
                wait.block_once(|| poll_driver(driver, cx));
                work.as_mut().poll(cx)
            }
            _ => Poll::Pending,
        }
    })
    .await
}

/// Polls the connection; one that has ended is dropped, which fails what hyper still held for
/// the request's side.
fn poll_driver(driver: &mut Option<Driver>, cx: &mut std::task::Context<'_>) {
    if let Some(connection) = driver
        && Pin::new(connection).poll(cx).is_ready()
    {
        *driver = None;
    }
}

impl Api {
    pub fn new(base: Uri) -> Api {
        // `endpoint` made `base`, with an authority.
        let authority = base.authority().map_or("", |a| a.as_str());
        let address = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => authority.to_string(),
            _ => format!("{authority}:80"),
        };
        let prefix = base.path().trim_end_matches('/').to_string();
        let next_uri = format!("{prefix}{API_VERSION}/runtime/invocation/next")
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/2018-06-01/runtime/invocation/next"));
        Api {
            host: HeaderValue::from_str(authority).unwrap_or(HeaderValue::from_static("localhost")),
            address,
            prefix,
            next_uri,
            connection: None,
            blocking_waits: false,
            user_agent: HeaderValue::from_str(&format!("rwsgi/{}", crate::VERSION))
                .unwrap_or(HeaderValue::from_static("rwsgi")),
        }
    }

    /// The same Runtime API with no connection yet: after a SnapStart restore the old one's
    /// kept-alive connection leads nowhere.
    pub fn reopened(mut self) -> Api {
        self.connection = None;
        self
    }

    /// A request to `uri`, with the `Host` and `User-Agent` every request carries.
    fn request(&self, method: Method, uri: Uri) -> http::request::Builder {
        build_request()
            .method(method)
            .uri(uri)
            .header(http::header::HOST, self.host.clone())
    }

    /// The path's URI, after the base path and the version prefix.
    fn uri(&self, path: &str) -> std::result::Result<Uri, String> {
        Uri::try_from([&self.prefix, API_VERSION, path].concat()).map_err(|e| e.to_string())
    }

    async fn connect(&self) -> std::result::Result<Connection, String> {
        let stream = tokio::net::TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.address))?;
        // Each request is written whole and then waited on: Nagle's algorithm would only hold
        // a short final segment back until the previous one is acknowledged.
        let _ = stream.set_nodelay(true);
        let (socket, wait) =
            Socket::new(stream).map_err(|e| format!("cannot connect to {}: {e}", self.address))?;
        let (sender, driver) = http1::Builder::new()
            .read_buf_exact_size(Some(READ_BUFFER))
            .handshake(socket)
            .await
            .map_err(|e| chain(&e))?;
        Ok(Connection {
            sender,
            driver: Some(driver),
            wait,
        })
    }

    /// Sends `request` and waits for the answer's head, on the kept-alive connection, opened
    /// first when there is none or it has ended. A request the connection never took (it
    /// closed before the request was written) is sent again, once, on a new one; a request
    /// that may have reached the server is not (RFC 9110 section 9.2.2).
    async fn send(
        &mut self,
        request: http::Request<Body>,
    ) -> std::result::Result<http::Response<Incoming>, String> {
        self.send_beside(request, std::future::ready(()), false)
            .await
            .0
    }

    /// [`send`](Api::send), with `beside` (what feeds a streamed request's body, `streamed`)
    /// run alongside until both are done. The connection is driven all along: a server may
    /// answer before the body has ended, and the body must still be written.
    async fn send_beside<F: Future>(
        &mut self,
        mut request: http::Request<Body>,
        beside: F,
        streamed: bool,
    ) -> (
        std::result::Result<http::Response<Incoming>, String>,
        F::Output,
    ) {
        request
            .headers_mut()
            .insert(http::header::USER_AGENT, self.user_agent.clone());
        let mut beside = pin!(beside);
        let mut beside_out = None;
        let mut retried = false;
        let failure = loop {
            let connection = match self.connection.take() {
                Some(c) if c.driver.is_some() && !c.sender.is_closed() => c,
                _ => match self.connect().await {
                    Ok(c) => c,
                    Err(e) => break e,
                },
            };
            let connection = self.connection.insert(connection);
            // hyper takes a request once the connection has asked for one; one that closes
            // first has taken nothing.
            if let Err(e) = drive(&mut connection.driver, None, connection.sender.ready()).await {
                self.connection = None;
                if retried {
                    break chain(&e);
                }
                retried = true;
                continue;
            }
            let mut sent = pin!(connection.sender.try_send_request(request));
            let mut answer = None;
            let both = std::future::poll_fn(|cx| {
                if answer.is_none()
                    && let Poll::Ready(a) = sent.as_mut().poll(cx)
                {
                    answer = Some(a);
                }
                if beside_out.is_none()
                    && let Poll::Ready(out) = beside.as_mut().poll(cx)
                {
                    beside_out = Some(out);
                }
                match answer.take() {
                    // A failed request waits for nothing more: its body is dropped with it.
                    Some(Err(e)) => Poll::Ready(Err(e)),
                    Some(Ok(a)) if beside_out.is_some() => Poll::Ready(Ok(a)),
                    other => {
                        answer = other;
                        Poll::Pending
                    }
                }
            });
            // A streamed request's body is written while hyper also reads (to see the
            // connection close): no read of it may block.
            let wait = (self.blocking_waits && !streamed).then_some(&*connection.wait);
            if let Some(wait) = wait {
                wait.arm();
            }
            match drive(&mut connection.driver, wait, both).await {
                Ok(answer) => {
                    if let Some(out) = beside_out {
                        return (Ok(answer), out);
                    }
                    break "the request ended before its body".into();
                }
                Err(mut e) => {
                    self.connection = None;
                    match e.take_message() {
                        Some(unsent) if !retried => {
                            request = unsent;
                            retried = true;
                        }
                        _ => break chain(e.error()),
                    }
                }
            }
        };
        // The request, and with it the receiving end of its body, is gone: `beside` ends.
        let out = match beside_out {
            Some(out) => out,
            None => beside.await,
        };
        (Err(failure), out)
    }

    /// An answer's body, up to `limit` bytes, within [`BODY_STALL`]. A connection whose answer
    /// was not read to its end is not used again.
    async fn read(&mut self, body: Incoming, limit: usize) -> std::result::Result<Vec<u8>, String> {
        let mut none = None;
        let driver = match &mut self.connection {
            Some(connection) => &mut connection.driver,
            None => &mut none,
        };
        let read = drive(driver, None, read_body(body, limit)).await;
        if read.is_err() {
            self.connection = None;
        }
        read
    }

    /// `GET /runtime/restore/next` (SnapStart): answered once the environment is restored
    /// from its snapshot.
    pub async fn restore_next(&mut self) -> std::result::Result<(), String> {
        let path = "GET /runtime/restore/next";
        let request = self
            .uri("/runtime/restore/next")
            .and_then(|uri| {
                self.request(Method::GET, uri)
                    .body(Body::empty())
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| format!("{path}: {e}"))?;
        let answer = self
            .send(request)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        let (parts, body) = answer.into_parts();
        let said = self
            .read(body, MAX_QUOTED)
            .await
            .map_err(|e| format!("{path}: {e}"))?;
        if !parts.status.is_success() {
            return Err(format!(
                "{path} was answered {}: {}",
                parts.status.as_u16(),
                quote(&said)
            ));
        }
        Ok(())
    }

    /// `GET /runtime/invocation/next`: waits for the next invocation.
    pub async fn next(&mut self) -> std::result::Result<Next, NextError> {
        let path = "/runtime/invocation/next";
        let request = self
            .request(Method::GET, self.next_uri.clone())
            .body(Body::empty())
            .map_err(|e| NextError::Gone(format!("GET {path}: {e}")))?;
        let answer = self
            .send(request)
            .await
            .map_err(|e| NextError::Gone(format!("GET {path}: {e}")))?;
        let (parts, body) = answer.into_parts();
        let event = self
            .read(body, MAX_EVENT)
            .await
            .map_err(|e| NextError::Gone(format!("GET {path}: the event: {e}")))?;
        if parts.status != 200 {
            return Err(NextError::Status(parts.status.as_u16(), quote(&event)));
        }
        self.blocking_waits = true;
        Ok(Next {
            headers: parts.headers,
            event,
        })
    }

    /// POSTs a result or an error to `path` (after the version prefix); an answer other than
    /// 2xx is an error. The body is AWS's client's `Body`, which is also what a streamed
    /// response is sent as.
    pub async fn post(
        &mut self,
        path: &str,
        body: Body,
        error_type: Option<&str>,
        invocation_id: Option<&HeaderValue>,
    ) -> std::result::Result<(), String> {
        let what = || format!("POST {path}");
        let uri = self.uri(path).map_err(|e| format!("{}: {e}", what()))?;
        let mut request = self
            .request(Method::POST, uri)
            .header(http::header::CONTENT_TYPE, "application/json");
        if let Some(kind) = error_type {
            // A header value cannot hold control characters (RFC 9110 section 5.5).
            let kind: String = kind.chars().filter(|c| (' '..='~').contains(c)).collect();
            if let Ok(value) = HeaderValue::from_str(&kind) {
                request = request.header(ERROR_TYPE_HEADER, value);
            }
        }
        if let Some(id) = invocation_id {
            request = request.header(INVOCATION_ID_HEADER, id.clone());
        }
        let request = request.body(body).map_err(|e| format!("{}: {e}", what()))?;
        let answer = self.send(request).await;
        self.answered(what, answer).await
    }

    /// What the Runtime API answered a POST: `Ok` for 2xx, else the error to log.
    async fn answered(
        &mut self,
        what: impl Fn() -> String,
        answer: std::result::Result<http::Response<Incoming>, String>,
    ) -> std::result::Result<(), String> {
        let answer = answer.map_err(|e| format!("{}: {e}", what()))?;
        let (parts, body) = answer.into_parts();
        let status = parts.status;
        if status.is_success() {
            // Read to the end, so the connection can carry the next request.
            let _ = self.read(body, MAX_QUOTED).await;
            return Ok(());
        }
        let said = self
            .read(body, MAX_QUOTED)
            .await
            .map(|b| quote(&b))
            .unwrap_or_default();
        let mut message = format!("{} was answered {}: {said}", what(), status.as_u16());
        if status == http::StatusCode::GONE {
            message.push_str(
                " (the invocation had timed out or been answered; its reply was refused)",
            );
        }
        Err(message)
    }
}

impl Api {
    /// POSTs a streamed response to `path`: the prelude, the delimiter, then each event from
    /// `rx` as it comes ("Response streaming for custom runtimes",
    /// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html#runtimes-custom-response-streaming).
    /// A body cut short ends with the `Lambda-Runtime-Function-Error-Type` and `-Body`
    /// trailers, the body being the base64 of the error JSON; they are real HTTP trailers,
    /// declared in a `Trailer` header, which `lambda_runtime` 1.5's `StreamResponse` does not
    /// send (it writes them into the body as text), hence this writer.
    pub async fn stream(
        &mut self,
        path: &str,
        prelude: Vec<u8>,
        mut rx: tokio::sync::mpsc::Receiver<Streamed>,
        invocation_id: Option<&HeaderValue>,
    ) -> std::result::Result<(), String> {
        const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
        const ERROR_BODY: &str = "lambda-runtime-function-error-body";
        let what = format!("POST {path} (streamed)");
        let uri = self.uri(path).map_err(|e| format!("{what}: {e}"))?;
        let (mut sender, body) = Body::channel();
        let mut request = self
            .request(Method::POST, uri)
            // The HTTP-integration framing: a JSON prelude, eight NULs, then the body.
            .header(
                http::header::CONTENT_TYPE,
                "application/vnd.awslambda.http-integration-response",
            )
            .header("lambda-runtime-function-response-mode", "streaming")
            .header(http::header::TRANSFER_ENCODING, "chunked")
            // hyper sends only the trailers its request's `Trailer` header names.
            .header(http::header::TRAILER, format!("{ERROR_TYPE}, {ERROR_BODY}"));
        if let Some(id) = invocation_id {
            request = request.header(INVOCATION_ID_HEADER, id.clone());
        }
        let request = request.body(body).map_err(|e| format!("{what}: {e}"))?;
        let pump = async move {
            // The prelude and the delimiter go as chunks of their own: `cargo lambda watch`
            // reads the first chunk as the whole prelude and the second as the delimiter.
            sender.send_data(prelude.into()).await?;
            sender
                .send_data(Bytes::from_static(&stream::DELIMITER))
                .await?;
            let failure = loop {
                match rx.recv().await {
                    Some(Streamed::Body(chunk)) => sender.send_data(chunk.into()).await?,
                    Some(Streamed::End) => break None,
                    Some(Streamed::Failed(report)) => break Some(report),
                    Some(Streamed::Head(_) | Streamed::Buffered(_)) | None => {
                        break Some(ErrorReport {
                            error_type: "Runtime.StreamError".into(),
                            message: "the response stream ended without finishing".into(),
                            stack: Vec::new(),
                        });
                    }
                }
            };
            if let Some(report) = &failure {
                let mut trailers = HeaderMap::new();
                let kind: String = report
                    .error_type
                    .chars()
                    .filter(|c| (' '..='~').contains(c))
                    .collect();
                if let Ok(value) = HeaderValue::from_str(&kind) {
                    trailers.insert(ERROR_TYPE, value);
                }
                let encoded = base64::engine::general_purpose::STANDARD.encode(error_body(report));
                if let Ok(value) = HeaderValue::from_str(&encoded) {
                    trailers.insert(ERROR_BODY, value);
                }
                sender.send_trailers(trailers).await?;
            }
            // Dropping the sender ends the body: hyper writes the last chunk (and trailers).
            Ok::<_, lambda_runtime_api_client::Error>(failure)
        };
        let (answer, pumped) = self.send_beside(request, pump, true).await;
        match pumped {
            Ok(Some(report)) => crate::log::error(&format!(
                "the streamed response was cut short ({}: {}); reported in its trailers",
                report.error_type, report.message
            )),
            Ok(None) => {}
            Err(e) => {
                let answered = self.answered(|| what.clone(), answer).await.err();
                return Err(format!(
                    "{what}: the connection closed while the body was being sent ({}); the \
                     application was stopped and its close() called",
                    answered.unwrap_or_else(|| e.to_string())
                ));
            }
        }
        self.answered(|| what.clone(), answer).await
    }
}

/// An answer's body, up to `limit` bytes, within [`BODY_STALL`]: read into one buffer of the
/// `Content-Length`'s size (hyper hands the body over in pieces that share its read buffer).
async fn read_body(mut body: Incoming, limit: usize) -> std::result::Result<Vec<u8>, String> {
    let read = async move {
        let length = body.size_hint().exact().unwrap_or(0);
        let mut out = Vec::with_capacity(usize::try_from(length).unwrap_or(limit).min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| chain(&e))?;
            if let Ok(data) = frame.into_data() {
                if data.len() > limit - out.len() {
                    return Err("length limit exceeded".to_string());
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(out)
    };
    match tokio::time::timeout(BODY_STALL, read).await {
        Ok(read) => read,
        Err(_) => Err(format!(
            "the answer stopped arriving for {} s after its head",
            BODY_STALL.as_secs()
        )),
    }
}

/// An error with its causes: hyper's own message ("client error (Connect)") says little alone.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

fn quote(body: &[u8]) -> String {
    String::from_utf8_lossy(body).trim().to_string()
}

/// Runs the runtime loop until the Runtime API goes away. Returns the exit status.
pub(crate) fn main(_args: Vec<OsString>) -> Result<ExitStatus> {
    crate::log::set_json(
        std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")),
    );
    let address = crate::env_nonempty("AWS_LAMBDA_RUNTIME_API").ok_or_else(|| {
        Error::Usage(
            "AWS_LAMBDA_RUNTIME_API is not set: `rwsgi lambda` runs inside AWS Lambda or next to \
             a Runtime API emulator (to try an event locally, use `rwsgi event FILE`)"
                .into(),
        )
    })?;
    let base = endpoint(&address).map_err(Error::Usage)?;
    // AWS's client crate, which the shutdown extension registers through, reads the variable
    // itself and panics on a value that is not a URI on its own: a base URL with a path prefix
    // but no scheme (`127.0.0.1:9000/.rt/app`), which `endpoint` takes. Such a value is given
    // its `http://` here, the same address in the form both read.
    if http::Uri::try_from(address.as_str()).is_err() {
        // SAFETY: nothing else runs yet to read or change the environment: no thread has been
        // started, and Python is not yet initialised.
        unsafe { std::env::set_var("AWS_LAMBDA_RUNTIME_API", base.to_string()) };
    }
    // A long-running process that handles large bodies one after another: the app's body and
    // reply as Python `bytes` come from glibc's malloc (rwsgi's own buffers come from mimalloc,
    // see src/main.rs), and glibc raises its mmap threshold each time a large block is freed,
    // after which multi-megabyte blocks come from the heap and the freed space is not given
    // back, so the peak grows invocation after invocation. A fixed threshold keeps every large
    // block in its own mapping, returned when freed.
    // SAFETY: mallopt has no preconditions; it is called before any other thread exists.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024) };

    let mut base_dirs = Vec::new();
    if let Some(root) = std::env::var_os("LAMBDA_TASK_ROOT").filter(|r| !r.is_empty()) {
        base_dirs.push(PathBuf::from(root));
    }
    base_dirs.push(PathBuf::from("/opt/python"));
    let loaded = init(app_from_env(), base_dirs, None);
    let loaded = match loaded {
        Ok(handler) if super::snapstart::enabled() => {
            super::snapstart::before_snapshot().map(|()| handler)
        }
        other => other,
    };
    let loaded = match (loaded, super::concurrency::slots()) {
        (Ok(handler), Some(slots)) => return super::concurrency::run(slots, base, handler),
        (loaded, _) => loaded,
    };
    run_loop(base, loaded)
}

/// Makes the event loop and serves on it until the Runtime API goes away.
pub(super) fn run_loop(
    base: Uri,
    loaded: std::result::Result<Handler, ErrorReport>,
) -> Result<ExitStatus> {
    // The event loop is made after the import: nothing of it exists in a process the app's
    // import forks, and a process that forks workers after init gives each its own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        // A streamed reply runs the app on a blocking thread (`streamed`). Kept alive, that
        // thread is the same one invocation after invocation, as the thread a buffered reply
        // runs on is: thread-local state the app keeps (connections, caches) lasts, rather than
        // ending whenever the function sat idle for tokio's default 10 s.
        .thread_keep_alive(Duration::from_secs(365 * 24 * 3600))
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the Runtime API client: {e}")))?;
    Ok(runtime.block_on(serve(Api::new(base), loaded)))
}

/// Reports a failed init, or serves invocations until the Runtime API goes away.
async fn serve(mut api: Api, loaded: std::result::Result<Handler, ErrorReport>) -> ExitStatus {
    let handler = match loaded {
        Ok(h) => h,
        Err(report) => {
            crate::log::error(&format!(
                "init failed ({}): {}\n{}",
                report.error_type,
                report.message,
                report.stack.concat()
            ));
            let body = Body::from(error_body(&report));
            if let Err(e) = api
                .post("/runtime/init/error", body, Some(&report.error_type), None)
                .await
            {
                crate::log::error(&format!("cannot report the init error: {e}"));
            }
            return super::snapstart::init_failure_status(&report);
        }
    };
    super::shutdown::start().await;
    let mut api = if super::snapstart::enabled() {
        match super::snapstart::restore(api).await {
            Ok(api) => api,
            Err(status) => return status,
        }
    } else {
        api
    };
    let config = FunctionConfig::from_env();
    let handler = Arc::new(handler);
    loop {
        let next = match api.next().await {
            Ok(next) => next,
            Err(NextError::Gone(e)) => {
                crate::log::error(&format!("the Runtime API is gone, stopping: {e}"));
                return ExitStatus::Failure;
            }
            Err(NextError::Status(408, _)) => {
                // A local emulator's request timeout (`cargo lambda watch --timeout`) on the
                // long poll: nothing was handed out, so ask again, after a pause in case the
                // emulator answers each poll at once.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            Err(NextError::Status(status, said)) => {
                crate::log::error(&format!(
                    "GET /runtime/invocation/next was answered {status}: {said}; stopping"
                ));
                return ExitStatus::Failure;
            }
        };
        let Some(request_id) = next.nonempty(&REQUEST_ID) else {
            crate::log::error(
                "an invocation came without Lambda-Runtime-Aws-Request-Id; skipping it",
            );
            continue;
        };
        invoke(&mut api, &handler, &config, &request_id, next).await;
        crate::log::set_request_id(None);
    }
}

/// Runs one invocation and posts its result.
async fn invoke(
    api: &mut Api,
    handler: &Arc<Handler>,
    config: &FunctionConfig,
    id: &str,
    next: Next,
) {
    let (ctx, trace_id) = invocation_context(id, config, &next);
    // A copy of its own: the answer's header values share hyper's read buffer, which, once they
    // are dropped, takes the next answer in place rather than a new buffer being allocated.
    let invocation_id = next
        .headers
        .get(&INVOCATION_ID_HEADER)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let Next { headers, event } = next;
    drop(headers);
    crate::log::set_request_id(Some(id));
    // Each invocation's X-Ray trace id, where the AWS SDKs look for it.
    python::set_os_environ("_X_AMZN_TRACE_ID", trace_id.as_deref());

    let path = [
        "/runtime/invocation/",
        &crate::http::encode_component(id.as_bytes()),
    ]
    .concat();
    let invocation = if handler.invoke_mode == InvokeMode::ResponseStream {
        match streamed(api, handler, ctx, event, &path, invocation_id.as_ref()).await {
            Some(invocation) => invocation,
            None => return,
        }
    } else {
        handler.handle(event, ctx)
    };
    let posted = match invocation {
        Invocation::Reply { reply, .. } => {
            api.post(
                &[&path, "/response"].concat(),
                Body::from(reply),
                None,
                invocation_id.as_ref(),
            )
            .await
        }
        Invocation::Error(report) => {
            api.post(
                &format!("{path}/error"),
                Body::from(error_body(&report)),
                Some(&report.error_type),
                invocation_id.as_ref(),
            )
            .await
        }
    };
    if let Err(e) = posted {
        // The Runtime API refused this one answer (too large, or the invocation timed out):
        // the function goes on with the next invocation.
        crate::log::error(&e);
    }
}

/// Runs one invocation with its reply streamed. The app runs on a blocking thread and hands
/// each chunk over a small bounded channel: on this current-thread runtime, iterating the app
/// here would hold each chunk back until the next one was made. Returns the invocation to
/// post as usual when it is not streamed (not HTTP, or a front door that cannot stream).
async fn streamed(
    api: &mut Api,
    handler: &Arc<Handler>,
    ctx: InvocationContext,
    event: Vec<u8>,
    path: &str,
    invocation_id: Option<&HeaderValue>,
) -> Option<Invocation> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(stream::CHANNEL_DEPTH);
    let worker = {
        let handler = handler.clone();
        tokio::task::spawn_blocking(move || handler.handle_streamed(event, ctx, tx))
    };
    let mut buffered = None;
    let posted = match rx.recv().await {
        Some(Streamed::Buffered(invocation)) => {
            buffered = Some(invocation);
            Ok(())
        }
        Some(Streamed::Head(prelude)) => {
            api.stream(&format!("{path}/response"), prelude, rx, invocation_id)
                .await
        }
        _ => Err("the application's thread ended without a response".to_string()),
    };
    // The app's thread is done (its close() called) before the next invocation starts.
    if let Err(e) = worker.await {
        crate::log::error(&format!("the application's thread failed: {e}"));
    }
    if let Err(e) = posted {
        crate::log::error(&e);
    }
    buffered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let ok = |s: &str| endpoint(s).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:9001"), "http://127.0.0.1:9001/");
        assert_eq!(
            ok("http://127.0.0.1:9000/.rt/"),
            "http://127.0.0.1:9000/.rt/"
        );
        assert_eq!(ok("HTTP://[::1]:9001"), "http://[::1]:9001/");
        assert_eq!(ok(" localhost:9001 "), "http://localhost:9001/");
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
            assert!(endpoint(bad).is_err(), "{bad:?}");
        }
    }
}
