//! CGI mode (RFC 3875; docs/cgi.md): the process environment and stdin are the source, stdout
//! is the sink. The web server starts rwsgi once per request, either as the interpreter of a
//! `#!/usr/bin/env rwsgi` drop-in script or as the program itself with `RWSGI_APP` set.
//!
//! `request` reads the meta-variables into the neutral request, `body` its body from stdin,
//! and `sink` writes the response; FastCGI uses all three.

mod body;
mod request;
mod sink;

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::exit::ExitStatus;
use crate::http;
use crate::python::Outcome;

pub use body::{BodyLimits, Rejection, parse_size};
pub use request::build_request;
pub(crate) use sink::CgiSink;

/// Imports the app of a drop-in script (the file the kernel named, or `spec` when given), else
/// `RWSGI_APP`. Shared by CGI and FastCGI, which run the same scripts; `base_dirs` are the
/// mode's own import folders.
pub(crate) fn load_script_app(
    script: Option<&Path>,
    spec: Option<String>,
    venv: Option<PathBuf>,
    base_dirs: Vec<PathBuf>,
) -> Result<crate::python::App> {
    let spec = match (spec, script, crate::env_nonempty("RWSGI_APP")) {
        (Some(spec), _, _) => spec,
        (None, Some(script), _) => script.to_string_lossy().into_owned(),
        (None, None, Some(spec)) => spec,
        (None, None, None) => {
            return Err(Error::Usage(
                "no app to run: start rwsgi as the interpreter of a script (#!/usr/bin/env rwsgi) \
                 or set RWSGI_APP in the server's configuration"
                    .into(),
            ));
        }
    };
    crate::load_app(
        &spec,
        crate::AppPlace {
            venv,
            // The .venv beside the script, as in every mode (crate::app::app_folder_venv).
            default_venv: None,
            base_dirs,
            cgi_script: script.map(Path::to_path_buf),
            signal_handlers: false,
            lambda_handler: false,
            // A server may end the program as soon as it has the whole response (lighttpd sends
            // SIGTERM): what the app printed must already be in the error log by then.
            line_buffered: true,
        },
    )
}

/// Runs one CGI request. `script` is the drop-in script the kernel named, if any.
pub(crate) fn main(script: Option<PathBuf>, _args: Vec<OsString>) -> Result<ExitStatus> {
    // httpoxy (CVE-2016-5385): a client's `Proxy:` header arrives as HTTP_PROXY, which HTTP
    // libraries read as their proxy setting. Remove it before Python (and any subprocess)
    // can see it; the WSGI environ keeps it as the request header it is.
    let vars: Vec<(Vec<u8>, Vec<u8>)> = std::env::vars_os()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    // SAFETY: no other thread exists yet.
    unsafe { std::env::remove_var("HTTP_PROXY") };

    let out = crate::stdio::private_stdout().map_err(|source| Error::Write {
        what: "stdout".into(),
        source,
    })?;
    let sink = Arc::new(Mutex::new(CgiSink::new(out)));
    // RFC 3875 section 4.3.2: no body in reply to HEAD, rwsgi's own answers included.
    let head_request = vars
        .iter()
        .any(|(k, v)| k == b"REQUEST_METHOD" && crate::python::is_head(&http::latin1_string(v)));
    let send_error = |code: u16, reason: &str| {
        let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
        let _ = http::send_error(&mut *s, code, reason, head_request);
    };

    let limits = match BodyLimits::from_env() {
        Ok(l) => l,
        Err(e) => {
            crate::log::error(&e.to_string());
            send_error(500, "Internal Server Error");
            return Ok(ExitStatus::Failure);
        }
    };
    let request = match build_request(&vars, &mut io::stdin().lock(), &limits) {
        Ok(r) => r,
        Err(rejection) => {
            let (code, reason) = rejection.status();
            crate::log::error(&format!("answering {code} {reason}: {rejection}"));
            send_error(code, reason);
            return Ok(ExitStatus::Success);
        }
    };

    let app = load_script_app(script.as_deref(), None, None, Vec::new());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            crate::log::error(&e.to_string());
            send_error(500, "Internal Server Error");
            return Ok(ExitStatus::Failure);
        }
    };
    let outcome = app.call(request, sink.clone());
    Ok(match outcome {
        // A whole response went out, the app's or a 500 in its place.
        Outcome::Complete | Outcome::FailedBeforeHeaders => ExitStatus::Success,
        Outcome::FailedAfterHeaders | Outcome::Interrupted => ExitStatus::Failure,
        Outcome::SinkFailed(e) => {
            crate::log::error(&format!(
                "cannot write the response (did the client go away?): {e}"
            ));
            ExitStatus::Failure
        }
    })
}
