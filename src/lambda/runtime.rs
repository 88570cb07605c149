//! The custom-runtime loop ("Using the Lambda runtime API for custom runtimes", AWS Lambda
//! developer guide): import the app once during init, then `GET /invocation/next`, run the
//! event, `POST /invocation/{id}/response` or `/error`, forever.
//!
//! The loop is rwsgi's own, on a blocking client ([`super::api`]): rwsgi must report a failed
//! import to `/runtime/init/error`, send a Python `stackTrace` with errors, and keep serving when
//! an invocation goes wrong, and while Python runs there is nothing else for the process to do.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::http::InvocationContext;
use crate::lambda::api::{Answer, Client, Endpoint};
use crate::lambda::{Handler, Invocation, error_body};
use crate::python::{self, ErrorReport, LoadErrorKind};

/// The function's settings, from the variables Lambda defines ("Defined runtime environment
/// variables"), with neutral values where a local emulator leaves one out.
#[derive(Debug, Clone, Default)]
pub struct FunctionConfig {
    pub function_name: Arc<str>,
    pub version: Arc<str>,
    pub memory_mb: i64,
    pub log_group: Arc<str>,
    pub log_stream: Arc<str>,
}

impl FunctionConfig {
    pub fn from_env() -> FunctionConfig {
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

/// The invocation context from the `/next` answer's `Lambda-Runtime-*` headers ("AWS Lambda
/// runtime API", Next invocation), and the X-Ray trace id. A missing deadline (some local
/// emulators send none) leaves no time to report rather than refusing the invocation.
pub fn invocation_context(
    request_id: &str,
    config: &FunctionConfig,
    next: &Answer,
) -> (InvocationContext, Option<String>) {
    let header = |name: &str| next.header(name).map(|v| v.trim().to_string());
    (
        InvocationContext {
            aws_request_id: request_id.to_string(),
            function_name: config.function_name.clone(),
            function_version: config.version.clone(),
            invoked_function_arn: header("lambda-runtime-invoked-function-arn").unwrap_or_default(),
            memory_limit_in_mb: config.memory_mb,
            log_group_name: config.log_group.clone(),
            log_stream_name: config.log_stream.clone(),
            deadline_ms: header("lambda-runtime-deadline-ms")
                .and_then(|d| d.parse().ok())
                .unwrap_or(0),
        },
        header("lambda-runtime-trace-id").filter(|t| !t.is_empty()),
    )
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

/// POSTs a result or an error; an answer other than 2xx is an error.
fn post(
    client: &mut Client,
    path: &str,
    body: &[u8],
    error_type: Option<&str>,
) -> std::result::Result<(), String> {
    let answer = client
        .post(path, body, error_type)
        .map_err(|e| format!("POST {path}: {e}"))?;
    if (200..300).contains(&answer.status) {
        Ok(())
    } else {
        Err(format!(
            "POST {path} was answered {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body).trim()
        ))
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
    let mut api = Client::new(Endpoint::parse(&address).map_err(Error::Usage)?);
    // A long-running process that handles large bodies one after another: glibc raises its
    // mmap threshold each time a large block is freed, after which multi-megabyte bodies come
    // from the heap and the freed space is not given back, so the peak grows invocation after
    // invocation. A fixed threshold keeps every large body in its own mapping, returned when
    // freed.
    // SAFETY: mallopt has no preconditions; it is called before any other thread exists.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024) };

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
            if let Err(e) = post(
                &mut api,
                "/runtime/init/error",
                &error_body(&report),
                Some(&report.error_type),
            ) {
                crate::log::error(&format!("cannot report the init error: {e}"));
            }
            return Ok(1);
        }
    };

    let config = FunctionConfig::from_env();
    loop {
        let next = match api.get("/runtime/invocation/next") {
            Ok(next) => next,
            Err(e) => {
                crate::log::error(&format!(
                    "the Runtime API is gone, stopping: GET /runtime/invocation/next: {e}"
                ));
                return Ok(1);
            }
        };
        if next.status == 408 {
            // A local emulator's request timeout (`cargo lambda watch --timeout`) on the long
            // poll: nothing was handed out, so ask again, after a pause in case the emulator
            // answers each poll at once.
            std::thread::sleep(std::time::Duration::from_millis(10));
            continue;
        }
        if next.status != 200 {
            crate::log::error(&format!(
                "GET /runtime/invocation/next was answered {}: {}; stopping",
                next.status,
                String::from_utf8_lossy(&next.body).trim()
            ));
            return Ok(1);
        }
        let Some(request_id) = next
            .header("lambda-runtime-aws-request-id")
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .map(str::to_string)
        else {
            crate::log::error(
                "an invocation came without Lambda-Runtime-Aws-Request-Id; skipping it",
            );
            continue;
        };
        let (ctx, trace_id) = invocation_context(&request_id, &config, &next);
        crate::log::set_request_id(Some(&request_id));
        // Each invocation's X-Ray trace id, where the AWS SDKs look for it.
        python::set_os_environ("_X_AMZN_TRACE_ID", trace_id.as_deref());

        let id = super::event::encode_component(&request_id);
        let posted = match handler.handle(next.body, ctx) {
            Invocation::Reply { reply, .. } => post(
                &mut api,
                &format!("/runtime/invocation/{id}/response"),
                &reply,
                None,
            ),
            Invocation::Error(report) => post(
                &mut api,
                &format!("/runtime/invocation/{id}/error"),
                &error_body(&report),
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
