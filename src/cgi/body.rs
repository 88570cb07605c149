//! The request body under CGI (RFC 3875 section 4.2): read from stdin, never past
//! CONTENT_LENGTH, within `RWSGI_MAX_BODY`, and spooled to an unlinked temporary file when large.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::http::{self, Body};

/// The default `RWSGI_MAX_BODY`: 100 MiB.
pub(crate) const DEFAULT_MAX_BODY: u64 = 100 << 20;

/// Bodies up to this size are held in memory; larger ones go to a temporary file.
pub(crate) const SPOOL_THRESHOLD: u64 = 1 << 20;

/// Limits on reading the request body.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    pub max_body: u64,
    pub spool_threshold: u64,
    pub temp_dir: PathBuf,
}

impl BodyLimits {
    /// From `RWSGI_MAX_BODY` (bytes, or with a K/M/G suffix for KiB/MiB/GiB) and `TMPDIR`.
    pub fn from_env() -> Result<BodyLimits> {
        let max_body = match crate::env_nonempty("RWSGI_MAX_BODY") {
            None => DEFAULT_MAX_BODY,
            Some(text) => parse_size(&text).ok_or_else(|| {
                Error::Usage(format!(
                    "RWSGI_MAX_BODY={text:?} is not a size (bytes, or a number with K, M or G)"
                ))
            })?,
        };
        Ok(BodyLimits {
            max_body,
            spool_threshold: SPOOL_THRESHOLD,
            temp_dir: std::env::temp_dir(),
        })
    }
}

/// `1048576`, `512K`, `100M`, `2G` (binary multiples, any letter case, an optional `iB`/`B`).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let lower = t.to_ascii_lowercase();
    let stripped = lower
        .strip_suffix("ib")
        .or_else(|| lower.strip_suffix('b'))
        .unwrap_or(&lower);
    let (digits, shift) = match stripped.chars().last()? {
        'k' => (&stripped[..stripped.len() - 1], 10),
        'm' => (&stripped[..stripped.len() - 1], 20),
        'g' => (&stripped[..stripped.len() - 1], 30),
        _ => (stripped, 0),
    };
    let n: u64 = digits.trim().parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// Why a request is answered without calling the app.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    /// RFC 3875 section 4.1.2: CONTENT_LENGTH is a decimal number of octets.
    #[error("CONTENT_LENGTH {0:?} is not a non-negative whole number")]
    BadLength(String),
    #[error("the request body ({size} bytes) is larger than RWSGI_MAX_BODY ({limit} bytes)")]
    TooLarge { size: String, limit: u64 },
    #[error("the request body ended after {got} of the {want} bytes of CONTENT_LENGTH")]
    ShortBody { got: u64, want: u64 },
    #[error("cannot read the request body: {0}")]
    Read(io::Error),
}

impl Rejection {
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            Rejection::TooLarge { .. } => (413, "Content Too Large"),
            Rejection::Read(_) => (500, "Internal Server Error"),
            _ => (400, "Bad Request"),
        }
    }
}

/// The body: exactly CONTENT_LENGTH bytes of `stdin` (RFC 3875 section 4.2), or with no length
/// and `Transfer-Encoding: chunked`, all of stdin; within `limits`.
pub(super) fn read_body(
    content_length: Option<&[u8]>,
    transfer_encoding: Option<&[u8]>,
    stdin: &mut dyn Read,
    limits: &BodyLimits,
) -> std::result::Result<Body, Rejection> {
    let chunked = transfer_encoding.is_some_and(|te| {
        http::latin1_string(te)
            .to_ascii_lowercase()
            .contains("chunked")
    });
    // RFC 3875 section 4.1.2: `1*digit`. Only ASCII blanks around it are forgiven (str::trim
    // would also take latin-1's no-break space for white space).
    let blank = |c: char| c == ' ' || c == '\t';
    let length = match content_length.map(http::latin1_string) {
        Some(v) if !v.trim_matches(blank).is_empty() => {
            let t = v.trim_matches(blank);
            if !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Rejection::BadLength(v));
            }
            // All digits: a value too large for u64 is certainly over the limit.
            Some(t.parse::<u64>().unwrap_or(u64::MAX))
        }
        _ => None,
    };
    Ok(match (length, chunked) {
        // A length given beside a chunked coding is the de-chunked body's (lighttpd de-chunks and
        // sends one; RFC 3875 section 4.1.2 makes CONTENT_LENGTH the body rwsgi reads).
        (Some(n), _) => {
            if n > limits.max_body {
                return Err(Rejection::TooLarge {
                    // As given: a length beyond any integer still reads right in the log.
                    size: content_length
                        .map(http::latin1_string)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                    limit: limits.max_body,
                });
            }
            let (body, got) = spool(stdin, n, limits)?;
            if got < n {
                return Err(Rejection::ShortBody { got, want: n });
            }
            body
        }
        // Apache passes a chunked body de-chunked on stdin with no length: read it to the end.
        (None, true) => {
            let (body, got) = spool(stdin, limits.max_body.saturating_add(1), limits)?;
            if got > limits.max_body {
                return Err(Rejection::TooLarge {
                    size: format!("more than {}", limits.max_body),
                    limit: limits.max_body,
                });
            }
            body
        }
        (None, false) => Body::empty(),
    })
}

/// Reads up to `max` bytes: in memory while small, then into an unlinked temporary file.
/// Returns the body and how many bytes there were.
fn spool(
    stdin: &mut dyn Read,
    max: u64,
    limits: &BodyLimits,
) -> std::result::Result<(Body, u64), Rejection> {
    let mut memory = Vec::new();
    let in_memory = max.min(limits.spool_threshold);
    stdin
        .take(in_memory)
        .read_to_end(&mut memory)
        .map_err(Rejection::Read)?;
    let mut total = memory.len() as u64;
    if total < in_memory || total == max {
        return Ok((Body::from_bytes(memory), total));
    }
    let mut file = temp_file(&limits.temp_dir).map_err(Rejection::Read)?;
    file.write_all(&memory).map_err(Rejection::Read)?;
    drop(memory);
    // Large reads and writes: std's io::copy goes 8 KiB at a time through a `dyn Read`, which
    // is over a thousand system calls for a few megabytes.
    let mut buffer = vec![0u8; 256 << 10];
    let mut rest = stdin.take(max - total);
    loop {
        let n = match rest.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Rejection::Read(e)),
        };
        file.write_all(&buffer[..n]).map_err(Rejection::Read)?;
        total += n as u64;
    }
    drop(buffer);
    file.rewind().map_err(Rejection::Read)?;
    let body = Body::from_reader(Box::new(BufReader::with_capacity(64 << 10, file)), total);
    Ok((body, total))
}

/// A new file in `dir`, already unlinked: it disappears when rwsgi exits, however it exits
/// (`O_TMPFILE` where the file system has it: never a name at all).
fn temp_file(dir: &Path) -> io::Result<File> {
    tempfile::tempfile_in(dir).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot create a temporary file in {}: {e}", dir.display()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Some(1 << 20));
        assert_eq!(parse_size("512K"), Some(512 << 10));
        assert_eq!(parse_size("100M"), Some(100 << 20));
        assert_eq!(parse_size("100MiB"), Some(100 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("10MB"), Some(10 << 20));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("-5"), None);
    }
}
