//! Lambda mode: the custom-runtime loop, and the translation it shares with `rwsgi event` and
//! `rwsgi call --via`: event -> [`Request`](crate::http::Request) per front door ([`source`]),
//! the Python core, [`Response`](crate::http::Response) -> reply ([`reply`], with each door's
//! head from [`source`]).

pub(crate) mod concurrency;
mod context;
mod event_handler;
pub(crate) mod local;
pub(crate) mod reply;
pub(crate) mod runtime;
mod shutdown;
pub(crate) mod snapstart;
mod socket;
pub(crate) mod source;
pub(crate) mod stream;

use std::sync::{Arc, Mutex};

use pyo3::prelude::*;

use crate::json::Value;

use crate::http::{BufferedSink, Extension, Response, ResponseHead};
use crate::python::{self, Outcome};
pub(crate) use context::InvocationContext;
pub(crate) use event_handler::EventHandler;
use reply::TextTypes;
use source::{EventOptions, Source};

/// What one invocation produced.
#[derive(Debug)]
pub enum Invocation {
    /// The reply JSON for `/invocation/{id}/response`; `app_failed` when the app raised or broke
    /// the protocol and the reply is rwsgi's 500 in its place.
    Reply { reply: Vec<u8>, app_failed: bool },
    /// An error for `/invocation/{id}/error`.
    Error(ErrorReport),
}

/// The loaded app with everything that shapes its translation.
pub(crate) struct Handler {
    pub app: python::App,
    pub event_handler: Option<EventHandler>,
    pub options: EventOptions,
    pub text_types: TextTypes,
    /// `RWSGI_INVOKE_MODE`: whether HTTP replies are streamed.
    pub invoke_mode: stream::InvokeMode,
}

impl Handler {
    /// Settings from `RWSGI_BASE_PATH` and `RWSGI_TEXT_TYPES`.
    pub(crate) fn settings_from_env() -> (EventOptions, TextTypes) {
        (
            EventOptions {
                base_path: crate::env_nonempty("RWSGI_BASE_PATH"),
                multiprocess: false,
            },
            TextTypes::parse(&crate::env_nonempty("RWSGI_TEXT_TYPES").unwrap_or_default()),
        )
    }

    /// Runs one event: an HTTP event through the app, anything else through the event handler.
    /// The event's bytes are dropped once parsed, and the parsed event goes to the app (as
    /// `rwsgi.event`) rather than being copied, so a large body is held as few times as it can.
    pub(crate) fn handle(&self, event_bytes: Vec<u8>, ctx: InvocationContext) -> Invocation {
        let event = match Handler::parse(event_bytes) {
            Ok(v) => v,
            Err(invocation) => return invocation,
        };
        match source::detect(&event) {
            Some(source) => {
                let (reply, app_failed) = self.http(event, source, ctx);
                Invocation::Reply { reply, app_failed }
            }
            None => self.other(&event, ctx),
        }
    }

    /// The event parsed, or the invocation error for one that is not JSON.
    fn parse(event_bytes: Vec<u8>) -> Result<Value, Invocation> {
        let parsed = Value::from_slice(&event_bytes);
        drop(event_bytes);
        parsed.map_err(|e| {
            Invocation::Error(ErrorReport {
                error_type: "Rwsgi.InvalidEvent".into(),
                message: format!("the event is not valid JSON: {e}"),
                stack: Vec::new(),
            })
        })
    }

