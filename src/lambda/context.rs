//! The invocation's context: what the Runtime API says about an invocation, and the `context`
//! object AWS's Python runtime gives a handler, which the app finds as `rwsgi.context` (and a
//! plain event handler as its second argument).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyDict;

/// What AWS's Python runtime tells a handler about its invocation (its `context` argument).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationContext {
    pub aws_request_id: String,
    // The function's own settings are the same for every invocation: shared, not copied.
    pub function_name: Arc<str>,
    pub function_version: Arc<str>,
    pub invoked_function_arn: String,
    pub memory_limit_in_mb: i64,
    pub log_group_name: Arc<str>,
    pub log_stream_name: Arc<str>,
    /// When the invocation times out, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Aws-Tenant-Id`: the tenant of a function with tenant isolation.
    pub tenant_id: Option<String>,
    /// `Lambda-Runtime-Client-Context`: JSON from the AWS Mobile SDK, as sent.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity`: JSON from the AWS Mobile SDK, as sent.
    pub cognito_identity: Option<String>,
}

/// The core builds `rwsgi.context` through this, knowing nothing of Lambda.
impl crate::python::EnvironObject for InvocationContext {
    fn into_python<'py>(self: Box<Self>, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(Bound::new(py, LambdaContext::new(*self))?.into_any())
    }
}

/// The `context` a handler receives, with the attribute names of AWS's Python runtime
/// (`awslambdaric`'s `LambdaContext`).
#[pyclass(module = "rwsgi", name = "LambdaContext", frozen)]
pub(crate) struct LambdaContext {
    ctx: InvocationContext,
    /// `identity` and `client_context`, made when first read (most apps never do).
    identity: PyOnceLock<Py<PyAny>>,
    client_context: PyOnceLock<Option<Py<PyAny>>>,
}

impl LambdaContext {
    pub(crate) fn new(ctx: InvocationContext) -> LambdaContext {
        LambdaContext {
            ctx,
            identity: PyOnceLock::new(),
            client_context: PyOnceLock::new(),
        }
    }
}

/// `context.identity`: awslambdaric's `CognitoIdentity`.
#[pyclass(module = "rwsgi", name = "CognitoIdentity")]
pub(super) struct CognitoIdentity {
    #[pyo3(get, set)]
    cognito_identity_id: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    cognito_identity_pool_id: Option<Py<PyAny>>,
}

/// `context.client_context`: awslambdaric's `ClientContext`.
#[pyclass(module = "rwsgi", name = "ClientContext")]
pub(super) struct ClientContext {
    #[pyo3(get, set)]
    custom: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    env: Option<Py<PyAny>>,
    #[pyo3(get, set)]
    client: Option<Py<PyAny>>,
}

/// `context.client_context.client`: awslambdaric's `Client`.
#[pyclass(module = "rwsgi", name = "Client")]
pub(super) struct Client {
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
