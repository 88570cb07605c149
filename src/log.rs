//! rwsgi's own log lines (warnings about the app's responses, tracebacks), written to stderr:
//! the terminal for the CLI, the server's error log under CGI, the function's log on Lambda.
//! With `AWS_LAMBDA_LOG_FORMAT=JSON` each line is one JSON object, as Lambda's JSON log format
//! expects ("Configuring JSON and plain text log formats", AWS Lambda developer guide).

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);
static REQUEST_ID: Mutex<Option<String>> = Mutex::new(None);

/// Switches to JSON lines (Lambda's `AWS_LAMBDA_LOG_FORMAT=JSON`).
pub(crate) fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// The invocation the following lines belong to (`requestId` in JSON lines).
pub(crate) fn set_request_id(id: Option<&str>) {
    *REQUEST_ID.lock().unwrap_or_else(|p| p.into_inner()) = id.map(str::to_string);
}

/// Writes one message to stderr, prefixed so it can be told apart from the app's own output.
/// A message of several lines (a traceback) is written whole, in one write.
pub(crate) fn log(level: Level, message: &str) {
    let line = if JSON.load(Ordering::Relaxed) {
        let request_id = REQUEST_ID.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut obj = serde_json::Map::new();
        obj.insert("timestamp".into(), rfc3339_now().into());
        obj.insert("level".into(), level.as_str().to_ascii_uppercase().into());
        obj.insert("message".into(), message.trim_end().into());
        if let Some(id) = request_id {
            obj.insert("requestId".into(), id.into());
        }
        let mut line = serde_json::Value::Object(obj).to_string();
        line.push('\n');
        line
    } else {
        let mut line = String::with_capacity(message.len() + 24);
        line.push_str("rwsgi: ");
        line.push_str(level.as_str());
        line.push_str(": ");
        line.push_str(message.trim_end());
        line.push('\n');
        line
    };
    if let Some(writer) = REQUEST_WRITER
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
    {
        let mut w = writer.0.lock().unwrap_or_else(|p| p.into_inner());
        if w.write_all(line.as_bytes()).is_ok() {
            return;
        }
    }
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes `text` to stderr as it is, in one write: output meant for the person at the terminal
/// rather than a log line (the usage text, `rwsgi call`'s curl-style `rwsgi: (23) ...` lines,
/// `-v`'s request and response heads).
pub(crate) fn plain(text: impl AsRef<[u8]>) {
    let _ = std::io::stderr().lock().write_all(text.as_ref());
}

/// Where the lines go while a request is served, instead of stderr: FastCGI sends them to the
/// web server's error log as the request's FCGI_STDERR.
static REQUEST_WRITER: Mutex<Option<crate::http::ErrorWriter>> = Mutex::new(None);

/// Sends the following lines to `writer` (`None`: back to stderr).
pub(crate) fn set_request_writer(writer: Option<crate::http::ErrorWriter>) {
    *REQUEST_WRITER.lock().unwrap_or_else(|p| p.into_inner()) = writer;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

pub(crate) fn info(message: &str) {
    log(Level::Info, message);
}

pub(crate) fn warn(message: &str) {
    log(Level::Warning, message);
}

pub(crate) fn error(message: &str) {
    log(Level::Error, message);
}

/// The current time as `2026-11-21T06:30:00.123Z` (RFC 3339, UTC, milliseconds).
fn rfc3339_now() -> String {
    rfc3339(std::time::SystemTime::now())
}

fn rfc3339(time: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(time).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let at = |secs: u64, millis: u64| {
            rfc3339(
                std::time::UNIX_EPOCH
                    + std::time::Duration::from_secs(secs)
                    + std::time::Duration::from_millis(millis),
            )
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_239_045, 123), "2026-11-21T05:30:45.123Z");
    }
}