    fn http(&self, event: Value, source: Source, ctx: InvocationContext) -> (Vec<u8>, bool) {
        let mut request = match source::to_request(&event, source, &self.options) {
            Ok(r) => r,
            Err(e) => {
                crate::log::error(&format!("answering 400 Bad Request: {e}"));
                let (head, body) = ResponseHead::error(400, "Bad Request");
                let response = Response { head, body };
                return (
                    reply::serialize(source, &response, false, &self.text_types).0,
                    false,
                );
            }
        };
        attach_invocation(&mut request, event, ctx);
        let head_request = request.method.eq_ignore_ascii_case("HEAD");
        // A body past the reply limit can never be sent: the sink refuses it as it comes.
        let sink = Arc::new(Mutex::new(BufferedSink::with_limit(reply::MAX_REPLY_BYTES)));
        let outcome = self.app.call(request, sink.clone());
        let collected = std::mem::take(&mut *sink.lock().unwrap_or_else(|p| p.into_inner()));
        if collected.overflowed() {
            crate::log::error(&reply::too_large_message(
                None,
                reply::MAX_REPLY_BYTES,
                false,
            ));
            return (
                reply::too_large(source, head_request, &self.text_types),
                false,
            );
        }
        let collected = collected.into_response();
        let app_failed = !matches!(outcome, Outcome::Complete);
        let response = match (outcome, collected) {
            (Outcome::Complete | Outcome::FailedBeforeHeaders, Some(r)) => r,
            // Nothing has reached the client yet: a failure after the headers still becomes a
            // clean 500 rather than a truncated body under the app's status.
            _ => {
                let (head, body) = ResponseHead::error(500, "Internal Server Error");
                Response { head, body }
            }
        };
        let (bytes, oversize) = reply::serialize(source, &response, head_request, &self.text_types);
        if let Some(size) = oversize {
            let base64 = reply::sent_as_base64(&response.head, &response.body, &self.text_types);
            crate::log::error(&reply::too_large_message(
                Some(size),
                response.body.len(),
                base64,
            ));
        }
        (bytes, app_failed)
    }

    fn other(&self, event: &Value, ctx: InvocationContext) -> Invocation {
        match &self.event_handler {
            Some(handler) => match handler.call(event, ctx) {
                Ok(reply) => Invocation::Reply {
                    reply: reply.into_bytes(),
                    app_failed: false,
                },
                Err(report) => {
                    crate::log::error(&format!(
                        "RWSGI_EVENT_HANDLER raised {}: {}\n{}",
                        report.error_type,
                        report.message,
                        report.stack.concat()
                    ));
                    Invocation::Error(report)
                }
            },
            None => {
                let keys: Vec<String> = match event {
                    Value::Object(map) => map.keys().cloned().collect(),
                    _ => Vec::new(),
                };
                let what = if event.is_object() {
                    format!("an event with the keys {keys:?}")
                } else {
                    format!("a JSON {} event", json_kind(event))
                };
                Invocation::Error(ErrorReport {
                    error_type: "Rwsgi.UnsupportedEvent".into(),
                    message: format!(
                        "{what} is not an HTTP request from API Gateway, a function URL, an ALB \
                         or VPC Lattice; set RWSGI_EVENT_HANDLER=module:function to handle it"
                    ),
                    stack: Vec::new(),
                })
            }
        }
    }
}

/// What the app finds beside the environ on Lambda: the whole event as `rwsgi.event` and the
/// invocation's context as `rwsgi.context`, whether the reply is buffered or streamed.
fn attach_invocation(request: &mut crate::http::Request, event: Value, ctx: InvocationContext) {
    request
        .extensions
        .push(("rwsgi.event".into(), Extension::Json(event)));
    request
        .extensions
        .push(("rwsgi.context".into(), Extension::Object(Box::new(ctx))));
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An error in the shape of the Runtime API's error body: a Python exception, or rwsgi's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReport {
    /// The exception's class name (`KeyError`), or a `Runtime.*`/`Rwsgi.*` type.
    pub error_type: String,
    pub message: String,
    /// The traceback's frames, one string each, as AWS's Python runtime sends them.
    pub stack: Vec<String>,
}

impl ErrorReport {
    pub fn from_py(py: Python<'_>, err: &PyErr) -> ErrorReport {
        let python::ExceptionInfo {
            type_name,
            message,
            stack,
        } = python::ExceptionInfo::of(py, err);
        ErrorReport {
            error_type: type_name,
            message,
            stack,
        }
    }
}

/// The error body the Runtime API takes (`/init/error`, `/invocation/{id}/error`): AWS's
/// `Diagnostic` (`errorType`, `errorMessage`) and the `stackTrace` that `Diagnostic` has no
/// field for, one string per frame as AWS's Python runtime sends it (the Runtime API's error
/// body, "AWS Lambda runtime API", Invocation error).
pub(crate) fn error_body(report: &ErrorReport) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct ErrorBody<'a> {
        #[serde(flatten)]
        diagnostic: lambda_runtime::Diagnostic,
        #[serde(rename = "stackTrace")]
        stack_trace: &'a [String],
    }
    serde_json::to_vec(&ErrorBody {
        diagnostic: lambda_runtime::Diagnostic {
            error_type: report.error_type.clone(),
            error_message: report.message.clone(),
        },
        stack_trace: &report.stack,
    })
    .unwrap_or_default()
}
