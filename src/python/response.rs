//! The response half of PEP 3333: `start_response`, the `write()` callable it returns,
//! `wsgi.file_wrapper`, and the loop that iterates the app's result into a [`ResponseSink`].

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use pyo3::exceptions::{PyAssertionError, PyKeyboardInterrupt, PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyMemoryView, PyString, PyTuple};

use crate::http::{
    HeaderVerdict, ProtocolError, ResponseHead, ResponseSink, check_header, parse_status,
};
use crate::log;
use crate::python::{format_exception, interp};

/// A sink shared between the caller, which reads it afterwards, and the Python objects that
/// write into it.
pub(crate) type SharedSink = Arc<Mutex<dyn ResponseSink>>;

/// How one call of the app ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The app's response went to the sink whole.
    Complete,
    /// The app failed (raised, or broke the protocol) before its headers went out: a
    /// `500 Internal Server Error` went out in its place.
    FailedBeforeHeaders,
    /// The app failed after its headers went out (or its `close()` raised): the body is cut
    /// short.
    FailedAfterHeaders,
    /// The sink refused the response (the client went away).
    SinkFailed(io::Error),
    /// Interrupted from the keyboard (the CLI only).
    Interrupted,
}

struct State {
    sink: SharedSink,
    /// What `start_response` was last given.
    head: Option<ResponseHead>,
    head_sent: bool,
    /// The request is a HEAD: the response carries no body (RFC 3875 section 4.3.2).
    head_request: bool,
    /// The head that went out is of a response without content (to HEAD, or a 1xx, 204 or
    /// 304): no body bytes may follow it.
    bodiless: bool,
    /// The request is over: a `write()` kept by the app can no longer send.
    finished: bool,
}

enum SendError {
    NoStartResponse,
    Finished,
    Io(io::Error),
}

impl State {
    /// Sends the held headers if they are not out yet, then the chunk (PEP 3333: headers go out
    /// with the first non-empty chunk or the first `write()`).
    ///
    /// A response without content (to HEAD, or a 1xx, 204 or 304) is different: its chunks are
    /// dropped and its head is held until the app's result has been closed
    /// ([`State::send_held_head`]). A server may end the program as soon as it has such a head
    /// (lighttpd sends SIGTERM), which would cut the app off before its `close()`.
    fn send(&mut self, chunk: &[u8], body_len: Option<u64>) -> Result<(), SendError> {
        if self.finished {
            return Err(SendError::Finished);
        }
        if !self.head_sent {
            let head = self.head.as_ref().ok_or(SendError::NoStartResponse)?;
            if self.head_request || !status_has_content(head.status.code) {
                return Ok(());
            }
            self.head_sent = true;
            lock(&self.sink)
                .send_head(head, body_len)
                .map_err(SendError::Io)?;
        }
        if !chunk.is_empty() && !self.bodiless {
            lock(&self.sink).send_body(chunk).map_err(SendError::Io)?;
        }
        Ok(())
    }

    /// Sends the head of a response without content, once the app's result is closed.
    fn send_held_head(&mut self) -> Result<(), SendError> {
        if self.head_sent {
            return Ok(());
        }
        let head = self.head.as_ref().ok_or(SendError::NoStartResponse)?;
        self.head_sent = true;
        self.bodiless = true;
        // RFC 9110 section 8.6: no Content-Length may be made up for these. A 1xx or 204 must
        // never have one, and a HEAD or 304 response's must be what a GET would have had,
        // which only the app knows: its own header, if any, is what goes out.
        lock(&self.sink)
            .send_head(head, None)
            .map_err(SendError::Io)
    }
}

/// Whether a response with this status may carry content: RFC 9110 section 6.4.1, "All 1xx
/// (Informational), 204 (No Content), and 304 (Not Modified) responses do not include
/// content."
pub(crate) fn status_has_content(code: u16) -> bool {
    !(100..200).contains(&code) && code != 204 && code != 304
}

