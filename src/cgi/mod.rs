//! CGI mode (RFC 3875; spec/cgi.md): the process environment and stdin are the source, stdout
//! is the sink. The web server starts rwsgi once per request, either as the interpreter of a
//! `#!/usr/bin/env rwsgi` drop-in script or as the program itself with `RWSGI_APP` set.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::http::{self, Body, Request, ResponseHead, ResponseSink, ServerTraits};
use crate::python::Outcome;

/// The default `RWSGI_MAX_BODY`: 100 MiB.
pub const DEFAULT_MAX_BODY: u64 = 100 << 20;

/// Bodies up to this size are held in memory; larger ones go to a temporary file.
pub const SPOOL_THRESHOLD: u64 = 1 << 20;

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

/// Builds the request from the CGI meta-variables (`vars`, the process environment as bytes)
/// and the body on `stdin`.
pub fn build_request(
    vars: &[(Vec<u8>, Vec<u8>)],
    stdin: &mut dyn Read,
    limits: &BodyLimits,
) -> std::result::Result<Request, Rejection> {
    let get = |name: &str| {
        vars.iter()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    };
    let text = |name: &str| get(name).map(http::latin1_string);

    let method = text("REQUEST_METHOD")
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "GET".into());
    let mut request = Request::new(&method);
    request.traits = ServerTraits {
        multithread: false,
        multiprocess: true,
        run_once: true,
    };

    // RFC 3875 section 4.1.5 leaves HTTPS to the server; Apache and lighttpd set HTTPS=on,
    // others REQUEST_SCHEME.
    let https = text("HTTPS")
        .is_some_and(|v| ["on", "1", "yes"].iter().any(|t| v.eq_ignore_ascii_case(t)))
        || text("REQUEST_SCHEME").is_some_and(|v| v.eq_ignore_ascii_case("https"));
    request.scheme = if https { "https" } else { "http" }.into();

    request.script_name = get("SCRIPT_NAME").unwrap_or_default().to_vec();
    request.path_info = get("PATH_INFO").unwrap_or_default().to_vec();
    request.query_string = get("QUERY_STRING").unwrap_or_default().to_vec();

    // Some servers (busybox httpd) leave SERVER_NAME and SERVER_PORT out; PEP 3333 requires
    // both, so they come from Host, else the defaults. They are kept as the bytes the server
    // gave (in `extra`, which the environ takes over the text fields), so a name that is not
    // ASCII reaches the app byte for byte like every other CGI variable.
    let nonempty = |name: &str| get(name).filter(|v| !v.is_empty());
    let (host_name, host_port) = match nonempty("HTTP_HOST") {
        Some(h) => split_host(h),
        None => (b"localhost".to_vec(), None),
    };
    let host_name = if host_name.is_empty() {
        b"localhost".to_vec()
    } else {
        host_name
    };
    let server_name = nonempty("SERVER_NAME").map_or(host_name, <[u8]>::to_vec);
    let server_port = nonempty("SERVER_PORT")
        .map(<[u8]>::to_vec)
        .or(host_port)
        .unwrap_or_else(|| {
            if https {
                b"443".to_vec()
            } else {
                b"80".to_vec()
            }
        });
    request.server_name = http::latin1_string(&server_name);
    request.server_port = http::latin1_string(&server_port);
    request.extra.push(("SERVER_NAME".into(), server_name));
    request.extra.push(("SERVER_PORT".into(), server_port));
    if let Some(p) = nonempty("SERVER_PROTOCOL") {
        request.server_protocol = http::latin1_string(p);
        request.extra.push(("SERVER_PROTOCOL".into(), p.to_vec()));
    }
    if let Some(a) = nonempty("REMOTE_ADDR") {
        request.remote_addr = http::latin1_string(a);
        request.extra.push(("REMOTE_ADDR".into(), a.to_vec()));
    }
    if let Some(m) = nonempty("REQUEST_METHOD") {
        request.extra.push(("REQUEST_METHOD".into(), m.to_vec()));
    }

    let chunked = get("HTTP_TRANSFER_ENCODING").is_some_and(|te| {
        http::latin1_string(te)
            .to_ascii_lowercase()
            .contains("chunked")
    });
    // RFC 3875 section 4.1.2: `1*digit`. Only ASCII blanks around it are forgiven (str::trim
    // would also take latin-1's no-break space for white space).
    let blank = |c: char| c == ' ' || c == '\t';
    let length = match text("CONTENT_LENGTH") {
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
    request.body = match (length, chunked) {
        // nginx + fcgiwrap pass both: the length is the de-chunked body's.
        (Some(n), _) => {
            if n > limits.max_body {
                return Err(Rejection::TooLarge {
                    // As given: a length beyond any integer still reads right in the log.
                    size: text("CONTENT_LENGTH")
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
    };

    // Kept out of the pass-through: carried by the request's own fields (the path and query
    // as bytes), set above, or replaced (the body's length).
    const FIELDS: [&str; 10] = [
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "CONTENT_LENGTH",
        // The body is whole and its length known: the app must not see it as chunked.
        "HTTP_TRANSFER_ENCODING",
    ];
    for (key, value) in vars {
        let key = http::latin1_string(key);
        // Some servers also pass Content-Type and Content-Length as HTTP_ variables; PEP 3333
        // (and wsgiref.validate) want them only as CONTENT_TYPE and CONTENT_LENGTH.
        if FIELDS.contains(&key.as_str())
            || key == "HTTP_CONTENT_TYPE"
            || key == "HTTP_CONTENT_LENGTH"
        {
            continue;
        }
        request.extra.push((key, value.clone()));
    }
    Ok(request)
}

/// `example.com:8080` -> (`example.com`, `8080`); `[::1]:8080` keeps the brackets.
fn split_host(host: &[u8]) -> (Vec<u8>, Option<Vec<u8>>) {
    let split_at = match host.iter().rposition(|&b| b == b':') {
        Some(i) if !host[i..].contains(&b']') => i,
        _ => return (host.to_vec(), None),
    };
    let port = &host[split_at + 1..];
    if port.is_empty() || !port.iter().all(u8::is_ascii_digit) {
        return (host.to_vec(), None);
    }
    (host[..split_at].to_vec(), Some(port.to_vec()))
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

/// A new file in `dir`, already unlinked: it disappears when rwsgi exits, however it exits.
fn temp_file(dir: &Path) -> io::Result<File> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    for attempt in 0..100u32 {
        let path = dir.join(format!(
            ".rwsgi-body-{}-{nanos:x}-{attempt}",
            std::process::id()
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                std::fs::remove_file(&path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot create a temporary file in {}: {e}", dir.display()),
                ));
            }
        }
    }
    Err(io::Error::other("cannot find a free temporary file name"))
}

/// Writes a CGI response (RFC 3875 section 6) to stdout.
pub struct CgiSink<W: Write + Send> {
    out: W,
    head_sent: bool,
}

impl<W: Write + Send> CgiSink<W> {
    pub fn new(out: W) -> CgiSink<W> {
        CgiSink {
            out,
            head_sent: false,
        }
    }

    pub fn head_sent(&self) -> bool {
        self.head_sent
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write + Send> ResponseSink for CgiSink<W> {
    fn send_head(&mut self, head: &ResponseHead, body_len: Option<u64>) -> io::Result<()> {
        self.head_sent = true;
        // Always an explicit Status line (RFC 3875 section 6.3.3): without one a server
        // assumes 200 and, for a Location header, may redirect internally.
        let mut text = Vec::with_capacity(256);
        head.write_lines(b"Status: ", &mut text);
        // A known length lets the server keep the connection alive without chunking.
        if let Some(n) = body_len
            && head.header("content-length").is_none()
        {
            text.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes());
        }
        text.extend_from_slice(b"\r\n");
        self.out.write_all(&text)?;
        self.out.flush()
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        // Flushed chunk by chunk, so a streaming app streams where the server passes it on.
        self.out.write_all(chunk)?;
        self.out.flush()
    }
}

/// Imports the app of a drop-in script (the file the kernel named, or `spec` when given), else
/// `RWSGI_APP`. Shared by CGI and FastCGI, which run the same scripts; `base_dirs` are the
/// mode's own import folders.
pub fn load_script_app(
    script: Option<&Path>,
    spec: Option<String>,
    venv: Option<PathBuf>,
    base_dirs: Vec<PathBuf>,
) -> Result<crate::python::App> {
    let spec = match (spec, script, crate::env_nonempty("RWSGI_APP")) {
        (Some(spec), _, _) => spec,
        (None, Some(script), _) => script.to_string_lossy().into_owned(),
        (None, None, Some(spec)) => spec,
        (None, None, None) => {
            return Err(Error::Usage(
                "no app to run: start rwsgi as the interpreter of a script (#!/usr/bin/env rwsgi) \
                 or set RWSGI_APP in the server's configuration"
                    .into(),
            ));
        }
    };
    crate::load_app(
        &spec,
        crate::AppPlace {
            venv,
            // The .venv beside the script, as in every mode (crate::app_folder_venv).
            default_venv: None,
            base_dirs,
            cgi_script: script.map(Path::to_path_buf),
            signal_handlers: false,
            lambda_handler: false,
            // A server may end the program as soon as it has the whole response (lighttpd sends
            // SIGTERM): what the app printed must already be in the error log by then.
            line_buffered: true,
        },
    )
}

/// Runs one CGI request. `script` is the drop-in script the kernel named, if any.
pub fn main(script: Option<PathBuf>, _args: Vec<OsString>) -> Result<u8> {
    // httpoxy (CVE-2016-5385): a client's `Proxy:` header arrives as HTTP_PROXY, which HTTP
    // libraries read as their proxy setting. Remove it before Python (and any subprocess)
    // can see it; the WSGI environ keeps it as the request header it is.
    let vars: Vec<(Vec<u8>, Vec<u8>)> = std::env::vars_os()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect();
    // SAFETY: no other thread exists yet.
    unsafe { std::env::remove_var("HTTP_PROXY") };

    let out = crate::stdio::private_stdout().map_err(|source| Error::Write {
        what: "stdout".into(),
        source,
    })?;
    let sink = Arc::new(Mutex::new(CgiSink::new(out)));
    // RFC 3875 section 4.3.2: no body in reply to HEAD, rwsgi's own answers included.
    let head_request = vars
        .iter()
        .any(|(k, v)| k == b"REQUEST_METHOD" && crate::python::is_head(&http::latin1_string(v)));
    let send_error = |code: u16, reason: &str| {
        let (head, body) = ResponseHead::error(code, reason);
        let mut s = sink.lock().unwrap_or_else(|p| p.into_inner());
        let _ = s.send_head(&head, Some(body.len() as u64)).and_then(|()| {
            if head_request {
                Ok(())
            } else {
                s.send_body(&body)
            }
        });
    };

    let limits = match BodyLimits::from_env() {
        Ok(l) => l,
        Err(e) => {
            crate::log::error(&e.to_string());
            send_error(500, "Internal Server Error");
            return Ok(1);
        }
    };
    let request = match build_request(&vars, &mut io::stdin().lock(), &limits) {
        Ok(r) => r,
        Err(rejection) => {
            let (code, reason) = rejection.status();
            crate::log::error(&format!("answering {code} {reason}: {rejection}"));
            send_error(code, reason);
            return Ok(0);
        }
    };

    let app = load_script_app(script.as_deref(), None, None, Vec::new());
    let app = match app {
        Ok(app) => app,
        Err(e) => {
            crate::log::error(&e.to_string());
            send_error(500, "Internal Server Error");
            return Ok(1);
        }
    };
    let outcome = app.call(request, sink.clone());
    Ok(match outcome {
        // A whole response went out, the app's or a 500 in its place.
        Outcome::Complete | Outcome::FailedBeforeHeaders => 0,
        Outcome::FailedAfterHeaders | Outcome::Interrupted => 1,
        Outcome::SinkFailed(e) => {
            crate::log::error(&format!(
                "cannot write the response (did the client go away?): {e}"
            ));
            1
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn limits() -> BodyLimits {
        BodyLimits {
            max_body: 1000,
            spool_threshold: 16,
            temp_dir: std::env::temp_dir(),
        }
    }

    fn vars(pairs: &[(&str, &[u8])]) -> Vec<(Vec<u8>, Vec<u8>)> {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.to_vec()))
            .collect()
    }

    type Built = (HashMap<String, Vec<u8>>, Vec<u8>);

    fn build(pairs: &[(&str, &[u8])], body: &[u8]) -> std::result::Result<Built, Rejection> {
        let request = build_request(&vars(pairs), &mut &body[..], &limits())?;
        let env = request.cgi_variables().into_iter().collect();
        Ok((env, http::read_all(request.body).unwrap()))
    }

    fn s(v: &[u8]) -> String {
        http::latin1_string(v)
    }

    #[test]
    fn environ_from_bytes() {
        let (env, _) = build(
            &[
                ("REQUEST_METHOD", b"GET"),
                ("SCRIPT_NAME", b"/cgi-bin/app.wsgi"),
                ("PATH_INFO", b"/caf\xc3\xa9/\xff"),
                ("QUERY_STRING", b"a=1&a=2"),
                ("SERVER_NAME", b"example.org"),
                ("SERVER_PORT", b"8080"),
                ("HTTP_HOST", b"example.org:8080"),
                ("HTTP_CONTENT_TYPE", b"text/plain"),
                ("HTTP_CONTENT_LENGTH", b"5"),
                ("CONTENT_TYPE", b"text/plain"),
                ("DOCUMENT_ROOT", b"/srv/www"),
                ("GATEWAY_INTERFACE", b"CGI/1.1"),
                ("HTTP_X_ODD", b"\x80\xfe"),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(env["PATH_INFO"], b"/caf\xc3\xa9/\xff");
        assert_eq!(s(&env["PATH_INFO"]), "/caf\u{c3}\u{a9}/\u{ff}");
        assert_eq!(env["SCRIPT_NAME"], b"/cgi-bin/app.wsgi");
        assert_eq!(env["QUERY_STRING"], b"a=1&a=2");
        assert_eq!(env["SERVER_PORT"], b"8080");
        assert_eq!(env["DOCUMENT_ROOT"], b"/srv/www");
        assert_eq!(env["GATEWAY_INTERFACE"], b"CGI/1.1");
        assert_eq!(env["HTTP_X_ODD"], b"\x80\xfe");
        assert_eq!(env["CONTENT_TYPE"], b"text/plain");
        assert!(!env.contains_key("HTTP_CONTENT_TYPE"));
        assert!(!env.contains_key("HTTP_CONTENT_LENGTH"));
        assert!(!env.contains_key("CONTENT_LENGTH"));
    }

    #[test]
    fn schemes() {
        let scheme = |pairs: &[(&str, &[u8])]| {
            build_request(&vars(pairs), &mut io::empty(), &limits())
                .unwrap()
                .scheme
        };
        assert_eq!(scheme(&[]), "http");
        assert_eq!(scheme(&[("HTTPS", b"on")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"ON")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"1")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"Yes")]), "https");
        assert_eq!(scheme(&[("HTTPS", b"off")]), "http");
        assert_eq!(scheme(&[("REQUEST_SCHEME", b"https")]), "https");
        assert_eq!(scheme(&[("REQUEST_SCHEME", b"http")]), "http");
    }

    #[test]
    fn server_name_and_port_fallbacks() {
        let np = |pairs: &[(&str, &[u8])]| {
            let r = build_request(&vars(pairs), &mut io::empty(), &limits()).unwrap();
            (r.server_name, r.server_port)
        };
        assert_eq!(np(&[]), ("localhost".into(), "80".into()));
        assert_eq!(np(&[("HTTPS", b"on")]), ("localhost".into(), "443".into()));
        assert_eq!(
            np(&[("HTTP_HOST", b"example.com:8000")]),
            ("example.com".into(), "8000".into())
        );
        assert_eq!(
            np(&[("HTTP_HOST", b"example.com")]),
            ("example.com".into(), "80".into())
        );
        assert_eq!(
            np(&[("HTTP_HOST", b"[::1]:81")]),
            ("[::1]".into(), "81".into())
        );
        assert_eq!(
            np(&[("HTTP_HOST", b"[::1]")]),
            ("[::1]".into(), "80".into())
        );
        assert_eq!(
            np(&[
                ("HTTP_HOST", b"a.example:1"),
                ("SERVER_NAME", b"b.example"),
                ("SERVER_PORT", b"2")
            ]),
            ("b.example".into(), "2".into())
        );
    }

    #[test]
    fn body_by_length_never_past_it() {
        let (env, body) = build(&[("CONTENT_LENGTH", b"5")], b"helloEXTRA").unwrap();
        assert_eq!(body, b"hello");
        assert_eq!(env["CONTENT_LENGTH"], b"5");
        let (env, body) = build(&[("CONTENT_LENGTH", b"0")], b"ignored").unwrap();
        assert_eq!(body, b"");
        assert!(!env.contains_key("CONTENT_LENGTH"));
        let (_, body) = build(&[("CONTENT_LENGTH", b"")], b"ignored").unwrap();
        assert_eq!(body, b"");
    }

    #[test]
    fn bad_lengths() {
        for bad in [
            &b"-1"[..],
            b"abc",
            b"1e3",
            b"+5",
            b"5 5",
            b"0x10",
            b"\xa0",
            b"\xa03",
            b"3\x85",
        ] {
            let e = build(&[("CONTENT_LENGTH", bad)], b"").unwrap_err();
            assert!(matches!(e, Rejection::BadLength(_)), "{bad:?}: {e}");
            assert_eq!(e.status().0, 400);
        }
        let e = build(&[("CONTENT_LENGTH", b"1001")], b"").unwrap_err();
        assert!(matches!(e, Rejection::TooLarge { .. }));
        assert_eq!(e.status(), (413, "Content Too Large"));
        let e = build(&[("CONTENT_LENGTH", b"99999999999999999999999")], b"").unwrap_err();
        assert_eq!(e.status().0, 413);
        let e = build(&[("CONTENT_LENGTH", b"10")], b"short").unwrap_err();
        assert!(
            matches!(e, Rejection::ShortBody { got: 5, want: 10 }),
            "{e}"
        );
    }

    #[test]
    fn chunked_bodies() {
        // Apache: de-chunked stdin, no length.
        let (env, body) = build(&[("HTTP_TRANSFER_ENCODING", b"chunked")], b"abc").unwrap();
        assert_eq!(body, b"abc");
        assert_eq!(env["CONTENT_LENGTH"], b"3");
        assert!(!env.contains_key("HTTP_TRANSFER_ENCODING"));
        // nginx + fcgiwrap: both; the length wins.
        let (env, body) = build(
            &[
                ("HTTP_TRANSFER_ENCODING", b"chunked"),
                ("CONTENT_LENGTH", b"2"),
            ],
            b"abc",
        )
        .unwrap();
        assert_eq!(body, b"ab");
        assert!(!env.contains_key("HTTP_TRANSFER_ENCODING"));
        let big = vec![b'x'; 1001];
        let e = build(&[("HTTP_TRANSFER_ENCODING", b"chunked")], &big).unwrap_err();
        assert_eq!(e.status().0, 413);
        let exact = vec![b'x'; 1000];
        let (_, body) = build(&[("HTTP_TRANSFER_ENCODING", b"Chunked")], &exact).unwrap();
        assert_eq!(body.len(), 1000);
    }

    #[test]
    fn large_bodies_spool_to_a_file() {
        let data: Vec<u8> = (0..900u32).map(|i| (i % 251) as u8).collect();
        let len = data.len().to_string();
        let (_, body) = build(&[("CONTENT_LENGTH", len.as_bytes())], &data).unwrap();
        assert_eq!(body, data);
        let (_, body) = build(&[("HTTP_TRANSFER_ENCODING", b"chunked")], &data).unwrap();
        assert_eq!(body, data);
    }

    #[test]
    fn traits() {
        let r = build_request(&[], &mut io::empty(), &limits()).unwrap();
        assert_eq!(
            r.traits,
            ServerTraits {
                multithread: false,
                multiprocess: true,
                run_once: true
            }
        );
        assert_eq!(r.method, "GET");
    }

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

    fn written(head: ResponseHead, len: Option<u64>, chunks: &[&[u8]]) -> String {
        let mut sink = CgiSink::new(Vec::new());
        sink.send_head(&head, len).unwrap();
        for c in chunks {
            sink.send_body(c).unwrap();
        }
        s(&sink.into_inner())
    }

    #[test]
    fn response_writer() {
        let head = ResponseHead {
            status: http::parse_status("201 Created").unwrap(),
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Set-Cookie".into(), "a=1".into()),
                ("Set-Cookie".into(), "b=2".into()),
                ("X-Latin".into(), "caf\u{e9}".into()),
            ],
        };
        assert_eq!(
            written(head.clone(), Some(5), &[b"hel", b"lo"]),
            "Status: 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\
             Set-Cookie: b=2\r\nX-Latin: caf\u{e9}\r\nContent-Length: 5\r\n\r\nhello"
        );
        assert_eq!(
            written(head.clone(), None, &[b"x"]),
            "Status: 201 Created\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\n\
             Set-Cookie: b=2\r\nX-Latin: caf\u{e9}\r\n\r\nx"
        );
        let mut with_length = head;
        with_length
            .headers
            .push(("content-length".into(), "5".into()));
        let out = written(with_length, Some(5), &[b"hello"]);
        assert_eq!(out.matches("ontent-").count(), 2, "{out}");
        assert!(!out.contains("Content-Length: 5"), "{out}");
    }
}
