//! The custom-runtime loop ("Using the Lambda runtime API for custom runtimes", AWS Lambda
//! developer guide): import the app once during init, then `GET /invocation/next`, run the
//! event, `POST /invocation/{id}/response` or `/error`, forever.
//!
//! The Runtime API client, the invocation context and the function configuration are
//! `lambda_runtime`'s, on a current-thread tokio runtime that does nothing while Python runs.
//! The loop itself is rwsgi's, because rwsgi must do what `lambda_runtime::run` does not: report
//! a failed import to `/runtime/init/error`, send a Python `stackTrace` with errors, and keep
//! serving when an invocation goes wrong.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderMap, Request, Uri};
use http_body_util::BodyExt;
use lambda_runtime_api_client::PooledClient;
use lambda_runtime_api_client::body::Body;

use crate::error::{Error, Result};
use crate::http::InvocationContext;
use crate::lambda::{Handler, Invocation, error_body};
use crate::python::{self, ErrorReport, LoadErrorKind};

const API_VERSION: &str = "/2018-06-01";

/// `127.0.0.1:9001` (what Lambda sets), or a full base URL with a path prefix, as some local
/// emulators use (`http://127.0.0.1:9000/.rt`).
pub fn runtime_api_uri(value: &str) -> std::result::Result<Uri, String> {
    let value = value.trim();
    let text = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let uri: Uri = text
        .parse()
        .map_err(|e| format!("AWS_LAMBDA_RUNTIME_API={value:?} is not an address: {e}"))?;
    if uri.authority().is_none() {
        return Err(format!("AWS_LAMBDA_RUNTIME_API={value:?} has no host"));
    }
    if uri.scheme_str().is_some_and(|s| s != "http") {
        return Err(format!(
            "AWS_LAMBDA_RUNTIME_API={value:?}: the Runtime API speaks plain http"
        ));
    }
    Ok(uri)
}

/// The function's settings from the variables Lambda defines, with neutral values where a
/// local emulator leaves one out.
fn config_from_env() -> lambda_runtime::Config {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    lambda_runtime::Config {
        function_name: var("AWS_LAMBDA_FUNCTION_NAME"),
        memory: var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").parse().unwrap_or(0),
        version: var("AWS_LAMBDA_FUNCTION_VERSION"),
        log_stream: var("AWS_LAMBDA_LOG_STREAM_NAME"),
        log_group: var("AWS_LAMBDA_LOG_GROUP_NAME"),
    }
}

/// The context of AWS's Python runtime, from `lambda_runtime`'s.
pub fn invocation_context(ctx: &lambda_runtime::Context) -> InvocationContext {
    InvocationContext {
        aws_request_id: ctx.request_id.clone(),
        function_name: ctx.env_config.function_name.clone(),
        function_version: ctx.env_config.version.clone(),
        invoked_function_arn: ctx.invoked_function_arn.clone(),
        memory_limit_in_mb: i64::from(ctx.env_config.memory),
        log_group_name: ctx.env_config.log_group.clone(),
        log_stream_name: ctx.env_config.log_stream.clone(),
        deadline_ms: ctx.deadline,
    }
}

/// The app as the function names it: `RWSGI_APP`, else the function's Handler setting
/// (`_HANDLER`, which may use the Python runtime's `module.function` form).
pub fn app_from_env() -> Option<(String, bool)> {
    crate::env_nonempty("RWSGI_APP")
        .map(|spec| (spec, false))
        .or_else(|| crate::env_nonempty("_HANDLER").map(|h| (h, true)))
}

/// Imports the app (and `RWSGI_EVENT_HANDLER`): from `base_dirs` (on Lambda
/// `LAMBDA_TASK_ROOT`, then `/opt/python` for layers), `RWSGI_PATH`, and the virtualenv.
pub fn init(
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
            Some(python::App::load_event_handler(&spec).map_err(|e| init_report(&Error::Load(e)))?)
        }
    };
    let (options, text_types) = Handler::settings_from_env();
    Ok(Handler {
        app,
        event_handler,
        options,
        text_types,
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

/// The Runtime API, reached through `lambda_runtime`'s client.
struct RuntimeApi {
    client: PooledClient,
    runtime: tokio::runtime::Runtime,
}

impl RuntimeApi {
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        error_type: Option<&str>,
    ) -> std::result::Result<(u16, HeaderMap, Vec<u8>), String> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{API_VERSION}{path}"))
            .header("user-agent", format!("rwsgi/{}", crate::VERSION));
        if method == "POST" {
            builder = builder.header("content-type", "application/json");
        }
        if let Some(t) = error_type {
            builder = builder.header("lambda-runtime-function-error-type", t);
        }
        let request = builder
            .body(Body::from(body))
            .map_err(|e| format!("cannot build the request for {path}: {e}"))?;
        self.runtime.block_on(async {
            let response = self
                .client
                .call(request)
                .await
                .map_err(|e| format!("{method} {path}: {e}"))?;
            let (parts, body) = response.into_parts();
            // Bytes into Vec takes over the buffer when it is a single one, without a copy.
            let bytes = Vec::from(
                body.collect()
                    .await
                    .map_err(|e| format!("{method} {path}: reading the answer: {e}"))?
                    .to_bytes(),
            );
            Ok((parts.status.as_u16(), parts.headers, bytes))
        })
    }

    fn post(
        &self,
        path: &str,
        body: Vec<u8>,
        error_type: Option<&str>,
    ) -> std::result::Result<(), String> {
        let (status, _, answer) = self.send("POST", path, body, error_type)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!(
                "POST {path} was answered {status}: {}",
                String::from_utf8_lossy(&answer).trim()
            ))
        }
    }
}

