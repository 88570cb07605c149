//! A response the Python core could hand over (a valid status, validated headers, any body) ->
//! `to_reply` and `serialize` for each source. Checks docs/lambda.md#the-reply: the
//! reply is JSON, the body survives the text-or-base64 choice exactly (empty for HEAD), the
//! choice follows the spec's rules, headers keep every value in the source's shape, and the
//! 6 MB limit is kept.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use rwsgi::testing::http::{HeaderVerdict, Response, ResponseHead, check_header, parse_status};
use rwsgi::testing::lambda::reply::{MAX_REPLY_BYTES, TextTypes, serialize, to_reply};
use rwsgi::testing::lambda::source::Source;
use rwsgi_fuzz::{check, show};
use serde_json::Value;

#[derive(Debug, Arbitrary)]
enum SourceKind {
    Rest,
    HttpV1,
    HttpV2,
    Url,
    AlbMulti,
    AlbSingle,
    LatticeV1,
    LatticeV2,
}

impl SourceKind {
    fn source(&self) -> Source {
        match self {
            SourceKind::Rest => Source::RestApi,
            SourceKind::HttpV1 => Source::HttpApiV1,
            SourceKind::HttpV2 => Source::HttpApiV2,
            SourceKind::Url => Source::FunctionUrl,
            SourceKind::AlbMulti => Source::Alb { multi_value: true },
            SourceKind::AlbSingle => Source::Alb { multi_value: false },
            SourceKind::LatticeV1 => Source::LatticeV1,
            SourceKind::LatticeV2 => Source::LatticeV2,
        }
    }
}

/// Header names that change the reply, in any letter case, or any other name.
#[derive(Debug, Arbitrary)]
enum Name {
    ContentType(u16),
    ContentEncoding(u16),
    SetCookie(u16),
    ContentLength(u16),
    Other(String),
}

/// Values the text choice depends on, or any text.
#[derive(Debug, Arbitrary)]
enum HeaderValue {
    Type(u8, Option<String>),
    Encoding(bool),
    Any(String),
}

const TYPES: [&str; 16] = [
    "text/html",
    "TEXT/plain",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/yaml",
    "application/graphql",
    "application/vnd.api+json",
    "image/svg+xml",
    "application/x-thing+yaml",
    "application/octet-stream",
    "image/png",
    "application/x-ndjson",
    "multipart/form-data",
    "",
];

/// A body big enough to meet the 6 MB limit: its length is near the limit for base64 or for
/// text, give or take `delta` bytes.
#[derive(Debug, Arbitrary)]
struct Huge {
    /// Only one value in 256 makes a huge body: each costs milliseconds, and the limit is one
    /// branch among many.
    rare: u8,
    fill: u8,
    text: bool,
    delta: i16,
}

#[derive(Debug, Arbitrary)]
struct Input {
    source: SourceKind,
    code: u16,
    reason: String,
    headers: Vec<(Name, HeaderValue)>,
    body: Vec<u8>,
    huge: Option<Huge>,
    head_request: bool,
    extra_text_types: Vec<u8>,
}

