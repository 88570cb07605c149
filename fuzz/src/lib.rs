//! Shared by the fuzz targets: named invariant checks and small reference models that the
//! targets compare rwsgi's answers with. Nothing here starts Python.

use std::collections::HashMap;
use std::sync::OnceLock;

use rwsgi::testing::http::Request;

/// The checks named in `RWSGI_FUZZ_ALLOW` (comma-separated). A finding that has been reported
/// but not fixed yet would otherwise stop every run at its first input; allowing it lets the
/// fuzzer look past it. `fuzz/run --regressions` sets nothing, so saved findings keep failing
/// until they are fixed.
fn allowed() -> &'static [String] {
    static ALLOWED: OnceLock<Vec<String>> = OnceLock::new();
    ALLOWED.get_or_init(|| {
        std::env::var("RWSGI_FUZZ_ALLOW")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// Whether the invariant `name` is being checked in this run.
pub fn checking(name: &str) -> bool {
    !allowed().iter().any(|a| a == name)
}

/// Panics (which libFuzzer reports as a crash) when `ok` is false, unless `name` is allowed.
/// The message starts with the check's name so that findings can be told apart.
#[track_caller]
pub fn check(name: &str, ok: bool, detail: impl FnOnce() -> String) {
    if !ok && checking(name) {
        panic!("invariant {name} failed: {}", detail());
    }
}

/// The CGI-style variables of a request, by key. `cgi_variables` promises each key once.
pub fn variables(request: &Request) -> HashMap<String, Vec<u8>> {
    let list = request.cgi_variables();
    let count = list.len();
    let map: HashMap<String, Vec<u8>> = list.into_iter().collect();
    check("variables_unique", map.len() == count, || {
        format!(
            "cgi_variables repeats a key: {count} entries, {} keys",
            map.len()
        )
    });
    map
}

/// Bytes shown with escapes, for messages.
pub fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// The invariants every request must keep, whatever built it (PEP 3333 "environ Variables";
/// RFC 3875 section 4.1): returns the variables for further checks.
pub fn common_request_checks(request: &Request) -> HashMap<String, Vec<u8>> {
    let vars = variables(request);
    let get = |k: &str| vars.get(k).map(Vec::as_slice);
    for key in ["SERVER_NAME", "SERVER_PORT"] {
        check(
            &format!("{}_nonempty", key.to_ascii_lowercase()),
            get(key).is_some_and(|v| !v.is_empty()),
            || format!("{key} is {:?}", get(key).map(show)),
        );
    }
    for key in ["HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"] {
        check("no_http_content_keys", !vars.contains_key(key), || {
            format!("{key} = {:?} is in the environ", get(key).map(show))
        });
    }
    check(
        "method_nonempty",
        get("REQUEST_METHOD").is_some_and(|m| !m.is_empty()),
        || "REQUEST_METHOD is empty".into(),
    );
    check(
        "scheme_known",
        request.scheme == "http" || request.scheme == "https",
        || format!("wsgi.url_scheme is {:?}", request.scheme),
    );
    let body_len = request.body.len();
    match get("CONTENT_LENGTH") {
        Some(v) => check(
            "content_length_is_body",
            body_len > 0 && v == body_len.to_string().as_bytes(),
            || {
                format!(
                    "CONTENT_LENGTH {:?} for a body of {body_len} bytes",
                    show(v)
                )
            },
        ),
        None => check("content_length_is_body", body_len == 0, || {
            format!("no CONTENT_LENGTH for a body of {body_len} bytes")
        }),
    }
    vars
}

/// SCRIPT_NAME is empty or starts with `/` (RFC 3875 section 4.1.13), for the sources that
/// build it themselves (a CGI server passes its own).
pub fn script_name_checks(vars: &HashMap<String, Vec<u8>>) {
    let script = vars
        .get("SCRIPT_NAME")
        .map(Vec::as_slice)
        .unwrap_or_default();
    check(
        "script_name_shape",
        script.is_empty() || script.starts_with(b"/"),
        || format!("SCRIPT_NAME is {:?}", show(script)),
    );
}

/// Reads a request's whole body, checking that the reader yields exactly the promised length.
pub fn body_bytes(request: Request) -> Vec<u8> {
    let len = request.body.len();
    let (mut reader, _) = request.body.into_parts();
    let mut all = Vec::new();
    let read = std::io::Read::read_to_end(&mut reader, &mut all);
    check("body_readable", read.is_ok(), || format!("{read:?}"));
    check("body_length", all.len() as u64 >= len, || {
        format!("the body promises {len} bytes and holds {}", all.len())
    });
    all.truncate(len as usize);
    all
}

/// Percent-decoding as RFC 3986 section 2.1 and docs/lambda.md#the-environ describe it: a
/// `%` followed by two hex digits is one byte; any other `%` stays as it is.
pub fn reference_decode(input: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let mut out = Vec::new();
    let mut rest = input;
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%'
            && let [a, b, after @ ..] = tail
            && let (Some(h), Some(l)) = (hex(*a), hex(*b))
        {
            out.push(h * 16 + l);
            rest = after;
            continue;
        }
        out.push(first);
        rest = tail;
    }
    out
}

/// RFC 3986 section 2.3 unreserved characters.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodes all but unreserved characters (docs/lambda.md#query-string).
pub fn reference_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if is_unreserved(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// RFC 9110 section 5.6.2 token characters.
pub fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a header value or status line could split or end a head.
pub fn has_line_break_or_nul(s: &[u8]) -> bool {
    s.iter().any(|b| matches!(b, b'\r' | b'\n' | 0))
}
