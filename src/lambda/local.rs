//! Lambda without Lambda: `rwsgi event FILE` runs one event as the runtime would, and
//! `rwsgi call --via SOURCE` builds the event a front door would send for a request, runs it
//! through the same translation, and turns the reply back into what that front door would
//! send the client.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Parser, ValueEnum};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::http::{self, Request, Response, ResponseHead, Status};
use crate::lambda::source::common::ViaRequest;
use crate::lambda::source::{self, Source};
use crate::lambda::stream::Streamed;
use crate::lambda::{Handler, Invocation, InvocationContext, error_body, runtime};
use crate::python::Outcome;

/// Run one Lambda event through the app, as the Lambda runtime would, and print the reply JSON.
#[derive(Parser, Debug)]
#[command(name = "rwsgi event", version = crate::VERSION)]
struct EventArgs {
    /// The event: a JSON file, or `-` (the default) for stdin.
    #[arg(value_name = "FILE|-")]
    file: Option<PathBuf>,
    /// The app (default: $RWSGI_APP, else $_HANDLER).
    #[arg(long, value_name = "SPEC")]
    app: Option<String>,
    /// A virtualenv to import from (default: $RWSGI_VENV, else $VIRTUAL_ENV).
    #[arg(long, value_name = "DIR")]
    venv: Option<PathBuf>,
    /// Stream the reply as RWSGI_INVOKE_MODE=response_stream does, printing it as it comes: the
    /// prelude's JSON on a line, then the body (function URL and REST API events).
    #[arg(long)]
    stream: bool,
}

/// `rwsgi event`: exit 0 when a reply was printed, 1 when the invocation was a Lambda error
/// (its error JSON is printed instead).
pub(crate) fn event_main(args: Vec<OsString>) -> Result<ExitStatus> {
    let args = match crate::cli::parse_args::<EventArgs>("rwsgi event", args) {
        Ok(a) => a,
        Err(status) => return Ok(status),
    };
    let mut event = Vec::new();
    match args.file.as_deref() {
        None => std::io::stdin().read_to_end(&mut event),
        Some(p) if p.as_os_str() == "-" => std::io::stdin().read_to_end(&mut event),
        Some(p) => std::fs::File::open(p).and_then(|mut f| f.read_to_end(&mut event)),
    }
    .map_err(|source| Error::ReadFile {
        path: args.file.clone().unwrap_or_else(|| "stdin".into()),
        source,
    })?;
    let out = crate::stdio::private_stdout().map_err(|source| Error::Write {
        what: "stdout".into(),
        source,
    })?;
    let handler = local_handler(args.app, args.venv)?;
    if args.stream {
        return event_streamed(&handler, event, out);
    }
    let (status, text) = match handler.handle(event, made_up_context()) {
        Invocation::Reply { reply, .. } => (ExitStatus::Success, reply),
        Invocation::Error(report) => (ExitStatus::Failure, error_body(&report)),
    };
    let mut out = out;
    let mut text = text;
    text.push(b'\n');
    std::io::Write::write_all(&mut out, &text).map_err(|source| Error::Write {
        what: "stdout".into(),
        source,
    })?;
    Ok(status)
}

/// `rwsgi event --stream`: the prelude's JSON and a newline, then each body chunk as the app
/// makes it. A stream cut short prints its error JSON (what the error trailers carry) to
/// stderr and exits 1.
fn event_streamed(handler: &Handler, event: Vec<u8>, out: std::fs::File) -> Result<ExitStatus> {
    use std::io::Write as _;
    let mut out = out;
    let mut status = ExitStatus::Success;
    let written = run_streamed(handler, event, made_up_context(), |step| {
        match step {
            Streamed::Buffered(Invocation::Reply { mut reply, .. }) => {
                reply.push(b'\n');
                out.write_all(&reply)?;
            }
            Streamed::Buffered(Invocation::Error(report)) => {
                status = ExitStatus::Failure;
                let mut text = error_body(&report);
                text.push(b'\n');
                out.write_all(&text)?;
            }
            Streamed::Head(mut prelude) => {
                prelude.push(b'\n');
                out.write_all(&prelude)?;
            }
            Streamed::Body(chunk) => out.write_all(&chunk)?,
            Streamed::End => {}
            Streamed::Failed(report) => {
                status = ExitStatus::Failure;
                crate::log::error(&format!(
                    "the stream was cut short: {}",
                    String::from_utf8_lossy(&error_body(&report))
                ));
            }
        }
        out.flush()
    });
    written.map_err(|source| Error::Write {
        what: "stdout".into(),
        source,
    })?;
    Ok(status)
}

