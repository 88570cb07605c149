//! Response streaming: `RWSGI_INVOKE_MODE=response_stream`.
//!
//! A function URL whose invoke mode is `RESPONSE_STREAM`, and an API Gateway REST API whose
//! integration has `responseTransferMode: STREAM`, invoke the function with
//! `InvokeWithResponseStream` and read its reply as it is written: a JSON prelude (status,
//! headers, cookies), eight NUL bytes, then the body bytes as they come
//! (https://docs.aws.amazon.com/lambda/latest/dg/config-rs-write-functions.html,
//! https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-lambda.html).
//!
//! The WSGI core is the same as for a buffered reply: it drives a [`ResponseSink`] with the
//! head, then each body chunk, and tells it when the app fails after the head
//! ([`ResponseSink::abort`]). [`StreamSink`] turns those calls into [`Streamed`] events on a
//! small bounded channel, which the runtime loop writes to the Runtime API as they come. The app
//! runs on a thread of its own, so a chunk is on the wire before the app makes the next one.

use std::io;
use std::sync::{Arc, Mutex};

use pyo3::Python;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::http::{ResponseHead, ResponseSink};
use crate::lambda::source::{self, Source};
use crate::lambda::{ErrorReport, Handler, Invocation, InvocationContext};
use crate::python::Outcome;

/// The largest streamed body: "The maximum response payload size for response streaming is
/// 200 MB" (https://docs.aws.amazon.com/lambda/latest/dg/configuration-response-streaming.html).
pub const MAX_STREAM_BYTES: u64 = 200 * 1024 * 1024;

/// What separates the prelude from the body: eight NUL bytes, which JSON text cannot hold.
pub const DELIMITER: [u8; 8] = [0; 8];

/// How many events may wait between the app's thread and the connection. A few: enough that
/// the app does not wait on every write, few enough that a large body is never held.
pub const CHANNEL_DEPTH: usize = 4;

/// `RWSGI_INVOKE_MODE`, named after AWS Lambda Web Adapter's `AWS_LWA_INVOKE_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InvokeMode {
    #[default]
    Buffered,
    ResponseStream,
}

impl InvokeMode {
    /// The mode a variable's value names; unset or empty is `buffered`.
    pub fn parse(value: Option<&str>) -> Result<InvokeMode, String> {
        let Some(text) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(InvokeMode::Buffered);
        };
        match text.to_ascii_lowercase().as_str() {
            "buffered" => Ok(InvokeMode::Buffered),
            "response_stream" => Ok(InvokeMode::ResponseStream),
            _ => Err(format!(
                "RWSGI_INVOKE_MODE={text:?} is not an invoke mode: use buffered (the default) or \
                 response_stream (for a function URL with InvokeMode RESPONSE_STREAM, or a REST \
                 API integration with responseTransferMode STREAM)"
            )),
        }
    }
}

/// Whether replies to `source` can be streamed: function URLs and REST APIs invoke with
/// `InvokeWithResponseStream`; HTTP APIs, ALBs and VPC Lattice read a whole JSON reply.
pub fn can_stream(source: Source) -> bool {
    matches!(source, Source::FunctionUrl | Source::RestApi)
}

/// One step of a streamed invocation, from the app's thread to the connection.
#[derive(Debug)]
pub enum Streamed {
    /// This invocation is not streamed (not HTTP, or a front door that cannot stream): post
    /// it as usual.
    Buffered(Invocation),
    /// The prelude's JSON.
    Head(Vec<u8>),
    Body(Vec<u8>),
    /// The body is complete.
    End,
    /// The body is cut short: sent as the error trailers.
    Failed(ErrorReport),
}

/// The prelude for `source`: status, headers and cookies. Every `Set-Cookie` goes in
/// `cookies`, never joined (RFC 6265 section 3: its dates hold commas); other repeated headers
/// are joined with `, ` (RFC 9110 section 5.3). A REST API's prelude has `multiValueHeaders`
/// too, the shape API Gateway documents for a streamed proxy reply; the headers go there, one
/// list item per value, and `headers` is left empty so no value arrives twice.
pub fn prelude(source: Source, head: &ResponseHead) -> Vec<u8> {
    let mut cookies = Vec::new();
    let mut joined: Map<String, Value> = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in &head.headers {
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("set-cookie") {
            cookies.push(value.to_string());
            continue;
        }
        let key = joined
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| name.clone());
        match joined.get_mut(&key) {
            Some(Value::String(v)) => {
                v.push_str(", ");
                v.push_str(value);
            }
            _ => {
                joined.insert(key.clone(), json!(value));
            }
        }
        match multi.get_mut(&key) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi.insert(key, json!([value]));
            }
        }
    }
    let mut prelude = Map::new();
    prelude.insert("statusCode".into(), json!(head.status.code));
    if source == Source::RestApi {
        prelude.insert("headers".into(), Value::Object(Map::new()));
        prelude.insert("multiValueHeaders".into(), Value::Object(multi));
    } else {
        prelude.insert("headers".into(), Value::Object(joined));
    }
    // Always present, even empty: `cargo lambda watch` refuses a prelude without it.
    prelude.insert("cookies".into(), json!(cookies));
    serde_json::to_vec(&Value::Object(prelude)).unwrap_or_default()
}

