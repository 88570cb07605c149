//! Plain Lambda handlers (`RWSGI_EVENT_HANDLER`), for events that are not HTTP requests: the
//! event and the invocation's context in, the handler's return value as the reply's JSON out.

use pyo3::prelude::*;

use crate::app_spec::AppSpec;
use crate::lambda::context::LambdaContext;
use crate::lambda::{ErrorReport, InvocationContext};
use crate::python::LoadError;

/// A plain Lambda handler, `function(event, context)`, for events that are not HTTP.
pub struct EventHandler {
    callable: Py<PyAny>,
}

impl EventHandler {
    /// Imports the handler `spec` names.
    pub fn load(spec: &AppSpec) -> Result<EventHandler, LoadError> {
        crate::python::load_callable(spec).map(|callable| EventHandler { callable })
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
