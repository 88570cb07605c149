//! What a long-lived mode needs from Python beyond a WSGI call: per-invocation values in
//! `os.environ`, and a traceback's frames as text.

use pyo3::prelude::*;

/// A Python exception in plain values, for a mode to report in its own shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExceptionInfo {
    /// The exception's class name (`KeyError`).
    pub type_name: String,
    pub message: String,
    /// The traceback's frames, one string each ([`stack_lines`]).
    pub stack: Vec<String>,
}

impl ExceptionInfo {
    pub(crate) fn of(py: Python<'_>, err: &PyErr) -> ExceptionInfo {
        let type_name = err
            .get_type(py)
            .qualname()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "Exception".into());
        let message = err
            .value(py)
            .str()
            .map(|s| s.to_string())
            .unwrap_or_default();
        ExceptionInfo {
            type_name,
            message,
            stack: stack_lines(py, err),
        }
    }
}

/// `traceback.format_tb`: one string per frame.
pub(super) fn stack_lines(py: Python<'_>, err: &PyErr) -> Vec<String> {
    let Some(tb) = err.traceback(py) else {
        return Vec::new();
    };
    py.import("traceback")
        .and_then(|m| m.call_method1("format_tb", (tb,)))
        .and_then(|l| l.extract::<Vec<String>>())
        .unwrap_or_default()
}

/// Sets (or, with `None`, removes) a per-invocation variable, for the app (`os.environ`, a copy
/// Python took at start-up, which a `setenv` from Rust would not reach) and for the processes it
/// starts (the C environment).
///
/// `os.environ[name] = value` would call `putenv` with a new copy each time, and glibc never
/// frees the values it replaces: a new trace id per invocation would leak ~200 bytes each time.
/// So Python's mapping is updated without it, and the C environment points at one buffer per
/// variable that rwsgi owns and replaces.
pub(crate) fn set_os_environ(name: &str, value: Option<&str>) {
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