fn spell(name: &str, bits: u16) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if bits >> (i % 16) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// Only the characters a validated header or status may hold (latin-1 but CR, LF and NUL),
/// as the Python core guarantees before a response reaches the reply.
fn latin1(s: &str) -> String {
    s.chars()
        .map(|c| char::from_u32(c as u32 % 0x100).unwrap_or(' '))
        .filter(|&c| !matches!(c, '\r' | '\n' | '\0'))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(input) = Input::arbitrary(&mut u) else {
        return;
    };
    let source = input.source.source();
    let status_line = format!("{} {}", 100 + input.code % 900, latin1(&input.reason));
    let Ok(status) = parse_status(&status_line) else {
        check("status_accepted", false, || {
            format!("{status_line:?} refused")
        });
        return;
    };
    let mut headers = Vec::new();
    for (name, value) in &input.headers {
        let name = match name {
            Name::ContentType(b) => spell("content-type", *b),
            Name::ContentEncoding(b) => spell("content-encoding", *b),
            Name::SetCookie(b) => spell("set-cookie", *b),
            Name::ContentLength(b) => spell("content-length", *b),
            Name::Other(s) => s.clone(),
        };
        let value = match value {
            HeaderValue::Type(i, params) => {
                let mut t = TYPES[*i as usize % TYPES.len()].to_string();
                if let Some(p) = params {
                    t.push_str("; ");
                    t.push_str(&latin1(p));
                }
                t
            }
            HeaderValue::Encoding(true) => "gzip".into(),
            HeaderValue::Encoding(false) => " Identity ".into(),
            HeaderValue::Any(s) => latin1(s),
        };
        // Only what start_response lets through reaches a reply.
        if check_header(&name, &value) == Ok(HeaderVerdict::Keep) {
            headers.push((name, value));
        }
    }
    let text_types = TextTypes::parse(&String::from_utf8_lossy(&input.extra_text_types));
    let body = match &input.huge {
        Some(h) if h.rare == 0x5a => {
            let near = if h.text {
                MAX_REPLY_BYTES
            } else {
                MAX_REPLY_BYTES / 4 * 3
            };
            let len = (near as i64 - 512 + i64::from(h.delta) / 8).max(0) as usize;
            vec![if h.text { b'a' + h.fill % 26 } else { h.fill }; len]
        }
        _ => input.body.clone(),
    };
    let response = Response {
        head: ResponseHead { status, headers },
        body,
    };

    let (bytes, oversize) = serialize(source, &response, input.head_request, &text_types);
    check(
        "serialized_within_limit",
        bytes.len() <= MAX_REPLY_BYTES,
        || format!("{} bytes", bytes.len()),
    );
    let reply = serde_json::from_slice::<Value>(&bytes);
    check("serialized_is_json", reply.is_ok(), || {
        format!(
            "{reply:?}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(400)])
        )
    });
    let Ok(reply) = reply else { return };

    // `serialize` writes the body in place rather than through `to_reply`: both must give the
    // same reply, byte for byte, whenever it fits.
    let whole = to_reply(source, &response, input.head_request, &text_types);
    let whole_bytes = serde_json::to_vec(&whole).unwrap_or_default();
    match oversize {
        None => check("serialize_is_to_reply", bytes == whole_bytes, || {
            format!(
                "serialize gave {} bytes, to_reply {} bytes",
                bytes.len(),
                whole_bytes.len()
            )
        }),
        Some(size) => {
            check(
                "oversize_only_when_over",
                whole_bytes.len() > MAX_REPLY_BYTES,
                || {
                    format!(
                        "replaced by a 500 (size {size}) although the reply is {} bytes",
                        whole_bytes.len()
                    )
                },
            );
            check(
                "oversize_is_500",
                reply.get("statusCode") == Some(&Value::from(500)),
                || format!("{reply}"),
            );
            return;
        }
    }
    reply_checks(source, &response, input.head_request, &text_types, &reply);
});

/// The spec's text rule, written out again: no content coding but identity, a textual type,
/// valid UTF-8; an empty body is always `""`.
fn want_text(response: &Response, body: &[u8], extra: &TextTypes) -> bool {
    if body.is_empty() {
        return true;
    }
    let first = |name: &str| {
        response
            .head
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    if first("content-encoding").is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity")) {
        return false;
    }
    let Some(media) = first("content-type").map(|t| {
        t.split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }) else {
        return false;
    };
    let textual = media.starts_with("text/")
        || [
            "application/json",
            "application/javascript",
            "application/xml",
            "application/x-www-form-urlencoded",
            "application/yaml",
            "application/graphql",
        ]
        .contains(&media.as_str())
        || ["+json", "+xml", "+yaml"]
            .iter()
            .any(|s| media.ends_with(s))
        || extra.extra.contains(&media);
    textual && std::str::from_utf8(body).is_ok()
}

