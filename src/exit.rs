//! rwsgi's exit statuses, every mode's, in one table. A mode ends with an [`ExitStatus`]; an
//! [`Error`] becomes one at the edge (`crate::run`). The exit-status tables in docs/ are made from
//! [`ExitStatus::when`] by `markdown`, and a test keeps them equal.
//!
//! `rwsgi call` uses curl's codes where curl has one for the same failure (curl's
//! `libcurl-errors(3)`: CURLE_URL_MALFORMAT 3, CURLE_HTTP_RETURNED_ERROR 22, CURLE_WRITE_ERROR
//! 23, CURLE_READ_ERROR 26, CURLE_TOO_MANY_REDIRECTS 47, CURLE_BAD_CONTENT_ENCODING 61), so a
//! script written for curl reads them the same. SnapStart's two failures use the statuses of
//! AWS's Python runtime interface client.

use crate::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// The app could not be loaded or failed; the Runtime API went away.
    Failure,
    /// Bad usage: the command line or the configuration is wrong.
    Usage,
    MalformedUrl,
    HttpError,
    WriteError,
    ReadError,
    TooManyRedirects,
    BadContentEncoding,
    /// A SnapStart before-snapshot hook failed (`Runtime.BeforeSnapshotError`).
    BeforeSnapshot,
    /// A SnapStart after-restore hook failed (`Runtime.AfterRestoreError`).
    AfterRestore,
    /// SIGINT (Ctrl-C) stopped the request: 128 + the signal's number, as shells report it.
    Interrupted,
}

/// The places whose exit statuses the documentation lists, one table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `rwsgi call`, `rwsgi-call`.
    Call,
    /// `rwsgi event`.
    Event,
    /// A CGI request.
    Cgi,
    /// `rwsgi fastcgi`, or started by a web server.
    Fastcgi,
    /// The Lambda runtime.
    Lambda,
}

impl Table {
    pub const ALL: [Table; 5] = [
        Table::Call,
        Table::Event,
        Table::Cgi,
        Table::Fastcgi,
        Table::Lambda,
    ];

    /// The table's name in the marker comment in docs/ (`<!-- exit-status: call -->`).
    pub fn name(self) -> &'static str {
        match self {
            Table::Call => "call",
            Table::Event => "event",
            Table::Cgi => "cgi",
            Table::Fastcgi => "fastcgi",
            Table::Lambda => "lambda",
        }
    }
}

impl ExitStatus {
    pub const ALL: [ExitStatus; 12] = [
        ExitStatus::Success,
        ExitStatus::Failure,
        ExitStatus::Usage,
        ExitStatus::MalformedUrl,
        ExitStatus::HttpError,
        ExitStatus::WriteError,
        ExitStatus::ReadError,
        ExitStatus::TooManyRedirects,
        ExitStatus::BadContentEncoding,
        ExitStatus::BeforeSnapshot,
        ExitStatus::AfterRestore,
        ExitStatus::Interrupted,
    ];

