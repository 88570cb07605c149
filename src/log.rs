//! rwsgi's own log lines (warnings about the app's responses, tracebacks), written to stderr:
//! the terminal for the CLI, the server's error log under CGI, the function's log on Lambda.

use std::io::Write;

/// Writes one message to stderr, prefixed so it can be told apart from the app's own output.
/// A message of several lines (a traceback) is written whole, in one write.
pub fn log(level: Level, message: &str) {
    let mut line = String::with_capacity(message.len() + 24);
    line.push_str("rwsgi: ");
    line.push_str(level.as_str());
    line.push_str(": ");
    line.push_str(message.trim_end());
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Warning,
    Error,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

pub fn warn(message: &str) {
    log(Level::Warning, message);
}

pub fn error(message: &str) {
    log(Level::Error, message);
}
