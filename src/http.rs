//! The neutral model in the middle of the flow: every source builds a [`Request`], the Python
//! core turns it into a WSGI environ and drives a [`ResponseSink`], and every sink turns what it
//! receives into its own output. Owned bytes only; nothing here calls Python.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, Cursor};
use std::sync::Arc;

/// One HTTP request as a server would hand it to a WSGI gateway.
///
/// Text that comes off the wire (paths, query strings, header values) is kept as bytes: PEP 3333
/// carries it to the app as latin-1 "bytes in a str", so nothing is decoded or re-encoded here.
pub struct Request {
    pub method: String,
    /// `http` or `https` (`wsgi.url_scheme`).
    pub scheme: String,
    /// The mount point of the app, already percent-decoded (`SCRIPT_NAME`).
    pub script_name: Vec<u8>,
    /// The rest of the path, already percent-decoded (`PATH_INFO`).
    pub path_info: Vec<u8>,
    /// The query as received, still encoded (`QUERY_STRING`).
    pub query_string: Vec<u8>,
    /// The path and query exactly as the client sent them (`REQUEST_URI`, `RAW_URI`).
    pub request_uri: Option<Vec<u8>>,
    pub server_name: String,
    pub server_port: String,
    pub server_protocol: String,
    pub remote_addr: String,
    /// Request headers in arrival order, repeats and letter case kept.
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Body,
    /// Further environ keys (CGI meta-variables, `--env KEY=VALUE`, `REMOTE_USER`); they win over
    /// the keys derived from the fields above.
    pub extra: Vec<(String, Vec<u8>)>,
    /// Environ values that are not text (`rwsgi.event`, `rwsgi.context`), built into Python
    /// objects by the core (or, for an [`Extension::Object`], by their owner).
    pub extensions: Vec<(String, Extension)>,
    pub traits: ServerTraits,
}

/// A non-text environ value.
#[derive(Debug)]
pub enum Extension {
    /// A JSON document, given to the app as Python objects (dicts, lists, str, ...).
    Json(crate::json::Value),
    /// A mode's own object (Lambda's invocation context), which builds its Python form itself:
    /// the core hands the app whatever it makes, knowing nothing of what it is.
    Object(Box<dyn crate::python::EnvironObject>),
    /// A stream the app's `wsgi.errors` writes to instead of `sys.stderr` (FastCGI's
    /// `FCGI_STDERR`, which lands in the web server's error log).
    Errors(ErrorWriter),
}

/// Where a request's `wsgi.errors` text goes.
#[derive(Clone)]
pub struct ErrorWriter(pub Arc<std::sync::Mutex<dyn io::Write + Send>>);

impl std::fmt::Debug for ErrorWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ErrorWriter")
    }
}

/// What the hosting process promises the app (PEP 3333, "environ Variables").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerTraits {
    pub multithread: bool,
    pub multiprocess: bool,
    pub run_once: bool,
}

