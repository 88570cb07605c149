//! Lambda without Lambda: `rwsgi event FILE` runs one event as the runtime would, and
//! `rwsgi call --via SOURCE` builds the event a front door would send for a request, runs it
//! through the same translation, and turns the reply back into what that front door would
//! send the client.

use std::ffi::OsString;
use std::io::Read;
use std::path::PathBuf;

use base64::Engine as _;
use clap::{Parser, ValueEnum};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::http::{self, InvocationContext, Request, Response, ResponseHead, Status};
use crate::lambda::event::{Source, is_execute_api_host, split_host};
use crate::lambda::stream::Streamed;
use crate::lambda::{Handler, Invocation, error_body, runtime};
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
pub fn event_main(args: Vec<OsString>) -> Result<u8> {
    let args = match crate::cli::parse_args::<EventArgs>("rwsgi event", args) {
        Ok(a) => a,
        Err(code) => return Ok(code),
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
    let (code, text) = match handler.handle(event, made_up_context()) {
        Invocation::Reply { reply, .. } => (0, reply),
        Invocation::Error(report) => (1, error_body(&report)),
    };
    let mut out = out;
    let mut text = text;
    text.push(b'\n');
    std::io::Write::write_all(&mut out, &text).map_err(|source| Error::Write {
        what: "stdout".into(),
        source,
    })?;
    Ok(code)
}

/// `rwsgi event --stream`: the prelude's JSON and a newline, then each body chunk as the app
/// makes it. A stream cut short prints its error JSON (what the error trailers carry) to
/// stderr and exits 1.
fn event_streamed(handler: &Handler, event: Vec<u8>, out: std::fs::File) -> Result<u8> {
    use std::io::Write as _;
    let mut out = out;
    let mut code = 0;
    let written = run_streamed(handler, event, made_up_context(), |step| {
        match step {
            Streamed::Buffered(Invocation::Reply { mut reply, .. }) => {
                reply.push(b'\n');
                out.write_all(&reply)?;
            }
            Streamed::Buffered(Invocation::Error(report)) => {
                code = 1;
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
                code = 1;
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
    Ok(code)
}

/// Runs `event` with its reply streamed, handing each step to `each` as the app makes it (on
/// another thread, so the app is never held up by the output more than a few chunks). An
/// error from `each` stops the app, as a closed connection does on Lambda.
pub fn run_streamed(
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
pub fn call_streamed<S: http::ResponseSink + ?Sized>(
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
pub fn local_handler(app: Option<String>, venv: Option<PathBuf>) -> Result<Handler> {
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
        aws_request_id: request_id(now.as_nanos()),
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

/// A UUID-shaped id, varied by time and process.
fn request_id(seed: u128) -> String {
    let x = seed ^ (u128::from(std::process::id()) << 64);
    let h = format!(
        "{:032x}",
        x.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
    );
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
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

/// The event `via` would send for `request`, in the shape AWS documents for that source.
pub fn event_for(via: Via, mut request: Request, ctx: &InvocationContext) -> Result<Value> {
    let body = http::read_all(std::mem::replace(&mut request.body, http::Body::empty())).map_err(
        |source| Error::ReadFile {
            path: "the request body".into(),
            source,
        },
    )?;
    let (body_text, body_b64) = match String::from_utf8(body) {
        Ok(text) => (Value::String(text), false),
        Err(e) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
            true,
        ),
    };
    let body_text = if body_text.as_str() == Some("") && matches!(via, Via::V1 | Via::Lattice) {
        Value::Null
    } else {
        body_text
    };
    let raw_path = String::from_utf8_lossy(
        &request
            .request_uri
            .clone()
            .map(|u| u.split(|&b| b == b'?').next().unwrap_or_default().to_vec())
            .unwrap_or_else(|| b"/".to_vec()),
    )
    .into_owned();
    let decoded_path = String::from_utf8_lossy(&request.path_info).into_owned();
    let query = String::from_utf8_lossy(&request.query_string).into_owned();
    let query_pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    let decode = |s: &str| {
        String::from_utf8_lossy(&http::percent_decode(s.replace('+', " ").as_bytes())).into_owned()
    };
    // The host the client named (`-H 'Host: ...'` or the URL's): every door's event carries
    // it, in `headers` as given and, without a port, as `requestContext.domainName`, as AWS
    // fills them for the domain the client reached.
    let host = request
        .header("host")
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| request.server_name.clone());
    let domain = split_host(&host).0;
    let domain_prefix = domain.split('.').next().unwrap_or_default().to_string();
    let mut headers: Vec<(String, String)> = request
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
        .collect();
    // What the front door adds: API Gateway and function URLs answer only https on 443;
    // a load balancer forwards the listener's scheme and port.
    let (proto, port) = match via {
        Via::V1 | Via::V2 | Via::Url => ("https".to_string(), "443".to_string()),
        Via::Alb | Via::Lattice => (request.scheme.clone(), request.server_port.clone()),
    };
    headers.retain(|(n, _)| {
        !n.eq_ignore_ascii_case("x-forwarded-proto") && !n.eq_ignore_ascii_case("x-forwarded-port")
    });
    headers.push(("X-Forwarded-Proto".into(), proto));
    headers.push(("X-Forwarded-Port".into(), port));
    let client_ip = "203.0.113.10";
    let epoch_ms = ctx.deadline_ms.saturating_sub(60_000);
    let method = request.method.clone();
    let user_agent = request
        .header("user-agent")
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .unwrap_or_default();

    let event = match via {
        Via::V1 => {
            // A REST API's own execute-api URL names the stage first (`/prod/get`): API Gateway
            // moves it to `requestContext.stage` and gives the rest as `path`, keeping the
            // whole in `requestContext.path`. Behind a custom domain the URL names no stage
            // (the base path mapping picks one), and `path` is the URL's path as sent.
            // https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
            let (stage, path) = if is_execute_api_host(&domain) {
                let rest = raw_path.trim_start_matches('/');
                let (stage, rest) = rest.split_once('/').unwrap_or((rest, ""));
                if stage.is_empty() {
                    return Err(Error::Usage(format!(
                        "a REST API URL on its execute-api domain starts with the stage \
                         (https://{domain}/STAGE/...), but {raw_path:?} names none"
                    )));
                }
                (stage.to_string(), format!("/{rest}"))
            } else {
                ("prod".to_string(), raw_path.clone())
            };
            let resource_path =
                String::from_utf8_lossy(&http::percent_decode(path.as_bytes())).into_owned();
            // `/{proxy+}` matches one segment or more; the root is the `/` resource.
            let (resource, path_parameters) = if path == "/" {
                ("/", Value::Null)
            } else {
                (
                    "/{proxy+}",
                    json!({"proxy": resource_path.trim_start_matches('/')}),
                )
            };
            let mut single = Map::new();
            let mut multi = Map::new();
            for (n, v) in &headers {
                single.insert(n.clone(), json!(v));
                push_multi(&mut multi, n, v);
            }
            let (mut qs, mut mqs) = (Map::new(), Map::new());
            for (k, v) in &query_pairs {
                qs.insert(decode(k), json!(decode(v)));
                push_multi(&mut mqs, &decode(k), &decode(v));
            }
            json!({
                "resource": resource,
                "path": path,
                "httpMethod": method,
                "headers": single,
                "multiValueHeaders": multi,
                "queryStringParameters": if qs.is_empty() { Value::Null } else { Value::Object(qs) },
                "multiValueQueryStringParameters": if mqs.is_empty() { Value::Null } else { Value::Object(mqs) },
                "pathParameters": path_parameters,
                "stageVariables": null,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "rwsgilocal",
                    "domainName": domain,
                    "domainPrefix": domain_prefix,
                    "extendedRequestId": ctx.aws_request_id,
                    "httpMethod": method,
                    "identity": {"sourceIp": client_ip, "userAgent": user_agent},
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "requestId": ctx.aws_request_id,
                    "requestTimeEpoch": epoch_ms,
                    "resourceId": "abc123",
                    "resourcePath": resource,
                    "stage": stage
                },
                "body": body_text,
                "isBase64Encoded": body_b64
            })
        }
        Via::V2 | Via::Url => {
            let mut hmap = Map::new();
            let mut cookies = Vec::new();
            for (n, v) in &headers {
                let name = n.to_ascii_lowercase();
                if name == "cookie" {
                    cookies.extend(
                        v.split(';')
                            .map(|c| c.trim().to_string())
                            .filter(|c| !c.is_empty()),
                    );
                    continue;
                }
                // HTTP APIs and function URLs lower-case names and join repeats with commas.
                match hmap.get_mut(&name) {
                    Some(Value::String(existing)) => {
                        existing.push(',');
                        existing.push_str(v);
                    }
                    _ => {
                        hmap.insert(name, json!(v));
                    }
                }
            }
            let mut qs = Map::new();
            for (k, v) in &query_pairs {
                match qs.get_mut(&decode(k)) {
                    Some(Value::String(existing)) => {
                        existing.push(',');
                        existing.push_str(&decode(v));
                    }
                    _ => {
                        qs.insert(decode(k), json!(decode(v)));
                    }
                }
            }
            // A function URL passes the path as sent; HTTP APIs decode it before building the
            // event. Either way the stage is `$default`, whose URLs carry no stage (a named
            // HTTP API stage stays in `rawPath`; rwsgi's translation takes it off).
            let path = if via == Via::Url {
                raw_path.clone()
            } else {
                decoded_path.clone()
            };
            // A function URL answers only on `<url-id>.lambda-url.<region>.on.aws`, and its
            // events name that domain whatever Host the client sent (which reaches the app
            // in `headers`): a made-up one unless the host given is such a domain.
            let (domain, domain_prefix) = if via == Via::Url
                && !(domain.ends_with(".on.aws") && domain.contains(".lambda-url."))
            {
                (
                    "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws".to_string(),
                    "abcdefghijklmnopqrstuvwxyz012345".to_string(),
                )
            } else {
                (domain.clone(), domain_prefix.clone())
            };
            let mut event = json!({
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": path,
                "rawQueryString": query,
                "headers": hmap,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "rwsgilocal",
                    "domainName": domain,
                    "domainPrefix": domain_prefix,
                    "http": {
                        "method": method,
                        "path": path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": client_ip,
                        "userAgent": user_agent
                    },
                    "requestId": ctx.aws_request_id,
                    "routeKey": "$default",
                    "stage": "$default",
                    "timeEpoch": epoch_ms
                },
                "body": body_text,
                "isBase64Encoded": body_b64
            });
            if !cookies.is_empty() {
                event["cookies"] = json!(cookies);
            }
            if !qs.is_empty() {
                event["queryStringParameters"] = Value::Object(qs);
            }
            event
        }
        Via::Alb => {
            // Single-value mode, an ALB's default: of a repeated header or query key, only the
            // last value reaches the function ("Lambda functions as targets", ELB guide).
            let mut hmap = Map::new();
            for (n, v) in &headers {
                hmap.insert(n.to_ascii_lowercase(), json!(v));
            }
            hmap.insert("x-forwarded-for".into(), json!(client_ip));
            let mut qs = Map::new();
            for (k, v) in &query_pairs {
                qs.insert(k.clone(), json!(v));
            }
            json!({
                "requestContext": {"elb": {"targetGroupArn":
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/rwsgi-local/0123456789abcdef"}},
                "httpMethod": method,
                "path": raw_path,
                "queryStringParameters": qs,
                "headers": hmap,
                "body": body_text,
                "isBase64Encoded": body_b64
            })
        }
        Via::Lattice => {
            let mut hmap = Map::new();
            for (n, v) in &headers {
                push_multi(&mut hmap, &n.to_ascii_lowercase(), v);
            }
            push_multi(&mut hmap, "x-forwarded-for", client_ip);
            let mut qs = Map::new();
            for (k, v) in &query_pairs {
                push_multi(&mut qs, k, v);
            }
            json!({
                "version": "2.0",
                "path": raw_path,
                "method": method,
                "headers": hmap,
                "queryStringParameters": qs,
                "body": body_text,
                "isBase64Encoded": body_b64,
                "requestContext": {
                    "serviceNetworkArn": "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdef0",
                    "serviceArn": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0",
                    "targetGroupArn": "arn:aws:vpc-lattice:us-east-1:123456789012:targetgroup/tg-0123456789abcdef0",
                    "identity": {"sourceVpcArn": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0123456789abcdef0"},
                    "region": "us-east-1",
                    "timeEpoch": (u128::from(epoch_ms) * 1000).to_string()
                }
            })
        }
    };
    Ok(event)
}

fn push_multi(map: &mut Map<String, Value>, name: &str, value: &str) {
    match map.get_mut(name) {
        Some(Value::Array(values)) => values.push(json!(value)),
        _ => {
            map.insert(name.to_string(), json!([value]));
        }
    }
}

/// What the front door sends the client for `reply`: status, headers (cookies and multi-value
/// headers spread back out), and the body, base64-decoded (for a REST API, as with binary
/// media types configured).
pub fn client_response(via: Via, reply: &Value) -> std::result::Result<Response, String> {
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
pub fn reason_phrase(code: u16) -> &'static str {
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