/// Runs `event` with its reply streamed, handing each step to `each` as the app makes it (on
/// another thread, so the app is never held up by the output more than a few chunks). An
/// error from `each` stops the app, as a closed connection does on Lambda.
pub(crate) fn run_streamed(
    handler: &Handler,
    event: Vec<u8>,
    ctx: InvocationContext,
    mut each: impl FnMut(Streamed) -> std::io::Result<()> + Send,
) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(crate::lambda::stream::CHANNEL_DEPTH);
    std::thread::scope(|scope| {
        let consumer = scope.spawn(move || {
            while let Some(step) = rx.blocking_recv() {
                each(step)?;
            }
            Ok(())
        });
        handler.handle_streamed(event, ctx, tx);
        consumer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the output thread panicked")))
    })
}

/// `rwsgi call --via url|v1 --stream`: the reply streamed, and what the front door sends the
/// client written to `sink` as it comes (the prelude's status and headers, then each chunk).
pub(crate) fn call_streamed<S: http::ResponseSink + ?Sized>(
    handler: &Handler,
    via: Via,
    event: Vec<u8>,
    ctx: InvocationContext,
    sink: std::sync::Arc<std::sync::Mutex<S>>,
) -> Outcome {
    let mut outcome = Outcome::Complete;
    let written = run_streamed(handler, event, ctx, |step| {
        let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
        match step {
            Streamed::Buffered(Invocation::Reply { reply, app_failed }) => {
                let response = serde_json::from_slice::<Value>(&reply)
                    .map_err(|e| format!("the reply is not JSON: {e}"))
                    .and_then(|reply| client_response(via, &reply))
                    .map_err(std::io::Error::other)?;
                if app_failed {
                    outcome = Outcome::FailedBeforeHeaders;
                }
                s.send_head(&response.head, Some(response.body.len() as u64))?;
                s.send_body(&response.body)
            }
            Streamed::Buffered(Invocation::Error(report)) => {
                crate::log::error(&String::from_utf8_lossy(&error_body(&report)));
                outcome = Outcome::FailedBeforeHeaders;
                Ok(())
            }
            Streamed::Head(prelude) => {
                let response = serde_json::from_slice::<Value>(&prelude)
                    .map_err(|e| format!("the prelude is not JSON: {e}"))
                    .and_then(|prelude| client_response(via, &prelude))
                    .map_err(std::io::Error::other)?;
                s.send_head(&response.head, None)
            }
            Streamed::Body(chunk) => s.send_body(&chunk),
            Streamed::End => Ok(()),
            Streamed::Failed(report) => {
                crate::log::error(&format!(
                    "the stream was cut short, reported in its error trailers: {}",
                    String::from_utf8_lossy(&error_body(&report))
                ));
                outcome = Outcome::FailedAfterHeaders;
                Ok(())
            }
        }
    });
    match written {
        Ok(()) => outcome,
        Err(e) => Outcome::SinkFailed(e),
    }
}

/// The app for local runs: imported as on Lambda, but from the current folder (and
/// `LAMBDA_TASK_ROOT` when set); a load failure is an error here, not an init report.
pub(crate) fn local_handler(app: Option<String>, venv: Option<PathBuf>) -> Result<Handler> {
    let app = app.map(|a| (a, false)).or_else(runtime::app_from_env);
    if app.is_none() {
        return Err(Error::Usage(
            "no app given: pass --app SPEC or set RWSGI_APP (or _HANDLER)".into(),
        ));
    }
    let mut dirs = vec![PathBuf::from(".")];
    if let Some(root) = std::env::var_os("LAMBDA_TASK_ROOT").filter(|r| !r.is_empty()) {
        dirs.push(PathBuf::from(root));
    }
    runtime::init(app, dirs, venv).map_err(|report| {
        let detail = report.stack.concat();
        Error::AppInit(format!(
            "cannot load the app ({}): {}{}{}",
            report.error_type,
            report.message,
            if detail.is_empty() { "" } else { "\n" },
            detail.trim_end()
        ))
    })
}