impl Request {
    /// A GET for `/` with the values a plain HTTP/1.1 server on localhost would give.
    pub fn new(method: &str) -> Request {
        Request {
            method: method.to_string(),
            scheme: "http".into(),
            script_name: Vec::new(),
            path_info: b"/".to_vec(),
            query_string: Vec::new(),
            request_uri: None,
            server_name: "localhost".into(),
            server_port: "80".into(),
            server_protocol: "HTTP/1.1".into(),
            remote_addr: "127.0.0.1".into(),
            headers: Vec::new(),
            body: Body::empty(),
            extra: Vec::new(),
            extensions: Vec::new(),
            traits: ServerTraits {
                multithread: false,
                multiprocess: false,
                run_once: true,
            },
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The CGI-style environ keys of this request (everything but the `wsgi.*` entries), in a
    /// stable order, each key once. Header names holding `_` are left out (see below).
    ///
    /// Header rules (RFC 3875 section 4.1.18; PEP 3333 "environ Variables"): a header becomes
    /// `HTTP_` plus its name upper-cased with `-` as `_`; names that differ only in letter case
    /// (or in `-` versus `_`) are one header, their values joined with `, ` (RFC 9110 section
    /// 5.3), except `Cookie`, whose values join with `; ` (RFC 6265 section 5.4).
    /// `Content-Type` and `Content-Length` travel as `CONTENT_TYPE` and `CONTENT_LENGTH` only;
    /// `HTTP_CONTENT_TYPE`/`HTTP_CONTENT_LENGTH` must not appear (wsgiref.validate refuses them).
    pub fn cgi_variables(&self) -> Vec<(String, Vec<u8>)> {
        self.cgi_variables_borrowed()
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// [`Request::cgi_variables`], borrowing from the request where it can: the environ is
    /// built from these on every request, and copying each value first would double its work.
    pub fn cgi_variables_borrowed(&self) -> Vec<(Cow<'_, str>, Cow<'_, [u8]>)> {
        let mut vars = EnvBuilder {
            entries: Vec::with_capacity(16 + self.headers.len() + self.extra.len()),
            index: None,
        };
        vars.put("REQUEST_METHOD", self.method.as_bytes());
        vars.put("SCRIPT_NAME", &self.script_name);
        vars.put("PATH_INFO", &self.path_info);
        vars.put("QUERY_STRING", &self.query_string);
        if let Some(uri) = &self.request_uri {
            vars.put("REQUEST_URI", uri);
            vars.put("RAW_URI", uri);
        }
        vars.put("SERVER_NAME", self.server_name.as_bytes());
        vars.put("SERVER_PORT", self.server_port.as_bytes());
        vars.put("SERVER_PROTOCOL", self.server_protocol.as_bytes());
        vars.put("REMOTE_ADDR", self.remote_addr.as_bytes());
        for (name, value) in &self.headers {
            // `X_Forwarded_For` and `X-Forwarded-For` would be one environ key: a client could
            // pass a header off as another the front end set. Apache httpd and nginx drop
            // header names with underscores for that reason (and from CGI variables); so does
            // rwsgi.
            if name.contains('_') {
                continue;
            }
            if name.eq_ignore_ascii_case("content-type") {
                vars.put("CONTENT_TYPE", value);
                continue;
            }
            if name.eq_ignore_ascii_case("content-length") {
                // The body's own length is set below; a header that disagrees with it would
                // make the app read past the end or stop short.
                continue;
            }
            let key = header_environ_key(name);
            let separator: &[u8] = if key == "HTTP_COOKIE" { b"; " } else { b", " };
            vars.append(Cow::Owned(key), value, separator);
        }
        if !self.body.is_empty() {
            vars.set(
                Cow::Borrowed("CONTENT_LENGTH"),
                Cow::Owned(self.body.len().to_string().into_bytes()),
            );
        }
        for (key, value) in &self.extra {
            vars.set(Cow::Borrowed(key), Cow::Borrowed(value));
        }
        vars.entries
    }
}

/// `Accept-Language` -> `HTTP_ACCEPT_LANGUAGE` (RFC 3875 section 4.1.18).
pub(crate) fn header_environ_key(name: &str) -> String {
    let mut key = Vec::with_capacity(name.len() + 5);
    key.extend_from_slice(b"HTTP_");
    key.extend(name.bytes().map(|b| match b {
        b'-' => b'_',
        b => b.to_ascii_uppercase(),
    }));
    // Only ASCII bytes changed, so UTF-8 stays UTF-8.
    String::from_utf8(key).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// An ordered map of environ keys that keeps the first position of each key. An environ has a
/// few dozen keys: a scan finds one faster than hashing it would, and past that many (a request
/// with hundreds of headers) an index takes over.
struct EnvBuilder<'a> {
    entries: Vec<(Cow<'a, str>, Cow<'a, [u8]>)>,
    index: Option<HashMap<String, usize>>,
}

/// How many keys are found by a scan before an index is built.
const ENV_SCAN_LIMIT: usize = 48;

impl<'a> EnvBuilder<'a> {
    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    fn put(&mut self, key: &'static str, value: &'a [u8]) {
        self.set(Cow::Borrowed(key), Cow::Borrowed(value));
    }

    fn set(&mut self, key: Cow<'a, str>, value: Cow<'a, [u8]>) {
        match self.position(&key) {
            Some(i) => self.entries[i].1 = value,
            None => self.push(key, value),
        }
    }

    fn push(&mut self, key: Cow<'a, str>, value: Cow<'a, [u8]>) {
        if let Some(index) = &mut self.index {
            index.insert(key.to_string(), self.entries.len());
        } else if self.entries.len() >= ENV_SCAN_LIMIT {
            let mut index: HashMap<String, usize> = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.to_string(), i))
                .collect();
            index.insert(key.to_string(), self.entries.len());
            self.index = Some(index);
        }
        self.entries.push((key, value));
    }

    fn append(&mut self, key: Cow<'a, str>, value: &'a [u8], separator: &[u8]) {
        match self.position(&key) {
            Some(i) => {
                let existing = self.entries[i].1.to_mut();
                existing.extend_from_slice(separator);
                existing.extend_from_slice(value);
            }
            None => self.push(key, Cow::Borrowed(value)),
        }
    }
}

/// A request body: a reader that yields exactly `len` bytes.
pub struct Body {
    reader: Box<dyn BufRead + Send>,
    len: u64,
}

impl Body {
    pub fn empty() -> Body {
        Body::from_bytes(Vec::new())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Body {
        let len = bytes.len() as u64;
        Body {
            reader: Box::new(Cursor::new(bytes)),
            len,
        }
    }

    /// A body read from `reader`, which the caller promises holds at least `len` bytes; the
    /// WSGI input stream never reads beyond `len`.
    pub fn from_reader(reader: Box<dyn BufRead + Send>, len: u64) -> Body {
        Body { reader, len }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn into_parts(self) -> (Box<dyn BufRead + Send>, u64) {
        (self.reader, self.len)
    }
}

/// A validated status line such as `404 Not Found`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub code: u16,
    /// The whole line, `NNN Reason`.
    pub line: String,
}

impl Status {
    pub fn reason(&self) -> &str {
        self.line.get(4..).unwrap_or("")
    }
}

/// Status and headers of a response, as the app gave them to `start_response` (validated, with
/// hop-by-hop headers removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: Status,
    /// Header names and values; every character is in latin-1 (U+0000..U+00FF).
    pub headers: Vec<(String, String)>,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status line after `prefix` (`Status: ` for CGI, `HTTP/1.1 ` for HTTP), then one
    /// `Name: value` line per header, each ended with CRLF, as latin-1 bytes; the blank line
    /// that ends a head is the caller's.
    pub fn write_lines(&self, prefix: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(prefix);
        out.extend_from_slice(&latin1_bytes(&self.status.line));
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(&latin1_bytes(value));
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The short plain-text response a server sends in place of an app that failed.
    pub fn error(code: u16, reason: &str) -> (ResponseHead, Vec<u8>) {
        let body = format!("{code} {reason}\n").into_bytes();
        let head = ResponseHead {
            status: Status {
                code,
                line: format!("{code} {reason}"),
            },
            headers: vec![
                ("Content-Type".into(), "text/plain; charset=utf-8".into()),
                ("Content-Length".into(), body.len().to_string()),
            ],
        };
        (head, body)
    }
}

/// Where the Python core delivers a response. The core calls `send_head` exactly once, right
/// before the first body bytes or at the end of an empty body (PEP 3333: headers are held until
/// then), then `send_body` for each non-empty chunk.
///
/// These calls are the response as a stream of events, whatever consumes it: start
/// (`send_head`), each chunk (`send_body`), an error after the start (`abort`), and the end (the
/// core's call returning). A buffered sink collects them into one reply; the streamed Lambda
/// reply passes each on as it comes; the WSGI rules live in the core alone.
pub(crate) trait ResponseSink: Send {
    /// `body_len` is the whole body's length when the core knows it in advance (the app returned
    /// a list of bytes, or the body is empty).
    fn send_head(&mut self, head: &ResponseHead, body_len: Option<u64>) -> io::Result<()>;
    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()>;
    /// The app failed after the head went out, so the body is cut short: `error_type` is the
    /// exception's class, `stack` its traceback one frame a string. A sink whose client can be
    /// told (a streamed Lambda reply's error trailers) keeps it; the others have nothing to do.
    fn abort(&mut self, _error_type: &str, _message: &str, _stack: &[String]) {}
}

/// Sends one of rwsgi's own answers ([`ResponseHead::error`]) to `sink`: the head alone in reply
/// to HEAD (RFC 9110 section 9.3.2; RFC 3875 section 4.3.2 under CGI), rwsgi's answers included.
pub(crate) fn send_error(
    sink: &mut dyn ResponseSink,
    code: u16,
    reason: &str,
    head_request: bool,
) -> io::Result<()> {
    let (head, body) = ResponseHead::error(code, reason);
    sink.send_head(&head, Some(body.len() as u64))?;
    if head_request {
        Ok(())
    } else {
        sink.send_body(&body)
    }
}

/// A whole response held in memory, for sinks that answer once (the CLI, Lambda).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub head: ResponseHead,
    pub body: Vec<u8>,
}

/// A sink that collects the response into a [`Response`].
#[derive(Default)]
pub(crate) struct BufferedSink {
    head: Option<ResponseHead>,
    body: Vec<u8>,
    /// The most body bytes to hold; past it the sink refuses more (the app's iteration stops).
    limit: Option<usize>,
    overflowed: bool,
}

impl BufferedSink {
    /// A sink that holds at most `limit` body bytes: a body that could never be sent (Lambda's
    /// 6 MB) is refused as it arrives rather than collected until memory runs out.
    pub(crate) fn with_limit(limit: usize) -> BufferedSink {
        BufferedSink {
            limit: Some(limit),
            ..BufferedSink::default()
        }
    }