/// Whether `method` is HEAD; methods are case-sensitive (RFC 9110 section 9.1).
pub(crate) fn is_head(method: &str) -> bool {
    method == "HEAD"
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The `start_response` callable given to the app.
#[pyclass(module = "rwsgi", name = "StartResponse", frozen)]
pub(crate) struct StartResponse {
    state: Arc<Mutex<State>>,
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info = None))]
    fn __call__(
        &self,
        py: Python<'_>,
        status: &Bound<'_, PyAny>,
        headers: &Bound<'_, PyAny>,
        exc_info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Write> {
        let exc_value = match exc_info {
            Some(info) if !info.is_none() => {
                let value = info.get_item(1)?;
                (!value.is_none()).then_some((value, info.get_item(2)?))
            }
            _ => None,
        };
        {
            let state = lock(&self.state);
            match &exc_value {
                // PEP 3333: once headers are sent, a call with exc_info must re-raise the
                // error, so the server can abort the response.
                Some((value, tb)) if state.head_sent => {
                    drop(state);
                    let value = if tb.is_none() {
                        value.clone()
                    } else {
                        value.call_method1("with_traceback", (tb,))?
                    };
                    return Err(PyErr::from_value(value));
                }
                Some(_) => {}
                None if state.head.is_some() => {
                    return Err(PyAssertionError::new_err(
                        "start_response() was called a second time without exc_info \
                         (PEP 3333 allows that only to replace the response after an error)",
                    ));
                }
                None => {}
            }
        }
        let head = parse_head(py, status, headers)?;
        lock(&self.state).head = Some(head);
        Ok(Write {
            state: self.state.clone(),
        })
    }
}

/// Validates what the app gave `start_response`.
fn parse_head(
    _py: Python<'_>,
    status: &Bound<'_, PyAny>,
    headers: &Bound<'_, PyAny>,
) -> PyResult<ResponseHead> {
    let protocol = |e: ProtocolError| pyo3::exceptions::PyValueError::new_err(e.0);
    let status = status.cast::<PyString>().map_err(|_| {
        PyTypeError::new_err(format!(
            "the status must be a str such as '200 OK', not {}",
            type_name(status)
        ))
    })?;
    let status = parse_status(status.to_str()?).map_err(protocol)?;
    // PEP 3333: "It must be a Python list" (mod_wsgi and wsgiref refuse anything else too).
    if !headers.is_instance_of::<PyList>() {
        return Err(PyTypeError::new_err(format!(
            "response headers must be a list of (name, value) tuples, not {}",
            type_name(headers)
        )));
    }
    let mut kept = Vec::new();
    for item in headers.try_iter()? {
        let item = item?;
        let pair: Option<(Bound<'_, PyString>, Bound<'_, PyString>)> = (|| {
            if item.len().ok()? != 2 || item.is_instance_of::<PyString>() {
                return None;
            }
            let name = item.get_item(0).ok()?.cast_into::<PyString>().ok()?;
            let value = item.get_item(1).ok()?.cast_into::<PyString>().ok()?;
            Some((name, value))
        })();
        let Some((name, value)) = pair else {
            return Err(PyTypeError::new_err(format!(
                "each response header must be a (name, value) tuple of str, not {}",
                item.repr().map(|r| r.to_string()).unwrap_or_default()
            )));
        };
        let (name, value) = (name.to_str()?, value.to_str()?);
        // RFC 9110 section 5.5: a field value excludes leading and trailing whitespace, and
        // servers drop it (Django's SimpleCookie output starts Set-Cookie with a space).
        let value = value.trim_matches([' ', '\t']);
        match check_header(name, value).map_err(protocol)? {
            HeaderVerdict::Keep => kept.push((name.to_string(), value.to_string())),
            HeaderVerdict::DropHopByHop => log::warn(&format!(
                "dropped the hop-by-hop header '{name}' set by the application \
                 (PEP 3333 leaves connection handling to the server)"
            )),
        }
    }
    check_content_length(status.code, &mut kept).map_err(protocol)?;
    Ok(ResponseHead {
        status,
        headers: kept,
    })
}