/// A context for local runs: a fresh request id and a minute to run.
pub fn made_up_context() -> InvocationContext {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let name =
        crate::env_nonempty("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|| "rwsgi-local".into());
    InvocationContext {
        aws_request_id: uuid::Uuid::new_v4().to_string(),
        invoked_function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        function_name: name.into(),
        function_version: "$LATEST".into(),
        memory_limit_in_mb: 128,
        log_group_name: "/aws/lambda/rwsgi-local".into(),
        log_stream_name: "local".into(),
        deadline_ms: now.as_millis() as u64 + 60_000,
        ..InvocationContext::default()
    }
}

/// The `--via` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Via {
    /// API Gateway REST API (payload 1.0).
    V1,
    /// API Gateway HTTP API (payload 2.0).
    V2,
    /// A Lambda function URL.
    Url,
    /// An Application Load Balancer (single-value headers, its default).
    Alb,
    /// VPC Lattice (event version 2).
    Lattice,
}

impl Via {
    pub fn source(self) -> Source {
        match self {
            Via::V1 => Source::RestApi,
            Via::V2 => Source::HttpApiV2,
            Via::Url => Source::FunctionUrl,
            Via::Alb => Source::Alb { multi_value: false },
            Via::Lattice => Source::LatticeV2,
        }
    }
}

/// The event `via` would send for `request`, in the shape AWS documents for that source (each
/// door's builder is in its own file under [`crate::lambda::source`]).
pub fn event_for(via: Via, request: Request, ctx: &InvocationContext) -> Result<Value> {
    let request = ViaRequest::new(request, ctx)?;
    match via {
        Via::V1 => source::rest::via_event(&request, ctx),
        Via::V2 => source::http_api::via_event(&request, ctx),
        Via::Url => source::function_url::via_event(&request, ctx),
        Via::Alb => source::alb::via_event(&request, ctx),
        Via::Lattice => source::lattice::via_event(&request, ctx),
    }
}

/// What the front door sends the client for `reply`: status, headers (cookies and multi-value
/// headers spread back out), and the body, base64-decoded (for a REST API, as with binary
/// media types configured).
pub(crate) fn client_response(via: Via, reply: &Value) -> std::result::Result<Response, String> {
    let code = reply
        .get("statusCode")
        .and_then(Value::as_u64)
        .filter(|c| (100..=999).contains(c))
        .ok_or("the reply has no valid statusCode")? as u16;
    let line = match reply.get("statusDescription").and_then(Value::as_str) {
        Some(d) if via == Via::Alb => d.to_string(),
        _ => format!("{code} {}", reason_phrase(code)),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(multi)) = reply.get("multiValueHeaders") {
        for (name, values) in multi {
            for v in values.as_array().into_iter().flatten() {
                headers.push((name.clone(), v.as_str().unwrap_or_default().to_string()));
            }
        }
    }
    if let Some(Value::Object(single)) = reply.get("headers") {
        for (name, value) in single {
            if !headers.iter().any(|(n, _)| n == name) {
                headers.push((name.clone(), value.as_str().unwrap_or_default().to_string()));
            }
        }
    }
    if let Some(Value::Array(cookies)) = reply.get("cookies") {
        for c in cookies {
            headers.push((
                "Set-Cookie".into(),
                c.as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    let text = reply.get("body").and_then(Value::as_str).unwrap_or("");
    let body = if reply.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("the reply's body is not valid base64: {e}"))?
    } else {
        text.as_bytes().to_vec()
    };
    Ok(Response {
        head: ResponseHead {
            status: Status { code, line },
            headers,
        },
        body,
    })
}

/// RFC 9110 section 15 reason phrases, for replies that carry only a code.
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}
