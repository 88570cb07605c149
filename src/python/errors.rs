//! A `wsgi.errors` stream that writes somewhere other than `sys.stderr` (PEP 3333, "Input and
//! Error Streams": `flush()`, `write(str)`, `writelines(seq)`), for FastCGI's `FCGI_STDERR`.

use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::http::ErrorWriter;

#[pyclass(module = "rwsgi", name = "ErrorStream", frozen)]
pub(crate) struct ErrorStream {
    writer: ErrorWriter,
}

impl ErrorStream {
    pub(crate) fn new(writer: ErrorWriter) -> ErrorStream {
        ErrorStream { writer }
    }

    fn put(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<usize> {
        let text = text.cast::<PyString>().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "wsgi.errors.write() takes a str, not {}",
                text.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        // Text as UTF-8, undecodable surrogates replaced: the log is bytes.
        let bytes = text.to_string_lossy().into_owned();
        let writer = self.writer.0.clone();
        // Writing may wait on the socket: let other Python threads run meanwhile.
        py.detach(move || {
            let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
            // A log line the web server cannot take is not the app's error.
            let _ = w.write_all(bytes.as_bytes());
        });
        text.len()
    }
}

#[pymethods]
impl ErrorStream {
    fn write(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<usize> {
        self.put(py, text)
    }

    fn writelines(&self, py: Python<'_>, lines: &Bound<'_, PyAny>) -> PyResult<()> {
        for line in lines.try_iter()? {
            self.put(py, &line?)?;
        }
        Ok(())
    }

    fn flush(&self) {
        let mut w = self.writer.0.lock().unwrap_or_else(|p| p.into_inner());
        let _ = w.flush();
    }
}