/// The app's `Content-Length` (RFC 9110 section 8.6): `1*DIGIT`; repeats of one value become
/// one header ("a recipient MAY ... replace the duplicated field values with a single valid
/// Content-Length field"), differing ones are refused, as a server refuses them from a backend,
/// since they leave the body's end undefined. On a 1xx or 204 response it is dropped: "A server
/// MUST NOT send a Content-Length header field in any response with a status code of 1xx
/// (Informational) or 204 (No Content)."
fn check_content_length(
    code: u16,
    headers: &mut Vec<(String, String)>,
) -> Result<(), ProtocolError> {
    let mut value: Option<&str> = None;
    for (name, v) in headers.iter() {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        // A list of one repeated value (`5, 5`) counts as that value.
        for item in v.split(',').map(|i| i.trim_matches([' ', '\t'])) {
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ProtocolError(format!(
                    "invalid Content-Length {v:?}: it must be a number of bytes"
                )));
            }
            match value {
                Some(seen) if seen.trim_start_matches('0') != item.trim_start_matches('0') => {
                    return Err(ProtocolError(format!(
                        "two different Content-Length values, {seen:?} and {item:?}"
                    )));
                }
                Some(_) => {}
                None => value = Some(item),
            }
        }
    }
    let Some(value) = value.map(str::to_string) else {
        return Ok(());
    };
    let no_length = (100..200).contains(&code) || code == 204;
    if no_length && !value.trim_start_matches('0').is_empty() {
        log::warn(&format!(
            "dropped 'Content-Length: {value}' from a {code} response, which has no content \
             (RFC 9110 section 8.6)"
        ));
    }
    let mut kept_one = false;
    headers.retain_mut(|(name, v)| {
        if !name.eq_ignore_ascii_case("content-length") {
            return true;
        }
        if no_length || kept_one {
            return false;
        }
        kept_one = true;
        *v = value.clone();
        true
    });
    Ok(())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .qualname()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The `write()` callable returned by `start_response` (PEP 3333 "The write() Callable").
#[pyclass(module = "rwsgi", name = "Write", frozen)]
pub(crate) struct Write {
    state: Arc<Mutex<State>>,
}

#[pymethods]
impl Write {
    fn __call__(&self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let chunk = Chunk::from_py(data)?;
        match lock(&self.state).send(chunk.as_bytes(), None) {
            Ok(()) => Ok(()),
            Err(SendError::Io(e)) => Err(e.into()),
            Err(SendError::Finished) => Err(PyRuntimeError::new_err(
                "write() was called after the response was finished",
            )),
            Err(SendError::NoStartResponse) => Err(PyRuntimeError::new_err(
                "write() was called before start_response()",
            )),
        }
    }
}

/// A body chunk: `bytes` borrowed as they are, other bytes-like objects copied.
enum Chunk<'py> {
    Bytes(Bound<'py, PyBytes>),
    Owned(Vec<u8>),
}

impl<'py> Chunk<'py> {
    fn from_py(obj: &Bound<'py, PyAny>) -> PyResult<Chunk<'py>> {
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(Chunk::Bytes(b.clone()));
        }
        if let Ok(b) = obj.cast::<PyByteArray>() {
            return Ok(Chunk::Owned(b.to_vec()));
        }
        if obj.is_instance_of::<PyMemoryView>() {
            let b = PyBytes::new(obj.py(), &[]).get_type().call1((obj,))?;
            return Ok(Chunk::Bytes(b.cast_into::<PyBytes>()?));
        }
        let hint = if obj.is_instance_of::<PyString>() {
            " (PEP 3333: the body is bytes; encode text first, e.g. text.encode('utf-8'))"
        } else {
            ""
        };
        Err(PyTypeError::new_err(format!(
            "the application sent {} as a body chunk; chunks must be bytes{hint}",
            type_name(obj)
        )))
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Chunk::Bytes(b) => b.as_bytes(),
            Chunk::Owned(v) => v,
        }
    }
}

