//! What the Lambda mode needs from Python beyond a WSGI call: the `context` object of AWS's
//! Python runtime, plain event handlers (`RWSGI_EVENT_HANDLER`), errors in the shape the
//! Runtime API takes, and per-invocation values in `os.environ`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

use crate::http::InvocationContext;

/// The `context` a handler receives, with the attribute names of AWS's Python runtime
/// (`awslambdaric`'s `LambdaContext`).
#[pyclass(module = "rwsgi", name = "LambdaContext", frozen)]
pub struct LambdaContext {
    ctx: InvocationContext,
    /// `identity` and `client_context`, made when first read (most apps never do).
    identity: PyOnceLock<Py<PyAny>>,
    client_context: PyOnceLock<Option<Py<PyAny>>>,
}

impl LambdaContext {
    pub fn new(ctx: InvocationContext) -> LambdaContext {
        LambdaContext {
            ctx,
            identity: PyOnceLock::new(),
            client_context: PyOnceLock::new(),
        }
    }
}

/// `context.identity`: awslambdaric's `CognitoIdentity`.
#[pyclass(module = "rwsgi", name = "CognitoIdentity")]
pub struct CognitoIdentity {
    #[pyo3(get, set)]
    cognito_identity_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    cognito_identity_pool_id: Option<Py<PyAny>>,
}

/// `context.client_context`: awslambdaric's `ClientContext`.
#[pyclass(module = "rwsgi", name = "ClientContext")]
pub struct ClientContext {
    #[pyo3(get, set)]
    custom: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    env: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    client: Option<Py<PyAny>>,
}

/// `context.client_context.client`: awslambdaric's `Client`.
#[pyclass(module = "rwsgi", name = "Client")]
pub struct Client {
    #[pyo3(get, set)]
    installation_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    app_title: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    app_version_name: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    app_version_code: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    app_package_name: Option<Py<PyAny>>,
}

/// A Mobile SDK header's JSON object. One that is not a JSON object is left out with a warning
/// rather than failing the invocation over a field few apps read.
fn mobile_json<'py>(
    py: Python<'py>,
    header: &str,
    text: &Option<String>,
) -> Option<Bound<'py, PyDict>> {
    let text = text.as_deref()?;
    let parsed = py
        .import("json")
        .and_then(|json| json.call_method1("loads", (text,)))
        .ok()
        .and_then(|v| v.cast_into::<PyDict>().ok());
    if parsed.is_none() {
        crate::log::warn(&format!(
            "Lambda-Runtime-{header} is not a JSON object; leaving it out: {text:?}"
        ));
    }
    parsed
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
    fn tenant_id(&self) -> Option<&str> {
        self.ctx.tenant_id.as_deref()
    }
    /// Always an object, its ids `None` without a `Lambda-Runtime-Cognito-Identity` header, as
    /// in awslambdaric.
    #[getter]
    fn identity(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.identity
            .get_or_try_init(py, || {
                let parsed = mobile_json(py, "Cognito-Identity", &self.ctx.cognito_identity);
                let field = |key: &str| match &parsed {
                    Some(d) => d.get_item(key).ok().flatten().map(Bound::unbind),
                    None => None,
                };
                let identity = CognitoIdentity {
                    cognito_identity_id: field("cognitoIdentityId"),
                    cognito_identity_pool_id: field("cognitoIdentityPoolId"),
                };
                Ok(Py::new(py, identity)?.into_any())
            })
            .map(|o| o.clone_ref(py))
    }
    /// `None` without a `Lambda-Runtime-Client-Context` header, else its `client`, `custom` and
    /// `env`, as in awslambdaric.
    #[getter]
    fn client_context(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.client_context
            .get_or_try_init(py, || {
                let Some(parsed) = mobile_json(py, "Client-Context", &self.ctx.client_context)
                else {
                    return Ok(None);
                };
                let field = |d: &Bound<'_, PyDict>, key: &str| {
                    d.get_item(key).ok().flatten().map(Bound::unbind)
                };
                let client = match parsed.get_item("client").ok().flatten() {
                    Some(c) => {
                        let c = c.cast_into::<PyDict>().ok();
                        let get = |key: &str| c.as_ref().and_then(|c| field(c, key));
                        let client = Client {
                            installation_id: get("installation_id"),
                            app_title: get("app_title"),
                            app_version_name: get("app_version_name"),
                            app_version_code: get("app_version_code"),
                            app_package_name: get("app_package_name"),
                        };
                        Some(Py::new(py, client)?.into_any())
                    }
                    None => None,
                };
                let context = ClientContext {
                    custom: field(&parsed, "custom"),
                    env: field(&parsed, "env"),
                    client,
                };
                Ok(Some(Py::new(py, context)?.into_any()))
            })
            .map(|o| o.as_ref().map(|o| o.clone_ref(py)))
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
        event: &crate::json::Value,
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