/// The sink a streamed response goes to: each call becomes a [`Streamed`] event.
pub struct StreamSink {
    tx: mpsc::Sender<Streamed>,
    source: Source,
    head_sent: bool,
    sent: u64,
    /// Why the body is cut short, when it is: the app's error, or the size limit.
    failure: Option<ErrorReport>,
}

impl StreamSink {
    pub fn new(tx: mpsc::Sender<Streamed>, source: Source) -> StreamSink {
        StreamSink {
            tx,
            source,
            head_sent: false,
            sent: 0,
            failure: None,
        }
    }

    /// Hands `event` to the connection, waiting while the channel is full (the network is
    /// slower than the app). The GIL is let go meanwhile, so other Python threads run.
    fn push(&self, event: Streamed) -> io::Result<()> {
        let tx = &self.tx;
        Python::attach(|py| py.detach(|| tx.blocking_send(event))).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the Runtime API closed the streamed response",
            )
        })
    }

    /// The event that ends the stream, after the core has returned `outcome`; `None` when
    /// there is no one left to tell (the connection is gone).
    fn last(&mut self, outcome: Outcome) -> Option<Streamed> {
        match outcome {
            Outcome::Complete | Outcome::FailedBeforeHeaders => {
                Some(self.failure.take().map_or(Streamed::End, Streamed::Failed))
            }
            Outcome::FailedAfterHeaders | Outcome::Interrupted => {
                Some(Streamed::Failed(self.failure.take().unwrap_or_else(|| {
                    ErrorReport {
                        error_type: "Runtime.StreamError".into(),
                        message: "the application failed while streaming its response".into(),
                        stack: Vec::new(),
                    }
                })))
            }
            // The size limit stops the app through the sink; a closed connection does too,
            // and then nothing more can be sent.
            Outcome::SinkFailed(_) => self.failure.take().map(Streamed::Failed),
        }
    }
}

impl ResponseSink for StreamSink {
    fn send_head(&mut self, head: &ResponseHead, _body_len: Option<u64>) -> io::Result<()> {
        self.head_sent = true;
        self.push(Streamed::Head(prelude(self.source, head)))
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.sent += chunk.len() as u64;
        if self.sent > MAX_STREAM_BYTES {
            let message = format!(
                "the streamed response passed the {MAX_STREAM_BYTES} bytes (200 MiB) a streamed \
                 Lambda response may have; it is cut short there and reported as an error"
            );
            crate::log::error(&message);
            self.failure = Some(ErrorReport {
                error_type: "Rwsgi.ResponseTooLarge".into(),
                message,
                stack: Vec::new(),
            });
            return Err(io::Error::other("the streamed response is over 200 MiB"));
        }
        self.push(Streamed::Body(chunk.to_vec()))
    }

    fn abort(&mut self, error_type: &str, message: &str, stack: &[String]) {
        self.failure = Some(ErrorReport {
            error_type: error_type.into(),
            message: message.into(),
            stack: stack.to_vec(),
        });
    }
}