/// `wsgi.file_wrapper`: an iterable over a file-like object, read in blocks, which the server
/// may send more directly (PEP 3333 "Optional Platform-Specific File Handling").
#[pyclass(module = "rwsgi", name = "FileWrapper", frozen)]
pub(crate) struct FileWrapper {
    filelike: Py<PyAny>,
    blksize: i64,
}

#[pymethods]
impl FileWrapper {
    #[new]
    #[pyo3(signature = (filelike, blksize = 8192))]
    fn new(filelike: Py<PyAny>, blksize: i64) -> FileWrapper {
        FileWrapper {
            filelike,
            blksize: if blksize > 0 { blksize } else { 8192 },
        }
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let data = self
            .filelike
            .bind(py)
            .call_method1("read", (self.blksize,))?;
        Ok(data.is_truthy()?.then_some(data))
    }

    /// PEP 3333: the wrapper's `close()` calls the file-like object's `close()`, if any.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let f = self.filelike.bind(py);
        if f.hasattr("close")? {
            f.call_method0("close")?;
        }
        Ok(())
    }

    #[getter]
    fn filelike(&self, py: Python<'_>) -> Py<PyAny> {
        self.filelike.clone_ref(py)
    }

    #[getter]
    fn blksize(&self) -> i64 {
        self.blksize
    }
}

impl FileWrapper {
    /// The bytes left from the current position of a regular file, when the object is one.
    fn remaining_length(&self, py: Python<'_>) -> Option<u64> {
        let f = self.filelike.bind(py);
        let fd: i32 = f.call_method0("fileno").ok()?.extract().ok()?;
        let os = py.import("os").ok()?;
        let st = os.call_method1("fstat", (fd,)).ok()?;
        let mode: u32 = st.getattr("st_mode").ok()?.extract().ok()?;
        // S_ISREG: a pipe or socket has no length to promise.
        if mode & 0o170000 != 0o100000 {
            return None;
        }
        let size: u64 = st.getattr("st_size").ok()?.extract().ok()?;
        let pos: u64 = f.call_method0("tell").ok()?.extract().ok()?;
        Some(size.saturating_sub(pos))
    }
}

/// Calls the app with `environ` and drives its response into `sink`.
pub(super) fn run(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    environ: Bound<'_, PyAny>,
    sink: SharedSink,
    head_request: bool,
) -> Outcome {
    let state = Arc::new(Mutex::new(State {
        sink,
        head: None,
        head_sent: false,
        head_request,
        bodiless: false,
        finished: false,
    }));
    let outcome = match Bound::new(
        py,
        StartResponse {
            state: state.clone(),
        },
    ) {
        Ok(start_response) => drive(py, app, environ, start_response.into_any(), &state),
        Err(e) => fail(py, &state, Failure::App(e)),
    };
    lock(&state).finished = true;
    outcome
}

enum Failure {
    App(PyErr),
    Sink(io::Error),
}

