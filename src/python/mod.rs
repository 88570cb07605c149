//! The Python core: the only code that touches the interpreter. It starts CPython, imports the
//! app, turns a neutral [`Request`] into a WSGI environ, calls the app and feeds its response to
//! a [`ResponseSink`](crate::http::ResponseSink).

mod arena;
pub(crate) mod environ;
mod errors;
mod fork;
mod input;
pub(crate) mod interp;
mod invocation;
mod load;
mod response;

use pyo3::prelude::*;

use crate::app_spec::AppSpec;
use crate::http::Request;

pub(crate) use fork::fork;
pub(crate) use interp::{StartOptions, embedded_version, start};
pub(crate) use invocation::{ExceptionInfo, set_os_environ};
pub(crate) use load::{LoadError, LoadErrorKind};
pub(crate) use response::{Outcome, SharedSink, is_head};

/// A loaded WSGI application.
pub(crate) struct App {
    callable: Py<PyAny>,
}

impl App {
    /// Imports the app named by `spec`. The interpreter must have been started.
    pub(crate) fn load(spec: &AppSpec) -> Result<App, LoadError> {
        Python::attach(|py| {
            let loaded = load::load(py, spec).map(|callable| App { callable });
            interp::resume_gc(py);
            loaded
        })
    }

    /// Runs one request through the app, delivering the response to `sink`.
    pub(crate) fn call(&self, request: Request, sink: SharedSink) -> Outcome {
        let head_request = response::is_head(&request.method);
        Python::attach(|py| match environ::build(py, request) {
            Ok(environ) => response::run(
                py,
                self.callable.bind(py),
                environ.into_any(),
                sink,
                head_request,
            ),
            Err(e) => {
                // Building the environ only fails when Python itself is in trouble (memory).
                crate::log::error(&format!(
                    "cannot build the WSGI environ\n{}",
                    format_exception(py, &e)
                ));
                let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
                let _ =
                    crate::http::send_error(&mut *s, 500, "Internal Server Error", head_request);
                Outcome::FailedBeforeHeaders
            }
        })
    }
}

/// Imports the object `spec` names, as an app is imported, for a mode that calls it its own
/// way (Lambda's plain `function(event, context)` handlers). The interpreter must have been
/// started.
pub(crate) fn load_callable(spec: &AppSpec) -> Result<Py<PyAny>, LoadError> {
    Python::attach(|py| {
        interp::pause_gc(py);
        let loaded = load::load(py, spec);
        interp::resume_gc(py);
        loaded
    })
}

/// An environ value that its owner turns into a Python object ([`Extension::Object`]): a mode's
/// own object, such as Lambda's `context`, reaches the app without the core knowing what it is.
///
/// [`Extension::Object`]: crate::http::Extension::Object
pub trait EnvironObject: Send + std::fmt::Debug {
    fn into_python<'py>(self: Box<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

/// Does what Python does at exit, since the process ends without finalizing the interpreter
/// (which would cost start-up-sized time on every CGI request): waits for the app's non-daemon
/// threads, runs its `atexit` handlers and flushes `sys.stdout` and `sys.stderr`.
pub(crate) fn finish() {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
        return;
    }
    Python::attach(|py| {
        let Ok(sys) = py.import("sys") else { return };
        let modules = sys.getattr("modules").ok();
        let loaded = |name: &str| {
            modules
                .as_ref()
                .and_then(|m| m.contains(name).ok())
                .unwrap_or(false)
        };
        if loaded("threading") {
            let _ = py
                .import("threading")
                .and_then(|t| t.call_method0("_shutdown"));
        }
        if let Err(e) = py
            .import("atexit")
            .and_then(|a| a.call_method0("_run_exitfuncs"))
        {
            crate::log::error(&format!(
                "an atexit handler raised\n{}",
                format_exception(py, &e)
            ));
        }
        for stream in ["stdout", "stderr"] {
            let _ = sys.getattr(stream).and_then(|s| s.call_method0("flush"));
        }
    });
}

/// Flushes `sys.stdout` and `sys.stderr`: before a fork, so that what is buffered is not
/// written once by each process, and before the descriptors under them are replaced.
pub(crate) fn flush_stdio() {
    // SAFETY: Py_IsInitialized may be called at any time.
    if unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
        return;
    }
    Python::attach(|py| {
        let Ok(sys) = py.import("sys") else { return };
        for stream in ["stdout", "stderr"] {
            let _ = sys.getattr(stream).and_then(|s| s.call_method0("flush"));
        }
    });
}

/// The traceback of `err` as Python prints it.
pub(crate) fn format_exception(py: Python<'_>, err: &PyErr) -> String {
    // The three-argument form: on Python 3.11 the traceback travels beside the exception
    // value, not only in its __traceback__.
    let formatted = py
        .import("traceback")
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (err.get_type(py), err.value(py), err.traceback(py)),
            )
        })
        .and_then(|lines| lines.extract::<Vec<String>>());
    match formatted {
        Ok(lines) => lines.concat(),
        Err(_) => format!("{err}\n"),
    }
}