impl Handler {
    /// Runs one event with its reply streamed to `tx`: an HTTP event from a front door that
    /// can stream goes through the app into a [`StreamSink`]; anything else is answered as
    /// usual and handed over whole ([`Streamed::Buffered`]). Runs on a thread that may block.
    pub fn handle_streamed(
        &self,
        event_bytes: Vec<u8>,
        ctx: InvocationContext,
        tx: mpsc::Sender<Streamed>,
    ) {
        let event = match Handler::parse(event_bytes) {
            Ok(event) => event,
            Err(invocation) => {
                let _ = tx.blocking_send(Streamed::Buffered(invocation));
                return;
            }
        };
        let source = match source::detect(&event) {
            Some(source) if can_stream(source) => source,
            Some(source) => {
                log_unstreamable_once(source);
                let (reply, app_failed) = self.http(event, source, ctx);
                let _ =
                    tx.blocking_send(Streamed::Buffered(Invocation::Reply { reply, app_failed }));
                return;
            }
            None => {
                let _ = tx.blocking_send(Streamed::Buffered(self.other(&event, ctx)));
                return;
            }
        };
        let sink = Arc::new(Mutex::new(StreamSink::new(tx.clone(), source)));
        let outcome = match source::to_request(&event, source, &self.options) {
            Ok(mut request) => {
                super::attach_invocation(&mut request, event, ctx);
                self.app.call(request, sink.clone())
            }
            Err(e) => {
                crate::log::error(&format!("answering 400 Bad Request: {e}"));
                let (head, body) = ResponseHead::error(400, "Bad Request");
                let mut s = lock(&sink);
                match s.send_head(&head, None).and_then(|()| s.send_body(&body)) {
                    Ok(()) => Outcome::Complete,
                    Err(e) => Outcome::SinkFailed(e),
                }
            }
        };
        let mut s = lock(&sink);
        if !s.head_sent && !matches!(outcome, Outcome::SinkFailed(_)) {
            // The core always sends a head; should it not have, the client still gets an
            // answer rather than a stream with no prelude.
            let (head, body) = ResponseHead::error(500, "Internal Server Error");
            if s.send_head(&head, None)
                .and_then(|()| s.send_body(&body))
                .is_err()
            {
                return;
            }
        }
        if let Some(last) = s.last(outcome) {
            let _ = s.push(last);
        }
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Says once per process why a reply was not streamed although streaming is on.
fn log_unstreamable_once(source: Source) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        crate::log::warn(&format!(
            "RWSGI_INVOKE_MODE=response_stream, but this event comes from a {}, which reads a \
             whole reply and cannot stream: answering buffered (only function URLs and REST APIs \
             stream)",
            source.name()
        ));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Status;

    fn head(headers: &[(&str, &str)]) -> ResponseHead {
        ResponseHead {
            status: Status {
                code: 201,
                line: "201 Created".into(),
            },
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn invoke_modes() {
        assert_eq!(InvokeMode::parse(None), Ok(InvokeMode::Buffered));
        assert_eq!(InvokeMode::parse(Some(" ")), Ok(InvokeMode::Buffered));
        assert_eq!(
            InvokeMode::parse(Some("RESPONSE_STREAM")),
            Ok(InvokeMode::ResponseStream)
        );
        let err = InvokeMode::parse(Some("streaming")).unwrap_err();
        assert!(err.contains("\"streaming\"") && err.contains("response_stream"));
    }

    #[test]
    fn function_url_prelude() {
        let h = head(&[
            ("Content-Type", "text/plain"),
            ("Vary", "Accept"),
            ("vary", "Cookie"),
            ("Set-Cookie", "a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"),
            ("Set-Cookie", " b=2"),
        ]);
        let v: Value = serde_json::from_slice(&prelude(Source::FunctionUrl, &h)).unwrap();
        assert_eq!(
            v,
            json!({
                "statusCode": 201,
                "headers": {"Content-Type": "text/plain", "Vary": "Accept, Cookie"},
                "cookies": ["a=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT", "b=2"],
            })
        );
    }

    /// AWS's own Rust type for a function URL's prelude (`lambda_runtime::MetadataPrelude`,
    /// what `lambda_http` streams with) reads rwsgi's prelude as the same status, headers and
    /// cookies.
    #[test]
    fn function_url_prelude_reads_as_aws_metadata_prelude() {
        let h = head(&[
            ("Content-Type", "text/csv"),
            ("Cache-Control", "no-store"),
            ("Set-Cookie", "a=1; Path=/"),
        ]);
        let aws: lambda_runtime::MetadataPrelude =
            serde_json::from_slice(&prelude(Source::FunctionUrl, &h)).unwrap();
        assert_eq!(aws.status_code.as_u16(), 201);
        assert_eq!(aws.headers.len(), 2);
        assert_eq!(aws.headers["content-type"], "text/csv");
        assert_eq!(aws.headers["cache-control"], "no-store");
        assert_eq!(aws.cookies, ["a=1; Path=/"]);
    }

    #[test]
    fn rest_prelude() {
        let h = head(&[
            ("Vary", "Accept"),
            ("Vary", "Cookie"),
            ("Set-Cookie", "a=1"),
        ]);
        let v: Value = serde_json::from_slice(&prelude(Source::RestApi, &h)).unwrap();
        assert_eq!(
            v,
            json!({
                "statusCode": 201,
                "headers": {},
                "multiValueHeaders": {"Vary": ["Accept", "Cookie"]},
                "cookies": ["a=1"],
            })
        );
        assert!(!prelude(Source::RestApi, &h).contains(&0));
    }
}
