//! Request -> WSGI environ (PEP 3333 "environ Variables"): a real `dict` whose CGI keys hold
//! native strings made from the request's bytes by latin-1 decoding ("bytes in a str"), plus the
//! `wsgi.*` entries.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::http::{Extension, Request};
use crate::python::input::InputStream;
use crate::python::invocation::LambdaContext;
use crate::python::response::FileWrapper;

/// A `str` holding one character per byte (U+0000..U+00FF), as PEP 3333 asks of every environ
/// value that came off the wire.
pub fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
    // SAFETY: the pointer and length describe `bytes`, which outlives the call; the result is a
    // new reference or NULL with an exception set.
    unsafe {
        let ptr = pyo3::ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as pyo3::ffi::Py_ssize_t,
            std::ptr::null(),
        );
        Bound::from_owned_ptr_or_err(py, ptr).map(|s| s.cast_into_unchecked())
    }
}

/// A JSON value as the Python objects `json.loads` would give, built from the already-parsed
/// value rather than parsing the text again.
pub fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => pyo3::types::PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = pyo3::types::PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(PyString::new(py, k), json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Builds the environ for `request`, consuming its body into `wsgi.input`.
pub fn build<'py>(py: Python<'py>, request: Request) -> PyResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    for (key, value) in request.cgi_variables() {
        environ.set_item(PyString::intern(py, &key), latin1(py, &value)?)?;
    }
    let Request {
        body,
        scheme,
        traits,
        extensions,
        ..
    } = request;
    environ.set_item(pyo3::intern!(py, "wsgi.version"), PyTuple::new(py, [1, 0])?)?;
    environ.set_item(
        pyo3::intern!(py, "wsgi.url_scheme"),
        PyString::intern(py, &scheme),
    )?;
    environ.set_item(
        pyo3::intern!(py, "wsgi.input"),
        Bound::new(py, InputStream::new(body))?,
    )?;
    // The stream ends at the end of the body, so frameworks may read it without a
    // CONTENT_LENGTH (the extension werkzeug and gunicorn use).
    environ.set_item(pyo3::intern!(py, "wsgi.input_terminated"), true)?;
    environ.set_item(
        pyo3::intern!(py, "wsgi.errors"),
        py.import("sys")?.getattr("stderr")?,
    )?;
    environ.set_item(pyo3::intern!(py, "wsgi.multithread"), traits.multithread)?;
    environ.set_item(pyo3::intern!(py, "wsgi.multiprocess"), traits.multiprocess)?;
    environ.set_item(pyo3::intern!(py, "wsgi.run_once"), traits.run_once)?;
    environ.set_item(
        pyo3::intern!(py, "wsgi.file_wrapper"),
        py.get_type::<FileWrapper>(),
    )?;
    for (key, value) in extensions {
        let value = match value {
            Extension::Json(value) => json_to_py(py, &value)?,
            Extension::Invocation(ctx) => Bound::new(py, LambdaContext::new(ctx))?.into_any(),
        };
        environ.set_item(PyString::new(py, &key), value)?;
    }
    Ok(environ)
}
