//! `wsgi.input`: the request body as a file-like object (PEP 3333 "Input and Error Streams").
//! It yields exactly the body's bytes and then `b""`, so an app or framework that reads to the
//! end never blocks on, or reads beyond, the body (RFC 3875 section 4.2: a CGI script must not
//! read past CONTENT_LENGTH).

use std::io::{BufRead, Read};
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::http::Body;

struct Limited {
    reader: Box<dyn BufRead + Send>,
    remaining: u64,
}

impl Limited {
    /// Reads up to `max` bytes (all that is left when `None`).
    fn read(&mut self, max: Option<u64>) -> std::io::Result<Vec<u8>> {
        let want = max.map_or(self.remaining, |m| m.min(self.remaining));
        let mut out = Vec::with_capacity(usize::try_from(want.min(1 << 20)).unwrap_or(0));
        let got = (&mut self.reader).take(want).read_to_end(&mut out)?;
        self.remaining -= got as u64;
        if (got as u64) < want {
            // The source ended before the promised length: the client hung up, or the server
            // gave a CONTENT_LENGTH larger than the body. The app sees a short body.
            self.remaining = 0;
        }
        Ok(out)
    }

    /// Reads through the next `\n` (included), at most `max` bytes.
    fn readline(&mut self, max: Option<u64>) -> std::io::Result<Vec<u8>> {
        let limit = max.map_or(self.remaining, |m| m.min(self.remaining));
        let mut out = Vec::new();
        while (out.len() as u64) < limit {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                self.remaining = 0;
                break;
            }
            let room = usize::try_from(limit - out.len() as u64).unwrap_or(usize::MAX);
            let window = &buf[..buf.len().min(room)];
            let (take, done) = match window.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (window.len(), false),
            };
            out.extend_from_slice(&window[..take]);
            self.reader.consume(take);
            self.remaining -= take as u64;
            if done {
                break;
            }
        }
        Ok(out)
    }
}

/// The `wsgi.input` object.
#[pyclass(module = "rwsgi", name = "InputStream", frozen)]
pub(crate) struct InputStream {
    inner: Mutex<Limited>,
}

impl InputStream {
    pub(crate) fn new(body: Body) -> InputStream {
        let (reader, remaining) = body.into_parts();
        InputStream {
            inner: Mutex::new(Limited { reader, remaining }),
        }
    }

    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Limited) -> std::io::Result<T> + Send,
    ) -> PyResult<T> {
        // Reading may block on a pipe (CGI stdin): let other Python threads run meanwhile.
        py.detach(|| {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut inner)
        })
        .map_err(PyErr::from)
    }
}

/// `size` as PEP 3333 and `io` read it: `None` or a negative number mean "no limit".
fn limit(size: Option<i64>) -> Option<u64> {
    size.and_then(|s| u64::try_from(s).ok())
}

#[pymethods]
impl InputStream {
    /// Reads straight into the new `bytes` object: a body is copied once, from the request into
    /// Python, however large. Bodies are in memory or in a spooled file by the time the app
    /// runs, so this never waits on a client.
    #[pyo3(signature = (size = None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let want = limit(size).map_or(inner.remaining, |m| m.min(inner.remaining));
        let want = usize::try_from(want).unwrap_or(usize::MAX);
        let mut got = 0usize;
        let mut failure = None;
        let bytes = PyBytes::new_with(py, want, |buf| {
            while got < want {
                match inner.reader.read(&mut buf[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            Ok(())
        })?;
        inner.remaining -= got as u64;
        if got < want {
            // The source ended before the promised length (see Limited::read).
            inner.remaining = 0;
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
        if got < want {
            return Ok(PyBytes::new(py, &bytes.as_bytes()[..got]));
        }
        Ok(bytes)
    }

    #[pyo3(signature = (size = None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<i64>) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.with(py, |i| i.readline(limit(size)))?;
        Ok(PyBytes::new(py, &data))
    }

    /// Lines until the end, or until the lines read so far hold `hint` bytes (`io` semantics).
    #[pyo3(signature = (hint = None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<i64>) -> PyResult<Bound<'py, PyList>> {
        let hint = limit(hint).filter(|&h| h > 0);
        let lines = self.with(py, |i| {
            let mut lines = Vec::new();
            let mut total = 0u64;
            loop {
                let line = i.readline(None)?;
                if line.is_empty() {
                    break;
                }
                total += line.len() as u64;
                lines.push(line);
                if hint.is_some_and(|h| total >= h) {
                    break;
                }
            }
            Ok(lines)
        })?;
        let list = PyList::empty(py);
        for line in lines {
            list.append(PyBytes::new(py, &line))?;
        }
        Ok(list)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = self.with(py, |i| i.readline(None))?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }

    /// Reads into a writable buffer (`bytearray`, `memoryview`), as `io.RawIOBase.readinto`,
    /// so the stream can sit under `io.BufferedReader`.
    fn readinto(&self, py: Python<'_>, buffer: &Bound<'_, PyAny>) -> PyResult<usize> {
        let view = py
            .import("builtins")?
            .getattr("memoryview")?
            .call1((buffer,))?
            .call_method1("cast", ("B",))?;
        if view.getattr("readonly")?.is_truthy()? {
            return Err(PyValueError::new_err("readinto() needs a writable buffer"));
        }
        let room = view.len()? as u64;
        let data = self.with(py, |i| i.read(Some(room)))?;
        let slice = pyo3::types::PySlice::new(py, 0, data.len() as isize, 1);
        view.set_item(slice, PyBytes::new(py, &data))?;
        Ok(data.len())
    }

    fn readable(&self) -> bool {
        true
    }

    fn seekable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        false
    }

    /// Closing is the server's business (PEP 3333): an app's `close()` is accepted and ignored.
    fn close(&self) {}

    #[getter]
    fn closed(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limited(data: &[u8], len: u64) -> Limited {
        Limited {
            reader: Box::new(std::io::Cursor::new(data.to_vec())),
            remaining: len,
        }
    }

    #[test]
    fn never_reads_past_the_length() {
        let mut l = limited(b"hello world", 5);
        assert_eq!(l.read(None).unwrap(), b"hello");
        assert_eq!(l.read(None).unwrap(), b"");
        assert_eq!(l.read(Some(3)).unwrap(), b"");
    }

    #[test]
    fn read_in_pieces() {
        let mut l = limited(b"abcdefg", 7);
        assert_eq!(l.read(Some(3)).unwrap(), b"abc");
        assert_eq!(l.read(Some(3)).unwrap(), b"def");
        assert_eq!(l.read(Some(3)).unwrap(), b"g");
        assert_eq!(l.read(Some(3)).unwrap(), b"");
    }

    #[test]
    fn lines() {
        let mut l = limited(b"one\ntwo\nthree\nEXTRA", 14);
        assert_eq!(l.readline(None).unwrap(), b"one\n");
        assert_eq!(l.readline(Some(2)).unwrap(), b"tw");
        assert_eq!(l.readline(None).unwrap(), b"o\n");
        assert_eq!(l.readline(None).unwrap(), b"three\n");
        assert_eq!(l.readline(None).unwrap(), b"");
    }

    #[test]
    fn short_source() {
        let mut l = limited(b"abc", 10);
        assert_eq!(l.read(None).unwrap(), b"abc");
        assert_eq!(l.remaining, 0);
        let mut l = limited(b"ab", 10);
        assert_eq!(l.readline(None).unwrap(), b"ab");
        assert_eq!(l.readline(None).unwrap(), b"");
    }
}
