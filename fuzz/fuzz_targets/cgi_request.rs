//! CGI meta-variables and stdin -> `cgi::build_request`, with small body limits so that both the
//! in-memory and the temporary-file paths run. Checks docs/cgi.md: stdin is never read past
//! CONTENT_LENGTH, an accepted body is exactly CONTENT_LENGTH bytes of stdin, every rejection
//! is the documented one for its cause, and the environ keeps the promised keys.

#![no_main]

use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use rwsgi::testing::cgi::{BodyLimits, Rejection, build_request, parse_size};
use rwsgi_fuzz::{body_bytes, check, common_request_checks, show};

/// The meta-variables whose handling differs, or any name.
#[derive(Debug, Arbitrary)]
enum Key {
    ContentLength,
    TransferEncoding,
    Https,
    RequestScheme,
    HttpHost,
    ServerName,
    ServerPort,
    HttpContentType,
    HttpContentLength,
    RequestMethod,
    PathInfo,
    ScriptName,
    QueryString,
    RemoteAddr,
    ServerProtocol,
    ContentType,
    Other(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Val {
    /// A length near the real body's, so that accepted bodies are common.
    Length(i8),
    Chunked,
    On,
    Any(Vec<u8>),
}

/// How stdin behaves: short reads, interruptions that a reader must retry, or a failure.
#[derive(Debug, Arbitrary)]
struct Stdin {
    data: Vec<u8>,
    /// The most one read returns (0 means no limit).
    piece: u8,
    /// Every so many reads is interrupted (EINTR), which readers retry (below 2: never, as
    /// a stdin whose every read is interrupted never gives anything).
    interrupt_every: u8,
    /// Reading fails once this many bytes are delivered.
    fail_at: Option<u8>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    vars: Vec<(Key, Val)>,
    stdin: Stdin,
    max_body: u8,
    spool_threshold: u8,
    size_text: String,
}

/// A stdin that counts what it gave.
struct Counted {
    data: Vec<u8>,
    pos: usize,
    piece: usize,
    interrupt_every: u32,
    reads: u32,
    fail_at: Option<usize>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reads += 1;
        if self.interrupt_every >= 2 && self.reads.is_multiple_of(self.interrupt_every) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.fail_at.is_some_and(|at| self.pos >= at) {
            return Err(io::Error::other("stdin broke"));
        }
        let mut n = buf.len().min(self.data.len() - self.pos);
        if self.piece > 0 {
            n = n.min(self.piece);
        }
        if let Some(at) = self.fail_at {
            n = n.min(at - self.pos);
        }
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn temp_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // One folder for every run: rwsgi names each spooled body by process and time and
        // unlinks it at once, so runs never meet there and nothing is left behind.
        let dir = std::env::temp_dir().join("rwsgi-fuzz-cgi");
        std::fs::create_dir_all(&dir).expect("a folder for spooled bodies");
        dir
    })
    .clone()
}

fn key_bytes(key: &Key) -> Vec<u8> {
    let name: &[u8] = match key {
        Key::ContentLength => b"CONTENT_LENGTH",
        Key::TransferEncoding => b"HTTP_TRANSFER_ENCODING",
        Key::Https => b"HTTPS",
        Key::RequestScheme => b"REQUEST_SCHEME",
        Key::HttpHost => b"HTTP_HOST",
        Key::ServerName => b"SERVER_NAME",
        Key::ServerPort => b"SERVER_PORT",
        Key::HttpContentType => b"HTTP_CONTENT_TYPE",
        Key::HttpContentLength => b"HTTP_CONTENT_LENGTH",
        Key::RequestMethod => b"REQUEST_METHOD",
        Key::PathInfo => b"PATH_INFO",
        Key::ScriptName => b"SCRIPT_NAME",
        Key::QueryString => b"QUERY_STRING",
        Key::RemoteAddr => b"REMOTE_ADDR",
        Key::ServerProtocol => b"SERVER_PROTOCOL",
        Key::ContentType => b"CONTENT_TYPE",
        Key::Other(b) => b,
    };
    name.to_vec()
}