fn reply_checks(
    source: Source,
    response: &Response,
    head_request: bool,
    text_types: &TextTypes,
    reply: &Value,
) {
    let sent: &[u8] = if head_request { &[] } else { &response.body };
    check(
        "status_code",
        reply.get("statusCode") == Some(&Value::from(response.head.status.code)),
        || format!("statusCode {:?}", reply.get("statusCode")),
    );

    // The body round-trips.
    let encoded = reply.get("isBase64Encoded").and_then(Value::as_bool);
    let text = reply.get("body").and_then(Value::as_str);
    let (Some(encoded), Some(text)) = (encoded, text) else {
        check("body_fields", false, || format!("{reply}"));
        return;
    };
    let got = if encoded {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_else(|e| panic!("invariant body_base64 failed: {e}"))
    } else {
        text.as_bytes().to_vec()
    };
    check("body_round_trip", got == sent, || {
        format!("sent {:?}, the reply holds {:?}", show(sent), show(&got))
    });
    let want = want_text(response, sent, text_types);
    check("text_choice", encoded != want, || {
        format!(
            "isBase64Encoded {encoded} for headers {:?} and body {:?}",
            response.head.headers,
            show(sent)
        )
    });

    // Headers, in the source's shape, none lost.
    let headers = &response.head.headers;
    let joined = |pick: &dyn Fn(&str) -> bool| -> Vec<(String, String)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for (n, v) in headers.iter().filter(|(n, _)| pick(n)) {
            match groups.iter_mut().find(|(g, _)| g.eq_ignore_ascii_case(n)) {
                Some((_, vs)) => vs.push(v.clone()),
                None => groups.push((n.clone(), vec![v.clone()])),
            }
        }
        groups
            .into_iter()
            .map(|(n, vs)| (n, vs.join(", ")))
            .collect()
    };
    let as_pairs = |v: Option<&Value>| -> Option<Vec<(String, String)>> {
        v?.as_object()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect()
    };
    let is_cookie = |n: &str| n.eq_ignore_ascii_case("set-cookie");
    match source {
        Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true } => {
            let mut flat = Vec::new();
            if let Some(map) = reply.get("multiValueHeaders").and_then(Value::as_object) {
                for (name, values) in map {
                    for v in values.as_array().into_iter().flatten() {
                        flat.push((name.clone(), v.as_str().unwrap_or("\u{0}").to_string()));
                    }
                }
            }
            let mut want = headers.clone();
            // Grouped by exact name in first-seen order, as a JSON object holds them.
            want.sort_by_key(|(n, _)| headers.iter().position(|(m, _)| m == n));
            check("multi_value_headers", flat == want, || {
                format!("{flat:?}, want {want:?}")
            });
        }
        Source::HttpApiV2 | Source::FunctionUrl => {
            let got = as_pairs(reply.get("headers"));
            let want = joined(&|n| !is_cookie(n));
            check("v2_headers", got.as_ref() == Some(&want), || {
                format!("{got:?}, want {want:?}")
            });
            let cookies: Vec<String> = headers
                .iter()
                .filter(|(n, _)| is_cookie(n))
                .map(|(_, v)| v.clone())
                .collect();
            check(
                "v2_cookies",
                reply.get("cookies") == Some(&Value::from(cookies.clone())),
                || format!("cookies {:?}, want {cookies:?}", reply.get("cookies")),
            );
        }
        Source::Alb { multi_value: false } | Source::LatticeV1 | Source::LatticeV2 => {
            let got = as_pairs(reply.get("headers")).unwrap_or_default();
            let (got_cookies, got_rest): (Vec<_>, Vec<_>) =
                got.into_iter().partition(|(n, _)| is_cookie(n));
            let want = joined(&|n| !is_cookie(n));
            check("single_value_headers", got_rest == want, || {
                format!("{got_rest:?}, want {want:?}")
            });
            // Every cookie kept, one per spelling of the name (a name has 2^9 spellings, far
            // more than these inputs hold).
            let mut got_values: Vec<String> = got_cookies.into_iter().map(|(_, v)| v).collect();
            let mut want_values: Vec<String> = headers
                .iter()
                .filter(|(n, _)| is_cookie(n))
                .map(|(_, v)| v.clone())
                .collect();
            got_values.sort();
            want_values.sort();
            check("single_value_cookies", got_values == want_values, || {
                format!("{got_values:?}, want {want_values:?}")
            });
        }
    }
    if matches!(source, Source::Alb { .. }) {
        check(
            "alb_status_description",
            reply.get("statusDescription").and_then(Value::as_str)
                == Some(response.head.status.line.as_str()),
            || format!("statusDescription {:?}", reply.get("statusDescription")),
        );
    }
}