/// Runs the runtime loop until the Runtime API goes away. Returns the exit status.
pub fn main(_args: Vec<OsString>) -> Result<u8> {
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
    let base = runtime_api_uri(&address).map_err(Error::Usage)?;
    // A long-running process that handles large bodies one after another: glibc raises its
    // mmap threshold each time a large block is freed, after which multi-megabyte bodies come
    // from the heap and the freed space is not given back, so the peak grows invocation after
    // invocation. A fixed threshold keeps every large body in its own mapping, returned when
    // freed.
    // SAFETY: mallopt has no preconditions; it is called before any other thread exists.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let api = RuntimeApi {
        client: PooledClient::builder().with_endpoint(base).build(),
        runtime,
    };

    let mut base_dirs = Vec::new();
    if let Some(root) = std::env::var_os("LAMBDA_TASK_ROOT").filter(|r| !r.is_empty()) {
        base_dirs.push(PathBuf::from(root));
    }
    base_dirs.push(PathBuf::from("/opt/python"));
    let handler = match init(app_from_env(), base_dirs, None) {
        Ok(h) => h,
        Err(report) => {
            crate::log::error(&format!(
                "init failed ({}): {}\n{}",
                report.error_type,
                report.message,
                report.stack.concat()
            ));
            if let Err(e) = api.post(
                "/runtime/init/error",
                error_body(&report),
                Some(&report.error_type),
            ) {
                crate::log::error(&format!("cannot report the init error: {e}"));
            }
            return Ok(1);
        }
    };

    let config = Arc::new(config_from_env());
    loop {
        let (status, headers, event) =
            match api.send("GET", "/runtime/invocation/next", Vec::new(), None) {
                Ok(next) => next,
                Err(e) => {
                    crate::log::error(&format!("the Runtime API is gone, stopping: {e}"));
                    return Ok(1);
                }
            };
        if status == 408 {
            // A local emulator's request timeout (`cargo lambda watch --timeout`) on the long
            // poll: nothing was handed out, so ask again.
            continue;
        }
        if status != 200 {
            crate::log::error(&format!(
                "GET /runtime/invocation/next was answered {status}: {}; stopping",
                String::from_utf8_lossy(&event).trim()
            ));
            return Ok(1);
        }
        let Some(request_id) = headers
            .get("lambda-runtime-aws-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
        else {
            crate::log::error(
                "an invocation came without Lambda-Runtime-Aws-Request-Id; skipping it",
            );
            continue;
        };
        let ctx = context(&request_id, &config, &headers);
        crate::log::set_request_id(Some(&request_id));
        // Each invocation's X-Ray trace id, where the AWS SDKs look for it.
        python::set_os_environ("_X_AMZN_TRACE_ID", ctx.1.as_deref());

        let id = super::event::encode_component(&request_id);
        let posted = match handler.handle(event, ctx.0) {
            Invocation::Reply { reply, .. } => {
                api.post(&format!("/runtime/invocation/{id}/response"), reply, None)
            }
            Invocation::Error(report) => api.post(
                &format!("/runtime/invocation/{id}/error"),
                error_body(&report),
                Some(&report.error_type),
            ),
        };
        if let Err(e) = posted {
            // The Runtime API refused this one answer (too large, or the invocation timed out):
            // the function goes on with the next invocation.
            crate::log::error(&e);
        }
        crate::log::set_request_id(None);
    }
}

/// The invocation context from the `/next` answer's headers, and the trace id.
fn context(
    request_id: &str,
    config: &Arc<lambda_runtime::Config>,
    headers: &HeaderMap,
) -> (InvocationContext, Option<String>) {
    // lambda_runtime's Context::new requires a deadline header; an emulator that omits it
    // still gets an invocation, with no time left to report.
    let patched;
    let headers = if headers.contains_key("lambda-runtime-deadline-ms") {
        headers
    } else {
        let mut copy = headers.clone();
        copy.insert(
            "lambda-runtime-deadline-ms",
            http::HeaderValue::from_static("0"),
        );
        patched = copy;
        &patched
    };
    let trace = headers
        .get("lambda-runtime-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match lambda_runtime::Context::new(request_id, config.clone(), headers) {
        Ok(ctx) => (invocation_context(&ctx), trace),
        Err(e) => {
            // lambda_runtime reads the mobile SDK's Client-Context shape only; any other shape
            // (or a Cognito identity it cannot read) must not cost the app its deadline or ARN,
            // which come straight from their own headers.
            crate::log::warn(&format!(
                "cannot read the invocation's client context or identity ({e}); passing none"
            ));
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            (
                InvocationContext {
                    aws_request_id: request_id.to_string(),
                    function_name: config.function_name.clone(),
                    function_version: config.version.clone(),
                    invoked_function_arn: header("lambda-runtime-invoked-function-arn")
                        .unwrap_or_default(),
                    memory_limit_in_mb: i64::from(config.memory),
                    log_group_name: config.log_group.clone(),
                    log_stream_name: config.log_stream.clone(),
                    deadline_ms: header("lambda-runtime-deadline-ms")
                        .and_then(|d| d.trim().parse().ok())
                        .unwrap_or(0),
                },
                trace,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_addresses() {
        let ok = |s: &str| runtime_api_uri(s).unwrap().to_string();
        assert_eq!(ok("127.0.0.1:9001"), "http://127.0.0.1:9001/");
        assert_eq!(ok("http://127.0.0.1:9000/.rt"), "http://127.0.0.1:9000/.rt");
        assert_eq!(ok("localhost:9001"), "http://localhost:9001/");
        assert!(runtime_api_uri("https://x:1").is_err());
        assert!(runtime_api_uri("").is_err());
        assert!(runtime_api_uri("a b").is_err());
    }
}