    /// Whether the body went past the limit.
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The collected response; `None` when the core never sent a head.
    pub(crate) fn into_response(self) -> Option<Response> {
        self.head.map(|head| Response {
            head,
            body: self.body,
        })
    }
}

impl ResponseSink for BufferedSink {
    fn send_head(&mut self, head: &ResponseHead, body_len: Option<u64>) -> io::Result<()> {
        self.head = Some(head.clone());
        if let Some(n) = body_len {
            let n = usize::try_from(n).unwrap_or(0);
            self.body
                .reserve(self.limit.map_or(n, |limit| n.min(limit)));
        }
        Ok(())
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        if let Some(limit) = self.limit
            && self.body.len() + chunk.len() > limit
        {
            self.overflowed = true;
            self.body = Vec::new();
            return Err(io::Error::other(format!(
                "the response body is larger than {limit} bytes"
            )));
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }
}

/// Why a status or header given to `start_response` is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ProtocolError(pub String);

/// Checks a status line: three digits, a space, a reason phrase (PEP 3333 "The start_response()
/// Callable"; RFC 9110 section 15), latin-1 with no control characters, so it cannot split the
/// response.
pub fn parse_status(status: &str) -> Result<Status, ProtocolError> {
    let bad = |why: &str| ProtocolError(format!("invalid status {status:?}: {why}"));
    let bytes = status.as_bytes();
    if bytes.len() < 4 || !bytes[..3].iter().all(u8::is_ascii_digit) || bytes[3] != b' ' {
        return Err(bad(
            "it must be a three-digit code, a space and a reason phrase, e.g. '200 OK'",
        ));
    }
    let code: u16 = status[..3].parse().map_err(|_| bad("not a number"))?;
    if code < 100 {
        return Err(bad("the code must be between 100 and 999"));
    }
    if let Some(c) = status.chars().find(|&c| !is_latin1_text(c)) {
        return Err(bad(&describe_bad_char(c)));
    }
    Ok(Status {
        code,
        line: status.to_string(),
    })
}

/// What to do with a response header the app gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderVerdict {
    Keep,
    /// A hop-by-hop header (RFC 9110 section 7.6.1; PEP 3333 "Other HTTP Features" forbids the
    /// app from sending them): dropped, with a warning.
    DropHopByHop,
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

/// Checks a response header: the name a token (RFC 9110 section 5.1), the value latin-1 with no
/// CR, LF or NUL (RFC 9110 section 5.5), so no header can inject another or end the head early.
pub fn check_header(name: &str, value: &str) -> Result<HeaderVerdict, ProtocolError> {
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        return Err(ProtocolError(format!(
            "invalid header name {name:?}: it must be a token (letters, digits and !#$%&'*+-.^_`|~)"
        )));
    }
    if let Some(c) = value.chars().find(|&c| !is_latin1_text(c)) {
        return Err(ProtocolError(format!(
            "invalid value for header {name:?}: {}",
            describe_bad_char(c)
        )));
    }
    if HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return Ok(HeaderVerdict::DropHopByHop);
    }
    Ok(HeaderVerdict::Keep)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Latin-1 and not one of the characters that would end or split a header line.
fn is_latin1_text(c: char) -> bool {
    (c as u32) <= 0xFF && !matches!(c, '\r' | '\n' | '\0')
}

fn describe_bad_char(c: char) -> String {
    match c {
        '\r' => "it contains a carriage return (CR)".into(),
        '\n' => "it contains a line feed (LF)".into(),
        '\0' => "it contains a NUL character".into(),
        c => format!(
            "{c:?} (U+{:04X}) is not in latin-1; encode the value first (RFC 8187, RFC 2047)",
            c as u32
        ),
    }
}

/// The bytes of a string whose characters are all latin-1 (validated headers and statuses).
pub(crate) fn latin1_bytes(s: &str) -> Vec<u8> {
    s.chars().map(|c| c as u32 as u8).collect()
}

/// Bytes shown as a latin-1 string, one character per byte.
pub fn latin1_string(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Percent-decodes once (RFC 3986 section 2.1). A `%` not followed by two hex digits stays as
/// it is, as servers do, rather than failing the request.
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    percent_encoding::percent_decode(input).collect()
}

/// Everything but RFC 3986 section 2.3's unreserved characters (letters, digits, `-._~`): what
/// curl's `curl_easy_escape` and API Gateway's encoded query strings escape.
pub(crate) const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes every byte outside RFC 3986's unreserved characters, in upper-case hex.
pub(crate) fn encode_component(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, NOT_UNRESERVED).to_string()
}