fn drive(
    py: Python<'_>,
    app: &Bound<'_, PyAny>,
    environ: Bound<'_, PyAny>,
    start_response: Bound<'_, PyAny>,
    state: &Arc<Mutex<State>>,
) -> Outcome {
    let result = match app.call1((environ, start_response)) {
        Ok(result) => result,
        Err(e) => return fail(py, state, Failure::App(e)),
    };
    let iterated = iterate(py, &result, state);
    // PEP 3333: close() is called whenever the result has one, whether the request completed
    // normally or ended early on an error.
    // A list or tuple (what most apps return) has no close(); asking would make and drop an
    // AttributeError each time.
    let plain = result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>();
    let closed = match if plain {
        Ok(false)
    } else {
        result.hasattr("close")
    } {
        Ok(true) => result.call_method0("close").map(drop),
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    let iterated = iterated.and_then(|()| lock(state).send_held_head().map_err(send_failure));
    match (iterated, closed) {
        (Ok(()), Ok(())) => Outcome::Complete,
        (Err(failure), Ok(())) => fail(py, state, failure),
        (Ok(()), Err(close_error)) => {
            if close_error.is_instance_of::<PyKeyboardInterrupt>(py) && interp::interruptible() {
                return Outcome::Interrupted;
            }
            abort_sink(py, state, &close_error);
            log::error(&format!(
                "the application's close() raised after the response was sent\n{}",
                format_exception(py, &close_error)
            ));
            Outcome::FailedAfterHeaders
        }
        (Err(failure), Err(close_error)) => {
            log::error(&format!(
                "the application's close() raised too\n{}",
                format_exception(py, &close_error)
            ));
            fail(py, state, failure)
        }
    }
}

fn iterate(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    state: &Arc<Mutex<State>>,
) -> Result<(), Failure> {
    let body_len = known_length(py, result);
    let iter = result.try_iter().map_err(|_| {
        Failure::App(PyTypeError::new_err(format!(
            "the application returned {}, which is not an iterable of bytes",
            type_name(result)
        )))
    })?;
    for item in iter {
        let item = item.map_err(Failure::App)?;
        let chunk = Chunk::from_py(&item).map_err(Failure::App)?;
        if chunk.as_bytes().is_empty() {
            continue;
        }
        lock(state)
            .send(chunk.as_bytes(), body_len)
            .map_err(send_failure)?;
    }
    // The end of the body: headers that are still held go out now.
    let mut st = lock(state);
    if !st.head_sent {
        st.send(&[], Some(0)).map_err(send_failure)?;
    }
    Ok(())
}

fn send_failure(e: SendError) -> Failure {
    match e {
        SendError::Io(e) => Failure::Sink(e),
        SendError::NoStartResponse | SendError::Finished => Failure::App(PyRuntimeError::new_err(
            "the application returned a body without calling start_response() (PEP 3333)",
        )),
    }
}

/// The whole body's length when the result says it up front: a list or tuple of bytes, or a
/// file wrapper around a regular file.
fn known_length(py: Python<'_>, result: &Bound<'_, PyAny>) -> Option<u64> {
    if let Ok(wrapper) = result.cast::<FileWrapper>() {
        return wrapper.get().remaining_length(py);
    }
    if !(result.is_exact_instance_of::<PyList>() || result.is_exact_instance_of::<PyTuple>()) {
        return None;
    }
    let mut total = 0u64;
    for item in result.try_iter().ok()? {
        total += item.ok()?.cast::<PyBytes>().ok()?.as_bytes().len() as u64;
    }
    Some(total)
}

fn fail(py: Python<'_>, state: &Arc<Mutex<State>>, failure: Failure) -> Outcome {
    let err = match failure {
        Failure::Sink(e) => return Outcome::SinkFailed(e),
        Failure::App(err) => err,
    };
    if err.is_instance_of::<PyKeyboardInterrupt>(py) && interp::interruptible() {
        return Outcome::Interrupted;
    }
    let traceback = format_exception(py, &err);
    let mut st = lock(state);
    if st.head_sent {
        log::error(&format!(
            "the application failed after its response headers were sent; the body is cut short\n{traceback}"
        ));
        drop(st);
        abort_sink(py, state, &err);
        return Outcome::FailedAfterHeaders;
    }
    log::error(&format!(
        "the application failed before sending a response; answering 500 Internal Server Error\n{traceback}"
    ));
    st.head_sent = true;
    let head_request = st.head_request;
    let mut sink = lock(&st.sink);
    let sent = crate::http::send_error(&mut *sink, 500, "Internal Server Error", head_request);
    match sent {
        Ok(()) => Outcome::FailedBeforeHeaders,
        Err(e) => Outcome::SinkFailed(e),
    }
}

/// Tells the sink that the body is cut short by `err`.
fn abort_sink(py: Python<'_>, state: &Arc<Mutex<State>>, err: &PyErr) {
    let report = crate::python::ExceptionInfo::of(py, err);
    let sink = lock(state).sink.clone();
    lock(&sink).abort(&report.type_name, &report.message, &report.stack);
}
