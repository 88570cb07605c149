//! What the Lambda mode needs from Python beyond a WSGI call: the `context` object of AWS's
//! Python runtime, plain event handlers (`RWSGI_EVENT_HANDLER`), errors in the shape the
//! Runtime API takes, and per-invocation values in `os.environ`.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::http::InvocationContext;

/// The `context` a handler receives, with the attribute names of AWS's Python runtime
/// (`awslambdaric`'s `LambdaContext`).
#[pyclass(module = "rwsgi", name = "LambdaContext", frozen)]
pub struct LambdaContext {
    ctx: InvocationContext,
}

impl LambdaContext {
    pub fn new(ctx: InvocationContext) -> LambdaContext {
        LambdaContext { ctx }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[pymethods]
impl LambdaContext {
    #[getter]
    fn aws_request_id(&self) -> &str {
        &self.ctx.aws_request_id
    }
    #[getter]
    fn function_name(&self) -> &str {
        &self.ctx.function_name
    }
    #[getter]
    fn function_version(&self) -> &str {
        &self.ctx.function_version
    }
    #[getter]
    fn invoked_function_arn(&self) -> &str {
        &self.ctx.invoked_function_arn
    }
    #[getter]
    fn memory_limit_in_mb(&self) -> i64 {
        self.ctx.memory_limit_in_mb
    }
    #[getter]
    fn log_group_name(&self) -> &str {
        &self.ctx.log_group_name
    }
    #[getter]
    fn log_stream_name(&self) -> &str {
        &self.ctx.log_stream_name
    }
    #[getter]
    fn identity(&self) -> Option<Py<PyAny>> {
        None
    }
    #[getter]
    fn client_context(&self) -> Option<Py<PyAny>> {
        None
    }

    /// Milliseconds until the invocation times out; never negative.
    fn get_remaining_time_in_millis(&self) -> u64 {
        self.ctx.deadline_ms.saturating_sub(now_ms())
    }

    fn __repr__(&self) -> String {
        format!(
            "LambdaContext(aws_request_id={:?}, function_name={:?}, remaining_ms={})",
            self.ctx.aws_request_id,
            self.ctx.function_name,
            self.get_remaining_time_in_millis()
        )
    }
}

/// A Python error in the shape of the Runtime API's error body.
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
        let error_type = err
            .get_type(py)
            .qualname()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "Exception".into());
        let message = err
            .value(py)
            .str()
            .map(|s| s.to_string())
            .unwrap_or_default();
        ErrorReport {
            error_type,
            message,
            stack: stack_lines(py, err),
        }
    }
}

/// `traceback.format_tb`: one string per frame.
pub fn stack_lines(py: Python<'_>, err: &PyErr) -> Vec<String> {
    let Some(tb) = err.traceback(py) else {
        return Vec::new();
    };
    py.import("traceback")
        .and_then(|m| m.call_method1("format_tb", (tb,)))
        .and_then(|l| l.extract::<Vec<String>>())
        .unwrap_or_default()
}

/// A plain Lambda handler, `function(event, context)`, for events that are not HTTP.
pub struct EventHandler {
    callable: Py<PyAny>,
}

impl EventHandler {
    pub fn new(callable: Py<PyAny>) -> EventHandler {
        EventHandler { callable }
    }

    /// Calls the handler with the event and returns its result as JSON.
    pub fn call(
        &self,
        event: &serde_json::Value,
        ctx: InvocationContext,
    ) -> Result<String, ErrorReport> {
        Python::attach(|py| {
            let json = py
                .import("json")
                .map_err(|e| ErrorReport::from_py(py, &e))?;
            let event = crate::python::environ::json_to_py(py, event)
                .map_err(|e| ErrorReport::from_py(py, &e))?;
            let context = Bound::new(py, LambdaContext::new(ctx))
                .map_err(|e| ErrorReport::from_py(py, &e))?;
            let result = self
                .callable
                .bind(py)
                .call1((event, context))
                .map_err(|e| ErrorReport::from_py(py, &e))?;
            json.call_method1("dumps", (result,))
                .and_then(|s| s.extract::<String>())
                .map_err(|e| {
                    let mut report = ErrorReport::from_py(py, &e);
                    // AWS's Python runtime names this case Runtime.MarshalError.
                    report.error_type = "Runtime.MarshalError".into();
                    report.message = format!(
                        "Unable to marshal response: {} is not JSON serializable ({})",
                        report.message, "return dicts, lists, strings, numbers, booleans or None"
                    );
                    report
                })
        })
    }
}

/// Sets (or, with `None`, removes) a variable in Python's `os.environ`, which is a copy taken
/// at start-up: a `setenv` from Rust afterwards would not reach the app.
pub fn set_os_environ(name: &str, value: Option<&str>) {
    Python::attach(|py| {
        let result = py.import("os").and_then(|os| {
            let environ = os.getattr("environ")?;
            match value {
                Some(v) => environ.set_item(PyString::new(py, name), v),
                None => environ.call_method1("pop", (name, py.None())).map(drop),
            }
        });
        if let Err(e) = result {
            crate::log::warn(&format!("cannot set os.environ[{name:?}]: {e}"));
        }
    });
}