/// A body read into memory, for sinks and tests.
pub fn read_all(body: Body) -> io::Result<Vec<u8>> {
    let (mut reader, len) = body.into_parts();
    let mut out = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(&mut reader, len), &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(req: &Request) -> HashMap<String, String> {
        req.cgi_variables()
            .into_iter()
            .map(|(k, v)| (k, latin1_string(&v)))
            .collect()
    }

    #[test]
    fn many_headers_keep_their_order_and_join_past_the_scan_limit() {
        // Enough distinct headers that the builder switches from scanning to its index, with
        // repeats of early and late names after the switch.
        let mut req = Request::new("GET");
        for i in 0..120 {
            req.headers
                .push((format!("X-H{i}"), format!("v{i}").into_bytes()));
        }
        req.headers.push(("x-h3".into(), b"again".to_vec()));
        req.headers.push(("X-H119".into(), b"again".to_vec()));
        req.headers.push(("Cookie".into(), b"a=1".to_vec()));
        req.headers.push(("cookie".into(), b"b=2".to_vec()));
        let list = req.cgi_variables();
        let keys: Vec<&str> = list.iter().map(|(k, _)| k.as_str()).collect();
        let first = keys.iter().position(|k| *k == "HTTP_X_H0").unwrap();
        for i in 0..120 {
            assert_eq!(keys[first + i], format!("HTTP_X_H{i}"));
        }
        let mut unique = keys.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "each key once");
        let v = vars(&req);
        assert_eq!(v["HTTP_X_H3"], "v3, again");
        assert_eq!(v["HTTP_X_H119"], "v119, again");
        assert_eq!(v["HTTP_X_H60"], "v60");
        assert_eq!(v["HTTP_COOKIE"], "a=1; b=2");
    }

    #[test]
    fn headers_become_http_keys_and_join() {
        let mut req = Request::new("GET");
        req.headers = vec![
            ("Accept".into(), b"text/html".to_vec()),
            ("X-Thing".into(), b"a".to_vec()),
            ("x-thing".into(), b"b".to_vec()),
            ("Cookie".into(), b"a=1".to_vec()),
            ("cookie".into(), b"b=2".to_vec()),
            ("Content-Type".into(), b"text/plain".to_vec()),
            ("Content-Length".into(), b"999".to_vec()),
        ];
        req.body = Body::from_bytes(b"hello".to_vec());
        let v = vars(&req);
        assert_eq!(v["HTTP_ACCEPT"], "text/html");
        assert_eq!(v["HTTP_X_THING"], "a, b");
        assert_eq!(v["HTTP_COOKIE"], "a=1; b=2");
        assert_eq!(v["CONTENT_TYPE"], "text/plain");
        assert_eq!(v["CONTENT_LENGTH"], "5");
        assert!(!v.contains_key("HTTP_CONTENT_TYPE"));
        assert!(!v.contains_key("HTTP_CONTENT_LENGTH"));
    }

    #[test]
    fn underscore_names_cannot_pose_as_other_headers() {
        let mut req = Request::new("GET");
        req.headers = vec![
            ("X-Forwarded-For".into(), b"203.0.113.9".to_vec()),
            ("X_Forwarded_For".into(), b"10.0.0.1".to_vec()),
            ("CONTENT_TYPE".into(), b"text/evil".to_vec()),
            ("Content_Length".into(), b"5".to_vec()),
        ];
        let v = vars(&req);
        assert_eq!(v["HTTP_X_FORWARDED_FOR"], "203.0.113.9");
        assert!(!v.contains_key("HTTP_CONTENT_TYPE"));
        assert!(!v.contains_key("HTTP_CONTENT_LENGTH"));
        assert!(!v.contains_key("CONTENT_TYPE"));
    }

    #[test]
    fn no_content_length_without_body_and_extra_wins() {
        let mut req = Request::new("GET");
        req.extra = vec![("REMOTE_ADDR".into(), b"10.1.2.3".to_vec())];
        let v = vars(&req);
        assert!(!v.contains_key("CONTENT_LENGTH"));
        assert_eq!(v["REMOTE_ADDR"], "10.1.2.3");
        assert_eq!(v["PATH_INFO"], "/");
        assert_eq!(v["SCRIPT_NAME"], "");
    }

    #[test]
    fn statuses() {
        for good in ["200 OK", "404 Not Found", "299 ", "599 Caf\u{e9}"] {
            assert!(parse_status(good).is_ok(), "{good}");
        }
        assert_eq!(parse_status("418 I'm a teapot").unwrap().code, 418);
        assert_eq!(
            parse_status("418 I'm a teapot").unwrap().reason(),
            "I'm a teapot"
        );
        for bad in [
            "200",
            "200OK",
            "20 OK",
            "abc OK",
            "099 Low",
            "200 OK\r\nX: y",
            "200 OK\n",
            "200 \0",
            "200 \u{2603}",
            " 200 OK",
        ] {
            assert!(parse_status(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_checked() {
        use HeaderVerdict::*;
        let cases: &[(&str, &str, Option<HeaderVerdict>)] = &[
            ("Content-Type", "text/plain", Some(Keep)),
            ("X-Latin1", "caf\u{e9}", Some(Keep)),
            ("Connection", "close", Some(DropHopByHop)),
            ("transfer-encoding", "chunked", Some(DropHopByHop)),
            ("Keep-Alive", "5", Some(DropHopByHop)),
            ("X-Evil", "a\r\nSet-Cookie: x=1", None),
            ("X-Evil", "a\nb", None),
            ("X-Evil", "a\0b", None),
            ("X-Snow", "\u{2603}", None),
            ("Bad Name", "v", None),
            ("Bad:Name", "v", None),
            ("", "v", None),
            ("X-\u{e9}", "v", None),
        ];
        for (name, value, want) in cases {
            let got = check_header(name, value).ok();
            assert_eq!(got, *want, "{name:?}: {value:?}");
        }
    }

    #[test]
    fn percent_decoding() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"/a%20b", b"/a b"),
            (b"/a%2Fb", b"/a/b"),
            (b"/caf%C3%A9", "/café".as_bytes()),
            (b"/%zz", b"/%zz"),
            (b"/100%", b"/100%"),
            (b"/1%4", b"/1%4"),
            (b"/%4a%4A", b"/JJ"),
            (b"%", b"%"),
            (b"", b""),
        ];
        for (input, want) in cases {
            assert_eq!(percent_decode(input), *want, "{:?}", latin1_string(input));
        }
    }

    #[test]
    fn component_encoding() {
        assert_eq!(encode_component(b"a-b._~Z9"), "a-b._~Z9");
        assert_eq!(encode_component(b"a b&c=d/e"), "a%20b%26c%3Dd%2Fe");
        assert_eq!(encode_component("é".as_bytes()), "%C3%A9");
        assert_eq!(encode_component(b"\x00\xff"), "%00%FF");
    }

    #[test]
    fn header_keys() {
        assert_eq!(
            header_environ_key("Accept-Language"),
            "HTTP_ACCEPT_LANGUAGE"
        );
        assert_eq!(header_environ_key("x-a_b"), "HTTP_X_A_B");
    }

    #[test]
    fn buffered_sink_collects() {
        let (head, body) = ResponseHead::error(500, "Internal Server Error");
        let mut sink = BufferedSink::default();
        sink.send_head(&head, Some(body.len() as u64)).unwrap();
        sink.send_body(&body).unwrap();
        let r = sink.into_response().unwrap();
        assert_eq!(r.head.status.code, 500);
        assert_eq!(r.body, b"500 Internal Server Error\n");
        assert_eq!(r.head.header("content-length"), Some("26"));
    }
}
