//! Request -> WSGI environ (PEP 3333 "environ Variables"): a real `dict` whose CGI keys hold
//! native strings made from the request's bytes by latin-1 decoding ("bytes in a str"), plus the
//! `wsgi.*` entries.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use crate::http::{Extension, Request};
use crate::python::errors::ErrorStream;
use crate::python::input::InputStream;
use crate::python::response::FileWrapper;

/// A `str` holding one character per byte (U+0000..U+00FF), as PEP 3333 asks of every environ
/// value that came off the wire.
pub(crate) fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyString>> {
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
pub(crate) fn json_to_py<'py>(
    py: Python<'py>,
    value: &crate::json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use crate::json::Value;
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
        Value::String(s) => recurring(py, s.as_bytes(), || Ok(PyString::new(py, s)))?.into_any(),
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
                // An event's keys are the same from one invocation to the next.
                dict.set_item(environ_key(py, k), json_to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// How many values [`recurring`] keeps, and the longest it keeps.
const RECURRING_SLOTS: usize = 256;
const RECURRING_MAX_LEN: usize = 64;

/// Python strings for the values that come back request after request (a host, a user agent,
/// a stage, an API id, `GET`): made once and shared, as `str` is immutable, rather than made and
/// freed again for every request. A warm hello-world invocation makes some 50 strings for the
/// environ and `rwsgi.event`, most of them the same as the request before's.
///
/// Direct-mapped: a value's slot follows from its hash, and a new value takes the slot over, so
/// that what recurs stays and what does not (request ids, times) passes through, in bounded
/// memory. Only ASCII values, for which the environ's latin-1 and the event's UTF-8 decodings
/// give the same string; `make` builds the string on a miss.
fn recurring<'py>(
    py: Python<'py>,
    bytes: &[u8],
    make: impl FnOnce() -> PyResult<Bound<'py, PyString>>,
) -> PyResult<Bound<'py, PyString>> {
    type Slot = Option<(Box<[u8]>, Py<PyString>)>;
    static SLOTS: std::sync::Mutex<[Slot; RECURRING_SLOTS]> =
        std::sync::Mutex::new([const { None }; RECURRING_SLOTS]);
    if bytes.len() > RECURRING_MAX_LEN || !bytes.is_ascii() {
        return make();
    }
    let index = {
        use std::hash::BuildHasher;
        KeyHasher::default().hash_one(bytes) as usize % RECURRING_SLOTS
    };
    // Held only while a string is made or an old one freed: neither runs Python code (no
    // collection, no finaliser) that could wait for this lock while holding the GIL.
    let mut slots = SLOTS.lock().unwrap_or_else(|p| p.into_inner());
    let slot = &mut slots[index];
    if let Some((key, value)) = slot.as_ref()
        && **key == *bytes
    {
        return Ok(value.bind(py).clone());
    }
    let value = make()?;
    *slot = Some((bytes.into(), value.clone().unbind()));
    Ok(value)
}

/// The most keys kept as ready-made Python strings: every CGI name, and the header names and
/// event keys that requests commonly have, but not an unbounded number of names that clients
/// choose.
const KEY_CACHE_LIMIT: usize = 512;

/// An environ (or event) key as an interned `str`, so that the app's lookups compare it by
/// identity, made once per distinct key rather than on every request.
fn environ_key<'py>(py: Python<'py>, key: &str) -> Bound<'py, PyString> {
    type Map = std::collections::HashMap<Box<str>, Py<PyString>, KeyHasher>;
    type Cache = std::sync::Mutex<Map>;
    static KEYS: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
    let cache = KEYS.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(k) = cache.get(key) {
        return k.bind(py).clone();
    }
    if cache.len() >= KEY_CACHE_LIMIT {
        // Not interned: Python 3.12 makes interned strings immortal, and past the cache these
        // are names that clients made up.
        return PyString::new(py, key);
    }
    let k = PyString::intern(py, key);
    cache.insert(key.into(), k.clone().unbind());
    k
}

/// foldhash for the key cache: keys are short, and SipHash's resistance to chosen collisions
/// buys nothing for a map that stops growing at [`KEY_CACHE_LIMIT`] entries. It takes eight
/// bytes at a time where FNV-1a took one: a Flask invocation looks up some 80 keys, and hashing
/// them byte by byte was 1.5% of its instructions.
type KeyHasher = foldhash::fast::FixedState;

/// `sys`, looked up once. `sys.stderr` itself is read for each request: an app may replace it.
fn sys_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static SYS: pyo3::sync::PyOnceLock<Py<PyModule>> = pyo3::sync::PyOnceLock::new();
    SYS.get_or_try_init(py, || Ok(py.import("sys")?.unbind()))
        .map(|m| m.bind(py))
}

/// Builds the environ for `request`, consuming its body into `wsgi.input`.
pub(crate) fn build<'py>(py: Python<'py>, request: Request) -> PyResult<Bound<'py, PyDict>> {
    let environ = PyDict::new(py);
    for (key, value) in request.cgi_variables_borrowed() {
        let value = recurring(py, &value, || latin1(py, &value))?;
        environ.set_item(environ_key(py, &key), value)?;
    }
    let Request {
        body,
        scheme,
        traits,
        extensions,
        ..
    } = request;
    static VERSION: pyo3::sync::PyOnceLock<Py<PyTuple>> = pyo3::sync::PyOnceLock::new();
    let version = VERSION.get_or_try_init(py, || PyTuple::new(py, [1, 0]).map(Bound::unbind))?;
    environ.set_item(pyo3::intern!(py, "wsgi.version"), version.bind(py))?;
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
        sys_module(py)?.getattr(pyo3::intern!(py, "stderr"))?,
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
            Extension::Object(object) => object.into_python(py)?,
            Extension::Errors(writer) => Bound::new(py, ErrorStream::new(writer))?.into_any(),
        };
        environ.set_item(PyString::new(py, &key), value)?;
    }
    Ok(environ)
}