    /// The process's exit status.
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::MalformedUrl => 3,
            ExitStatus::HttpError => 22,
            ExitStatus::WriteError => 23,
            ExitStatus::ReadError => 26,
            ExitStatus::TooManyRedirects => 47,
            ExitStatus::BadContentEncoding => 61,
            ExitStatus::BeforeSnapshot => 64,
            ExitStatus::AfterRestore => 65,
            ExitStatus::Interrupted => 130,
        }
    }

    /// The status with this code; any other code (a worker ended by the app's `os._exit(7)`)
    /// is a failure.
    pub fn from_code(code: u8) -> ExitStatus {
        ExitStatus::ALL
            .into_iter()
            .find(|s| s.code() == code)
            .unwrap_or(ExitStatus::Failure)
    }

    pub fn is_success(self) -> bool {
        self == ExitStatus::Success
    }

    /// When `table`'s mode ends with this status, in the documentation's words; `None` when it never
    /// does.
    pub fn when(self, table: Table) -> Option<&'static str> {
        use ExitStatus as S;
        use Table as T;
        Some(match (self, table) {
            (S::Success, T::Call) => "a response, whatever its HTTP status",
            (S::Failure, T::Call) => {
                "the app could not be loaded, or failed (raised, or broke the WSGI protocol): it \
                 gets a `500`, printed as any response, and the traceback goes to stderr; a \
                 redirect to a scheme other than http(s)"
            }
            (S::Usage, T::Call) => {
                "bad usage: an unknown option, no target, a target that is neither a path nor an \
                 http(s) URL, no app named, a malformed SPEC, a `wsgi.*` key `--env` cannot set, \
                 `--via` with `--script-name`, `--stream` without `--via url` or `--via v1`"
            }
            (S::MalformedUrl, T::Call) => "a malformed http(s) URL, as TARGET or in a `Location`",
            (S::HttpError, T::Call) => "`-f`/`--fail-with-body` and a status of 400 or more",
            (S::WriteError, T::Call) => {
                "the output could not be written: it closed early (`rwsgi-call ... \\| head \
                 -c1`), the disk is full"
            }
            (S::ReadError, T::Call) => {
                "a file to send could not be read (`-d @file`, `--json @file`, `-F \
                 name=@file`, `-T file`, `-b file`)"
            }
            (S::TooManyRedirects, T::Call) => "more redirects than `--max-redirs`",
            (S::BadContentEncoding, T::Call) => {
                "`--compressed` and a body in an unknown coding, or one that does not decode"
            }
            (S::Interrupted, T::Call) => "interrupted (Ctrl-C)",

            (S::Success, T::Event) => "the reply JSON was printed",
            (S::Failure, T::Event) => {
                "the invocation is one Lambda would report as an error (its error JSON is \
                 printed instead; with `--stream`, a stream cut short), the app could not be \
                 loaded, or the event could not be read"
            }
            (S::Usage, T::Event) => "bad usage (an unknown option, no app named)",

            (S::Success, T::Cgi) => {
                "a whole response was written: the app's, or a `400`, `413` or `500` in its \
                 place (the reason is in the error log)"
            }
            (S::Failure, T::Cgi) => {
                "the app could not be loaded, or a setting is wrong (a `500` was sent; the \
                 reason is in the error log); the app raised after its headers were out (the \
                 body stops there); the client went away"
            }

            (S::Success, T::Fastcgi) => "stopped by SIGTERM or SIGINT",
            (S::Failure, T::Fastcgi) => {
                "the app cannot be imported (before anything is served: the traceback is in the \
                 log)"
            }
            (S::Usage, T::Fastcgi) => {
                "bad usage (a `--bind` that is neither form or cannot be listened on, nowhere \
                 to listen, `--workers 0`, a setting that is not a number)"
            }

            (S::Success, T::Lambda) => "stopped by SIGTERM or SIGINT (Lambda's shutdown)",
            (S::Failure, T::Lambda) => {
                "the init failed (reported to `/runtime/init/error`), or the Runtime API went \
                 away or answered with an error"
            }
            (S::Usage, T::Lambda) => {
                "`AWS_LAMBDA_RUNTIME_API` is not set or is not an address (`rwsgi lambda` run \
                 by hand)"
            }
            (S::BeforeSnapshot, T::Lambda) => {
                "SnapStart: a before-snapshot hook raised (`Runtime.BeforeSnapshotError`)"
            }
            (S::AfterRestore, T::Lambda) => {
                "SnapStart: an after-restore hook raised (`Runtime.AfterRestoreError`)"
            }
            _ => return None,
        })
    }
}

/// `table` as the documentation has it: a Markdown table of status and meaning, in the order of the
/// codes.
#[cfg(test)]
fn markdown(table: Table) -> String {
    let mut out = String::from("| status | when |\n|---|---|\n");
    for status in ExitStatus::ALL {
        if let Some(when) = status.when(table) {
            out.push_str(&format!("| {} | {when} |\n", status.code()));
        }
    }
    out
}