/// What the spec says of CONTENT_LENGTH: absent or blank is no length; otherwise a
/// non-negative whole number of octets (RFC 3875 section 4.1.2: `1*digit`), else 400. Spaces
/// and tabs around it are forgiven, as servers pad values; nothing else is (latin-1's no-break
/// space 0xA0 and next-line 0x85 are not blanks in a CGI variable).
fn spec_length(value: Option<&[u8]>) -> Result<Option<u64>, ()> {
    let Some(v) = value else { return Ok(None) };
    let start = v.iter().position(|b| !matches!(b, b' ' | b'\t'));
    let end = v.iter().rposition(|b| !matches!(b, b' ' | b'\t'));
    let (Some(start), Some(end)) = (start, end) else {
        return Ok(None);
    };
    let t = &v[start..=end];
    if !t.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    Ok(Some(
        std::str::from_utf8(t)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX),
    ))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let _ = parse_size(&input.size_text);

    // An environment holds each name once.
    let mut vars: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (key, value) in &input.vars {
        let key = key_bytes(key);
        if key.is_empty()
            || key.contains(&b'=')
            || key.contains(&0)
            || vars.iter().any(|(k, _)| *k == key)
        {
            continue;
        }
        let value = match value {
            Val::Length(d) => (input.stdin.data.len() as i64 + i64::from(*d) / 16)
                .max(0)
                .to_string()
                .into_bytes(),
            Val::Chunked => b"chunked".to_vec(),
            Val::On => b"on".to_vec(),
            Val::Any(b) => b.iter().copied().filter(|&b| b != 0).collect(),
        };
        vars.push((key, value));
    }
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    };

    let limits = BodyLimits {
        max_body: u64::from(input.max_body % 64),
        spool_threshold: u64::from(input.spool_threshold % 24),
        temp_dir: temp_dir(),
    };
    let stdin_len = input.stdin.data.len();
    let mut stdin = Counted {
        data: input.stdin.data.clone(),
        pos: 0,
        piece: usize::from(input.stdin.piece % 8),
        interrupt_every: u32::from(input.stdin.interrupt_every % 4),
        reads: 0,
        fail_at: input.stdin.fail_at.map(|f| usize::from(f).min(stdin_len)),
    };
    let result = build_request(&vars, &mut stdin, &limits);
    let consumed = stdin.pos as u64;

    let length = spec_length(get("CONTENT_LENGTH"));
    let chunked = get("HTTP_TRANSFER_ENCODING")
        .is_some_and(|te| te.to_ascii_lowercase().windows(7).any(|w| w == b"chunked"));
    // The bytes stdin can give before it fails or ends.
    let available = stdin.fail_at.unwrap_or(stdin_len) as u64;

    // Never a byte past CONTENT_LENGTH; with no length, only a chunked body is read, and then
    // no more than one byte past the limit (to tell "at the limit" from "over it").
    let may_read = match (length, chunked) {
        (Ok(Some(n)), _) => n,
        (Ok(None), true) => limits.max_body + 1,
        _ => 0,
    };
    check("reads_within_length", consumed <= may_read, || {
        format!(
            "read {consumed} bytes, may read {may_read}; CONTENT_LENGTH {:?}",
            get("CONTENT_LENGTH").map(show)
        )
    });

    match result {
        Err(rejection) => {
            let expected = match (&rejection, length, chunked) {
                (Rejection::BadLength(_), Err(()), _) => true,
                (Rejection::TooLarge { .. }, Ok(Some(n)), _) => n > limits.max_body,
                (Rejection::TooLarge { .. }, Ok(None), true) => available > limits.max_body,
                (Rejection::ShortBody { got, want }, Ok(Some(n)), _) => {
                    *want == n && *got == available && available < n
                }
                (Rejection::Read(_), Ok(Some(_)) | Ok(None), _) => {
                    stdin.fail_at.is_some() && consumed == available && may_read > available
                }
                _ => false,
            };
            check("documented_rejection", expected, || {
                format!(
                    "{rejection} ({:?}) for CONTENT_LENGTH {:?}, chunked {chunked}, stdin {stdin_len} bytes, fails at {:?}, limits {limits:?}",
                    rejection.status(),
                    get("CONTENT_LENGTH").map(show),
                    stdin.fail_at
                )
            });
        }
        Ok(request) => {
            let want_len = match (length, chunked) {
                (Ok(Some(n)), _) => Some(n),
                (Ok(None), true) => Some(available),
                (Ok(None), false) => Some(0),
                (Err(()), _) => None,
            };
            check("accepted_length_is_valid", want_len.is_some(), || {
                format!(
                    "CONTENT_LENGTH {:?} accepted",
                    get("CONTENT_LENGTH").map(show)
                )
            });
            let want_len = want_len.unwrap_or(0);
            check(
                "accepted_within_limits",
                want_len <= limits.max_body && want_len <= available,
                || {
                    format!(
                        "a body of {want_len} bytes accepted, limits {limits:?}, stdin {available} bytes"
                    )
                },
            );
            check(
                "body_is_content_length",
                request.body.len() == want_len,
                || format!("body {} bytes, want {want_len}", request.body.len()),
            );
            let https = ["HTTPS"].iter().any(|k| {
                get(k).is_some_and(|v| {
                    [&b"on"[..], b"1", b"yes"]
                        .iter()
                        .any(|t| v.eq_ignore_ascii_case(t))
                })
            }) || get("REQUEST_SCHEME")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"https"));
            check(
                "scheme_rule",
                request.scheme == if https { "https" } else { "http" },
                || format!("scheme {:?}", request.scheme),
            );
            let env = common_request_checks(&request);
            check(
                "no_transfer_encoding",
                !env.contains_key("HTTP_TRANSFER_ENCODING"),
                || "HTTP_TRANSFER_ENCODING passed on with a whole body".into(),
            );
            // Every other meta-variable is passed as it is.
            for (key, value) in &vars {
                let name: String = key.iter().map(|&b| b as char).collect();
                if [
                    "CONTENT_LENGTH",
                    "HTTP_TRANSFER_ENCODING",
                    "HTTP_CONTENT_TYPE",
                    "HTTP_CONTENT_LENGTH",
                ]
                .contains(&name.as_str())
                {
                    continue;
                }
                // These five are read into the request's own fields (and a default stands in
                // for an empty one); like every other value they must reach the app as the
                // server's bytes, one latin-1 character each (docs/cgi.md#the-environ).
                let field = matches!(
                    name.as_str(),
                    "REQUEST_METHOD"
                        | "SERVER_NAME"
                        | "SERVER_PORT"
                        | "SERVER_PROTOCOL"
                        | "REMOTE_ADDR"
                );
                if field && value.is_empty() {
                    continue;
                }
                let check_name = if field {
                    "cgi_fields_latin1"
                } else {
                    "meta_variable_kept"
                };
                check(check_name, env.get(&name) == Some(value), || {
                    format!(
                        "{name} = {:?} became {:?}",
                        show(value),
                        env.get(&name).map(|v| show(v))
                    )
                });
            }
            let body = body_bytes(request);
            check(
                "body_is_stdin",
                body.len() as u64 == want_len && input.stdin.data.starts_with(&body),
                || {
                    format!(
                        "body {:?}, stdin {:?}",
                        show(&body),
                        show(&input.stdin.data)
                    )
                },
            );
        }
    }
});