/// Sets (or, with `None`, removes) a per-invocation variable, for the app (`os.environ`, a copy
/// Python took at start-up, which a `setenv` from Rust would not reach) and for the processes it
/// starts (the C environment).
///
/// `os.environ[name] = value` would call `putenv` with a new copy each time, and glibc never
/// frees the values it replaces: a new trace id per invocation would leak ~200 bytes each time.
/// So Python's mapping is updated without it, and the C environment points at one buffer per
/// variable that rwsgi owns and replaces.
pub fn set_os_environ(name: &str, value: Option<&str>) {
    Python::attach(|py| {
        let result = os_environ(py).and_then(|(data, encodekey, encodevalue)| {
            // os.environ holds bytes in the filesystem encoding, which agrees with ASCII: an
            // ASCII name or value (a trace id always is) needs no call into Python's encoder.
            let encode = |text: &str, encoder: &Py<PyAny>| {
                if text.is_ascii() {
                    Ok(pyo3::types::PyBytes::new(py, text.as_bytes()).into_any())
                } else {
                    encoder.bind(py).call1((text,))
                }
            };
            let data = data.bind(py);
            let key = encode(name, encodekey)?;
            match value {
                Some(v) => data.set_item(key, encode(v, encodevalue)?),
                None => data.call_method1("pop", (key, py.None())).map(drop),
            }
        });
        if let Err(e) = result {
            crate::log::warn(&format!("cannot set os.environ[{name:?}]: {e}"));
        }
        set_c_environ(py, name, value);
    });
}

/// `os.environ`'s underlying mapping and its key and value encoders, looked up once: this runs
/// for every invocation, and an import and three attribute lookups each time were a tenth of a
/// warm invocation's cost.
type OsEnviron = (Py<PyAny>, Py<PyAny>, Py<PyAny>);

fn os_environ(py: Python<'_>) -> PyResult<&'static OsEnviron> {
    static OS_ENVIRON: pyo3::sync::PyOnceLock<OsEnviron> = pyo3::sync::PyOnceLock::new();
    OS_ENVIRON.get_or_try_init(py, || {
        let environ = py.import("os")?.getattr("environ")?;
        Ok((
            environ.getattr("_data")?.unbind(),
            environ.getattr("encodekey")?.unbind(),
            environ.getattr("encodevalue")?.unbind(),
        ))
    })
}

/// The buffers the C environment points at, one per variable rwsgi sets.
static C_ENVIRON: std::sync::Mutex<Vec<(String, std::ffi::CString)>> =
    std::sync::Mutex::new(Vec::new());

/// Points the C environment's `name` at a buffer of ours. `_py` is proof that this thread holds
/// the GIL, the lock CPython's own `os.putenv` and `os.unsetenv` hold while they change the
/// environment.
fn set_c_environ(_py: Python<'_>, name: &str, value: Option<&str>) {
    let mut owned = C_ENVIRON.lock().unwrap_or_else(|p| p.into_inner());
    let Ok(c_name) = std::ffi::CString::new(name) else {
        return;
    };
    match value.map(|v| std::ffi::CString::new(format!("{name}={v}"))) {
        Some(Ok(entry)) => {
            // SAFETY: putenv keeps the pointer; the buffer stays alive in C_ENVIRON until the
            // next putenv for this name has replaced it in the environment. Changing the
            // environment races with any other thread reading or changing it. Python code does
            // neither while this thread holds the GIL (`_py`), the discipline CPython's own
            // `os.putenv` relies on. rwsgi's Rust code reads the environment only at start-up,
            // before the runtime loop that calls this (once per invocation, before the app is
            // called, the previous invocation's app call having returned). What is left is C
            // code of the app's that reads the environment on a thread of its own with the GIL
            // released, which `os.environ[name] = value` in the app would race with the same
            // way.
            unsafe { libc::putenv(entry.as_ptr().cast_mut()) };
            match owned.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = entry,
                None => owned.push((name.to_string(), entry)),
            }
        }
        Some(Err(_)) => {}
        None => {
            // SAFETY: as above (the GIL is held); after unsetenv nothing points at the old
            // buffer.
            unsafe { libc::unsetenv(c_name.as_ptr()) };
            owned.retain(|(n, _)| n != name);
        }
    }
}