/// `table` as `--help` shows it: each status and its meaning, the Markdown taken out, wrapped
/// to `width` columns.
pub(crate) fn plain_text(table: Table, width: usize) -> String {
    let mut out = String::new();
    for status in ExitStatus::ALL {
        let Some(when) = status.when(table) else {
            continue;
        };
        let when = when.replace('`', "").replace("\\|", "|");
        let mut line = format!("{:>4}  ", status.code());
        for word in when.split(' ') {
            if line.len() + word.len() > width && line.len() > 6 {
                out.push_str(line.trim_end());
                out.push('\n');
                line = " ".repeat(6);
            }
            line.push_str(word);
            line.push(' ');
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

impl From<&Error> for ExitStatus {
    fn from(e: &Error) -> ExitStatus {
        match e {
            Error::Usage(_) | Error::Spec(_) => ExitStatus::Usage,
            _ => ExitStatus::Failure,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> std::process::ExitCode {
        std::process::ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_round_trip() {
        for status in ExitStatus::ALL {
            assert_eq!(ExitStatus::from_code(status.code()), status);
        }
        assert_eq!(ExitStatus::from_code(7), ExitStatus::Failure);
    }

    #[test]
    fn help_text() {
        let text = plain_text(Table::Call, 60);
        assert!(text.starts_with("   0  a response, whatever its HTTP status\n"));
        assert!(text.contains("\n  23  the output could not be written: it closed early"));
        assert!(text.contains("(rwsgi-call ... | head -c1)"));
        assert!(text.lines().all(|l| l.len() <= 60), "{text}");
        assert!(!text.contains('`'));
    }

    #[test]
    fn every_status_is_in_a_table() {
        for status in ExitStatus::ALL {
            assert!(
                Table::ALL.iter().any(|t| status.when(*t).is_some()),
                "{status:?} is in no table"
            );
        }
    }

    /// Each exit-status table in the README or docs/ follows its marker comment
    /// `<!-- exit-status: NAME -->` and is what [`markdown`] makes. With `RWSGI_BLESS_README=1`
    /// the test writes the tables into those files instead of failing.
    #[test]
    fn documented_tables_are_the_enum() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![root.join("README.md")];
        let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
        let mut wrong = Vec::new();
        let mut seen = Vec::new();
        for path in &files {
            let text = std::fs::read_to_string(path).unwrap();
            let mut blessed = text.clone();
            for table in Table::ALL {
                let marker = format!("<!-- exit-status: {} -->\n", table.name());
                let Some(at) = text.find(&marker) else {
                    continue;
                };
                seen.push(table);
                let at = at + marker.len();
                let wanted = markdown(table);
                let found: String = text[at..]
                    .split_inclusive('\n')
                    .take_while(|line| line.starts_with('|'))
                    .collect();
                if found != wanted {
                    let at = blessed.find(&marker).unwrap() + marker.len();
                    blessed.replace_range(at..at + found.len(), &wanted);
                    wrong.push(format!("{} {}:\n{wanted}", path.display(), table.name()));
                }
            }
            if blessed != text && std::env::var_os("RWSGI_BLESS_README").is_some() {
                std::fs::write(path, blessed).unwrap();
            }
        }
        for table in Table::ALL {
            assert_eq!(
                seen.iter().filter(|t| **t == table).count(),
                1,
                "the {:?} exit-status table should be documented once",
                table.name()
            );
        }
        assert!(
            wrong.is_empty() || std::env::var_os("RWSGI_BLESS_README").is_some(),
            "the documented exit-status tables differ from src/exit.rs (RWSGI_BLESS_README=1 \
             rewrites them); they should read:\n{}",
            wrong.join("\n")
        );
    }
}
