//! [`Response`] -> the reply JSON for a front door: the door's status and headers
//! (`Source::reply_head`, in the door's own file), then the body, as text or base64, which
//! every door takes the same way; and the 6 MB limit on a reply.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::http::{Response, ResponseHead};
use crate::lambda::source::Source;

/// The largest reply a synchronous invocation may return: 6 MB (AWS Lambda quotas, "Invocation
/// payload (request and response)": 6,291,556 bytes).
pub const MAX_REPLY_BYTES: usize = 6_291_556;

/// The content types sent as text; everything else is base64.
#[derive(Debug, Clone, Default)]
pub struct TextTypes {
    /// Extra media types from `RWSGI_TEXT_TYPES` (lower case, without parameters).
    pub extra: Vec<String>,
}

impl TextTypes {
    /// From `RWSGI_TEXT_TYPES`: a comma-separated list such as `application/vnd.api+json,
    /// application/x-ndjson`.
    pub fn parse(list: &str) -> TextTypes {
        TextTypes {
            extra: list
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
        }
    }

    /// Whether `content_type` names text.
    pub fn is_text(&self, content_type: &str) -> bool {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if media.starts_with("text/") {
            return true;
        }
        const TEXT: [&str; 6] = [
            "application/json",
            "application/javascript",
            "application/xml",
            "application/x-www-form-urlencoded",
            "application/yaml",
            "application/graphql",
        ];
        TEXT.contains(&media.as_str())
            || media.ends_with("+json")
            || media.ends_with("+xml")
            || media.ends_with("+yaml")
            || self.extra.iter().any(|t| t == &media)
    }
}

/// Whether the body goes as text: no content coding, a textual type, and valid UTF-8. An empty body is text (`""`).
fn body_as_text<'a>(
    head: &ResponseHead,
    body: &'a [u8],
    text_types: &TextTypes,
) -> Option<&'a str> {
    if body.is_empty() {
        return Some("");
    }
    let encoded = head
        .header("content-encoding")
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    let textual = head
        .header("content-type")
        .is_some_and(|t| text_types.is_text(t));
    if encoded || !textual {
        return None;
    }
    std::str::from_utf8(body).ok()
}

/// The reply for `source`. `head_request` empties the body (a response to HEAD has none).
pub fn to_reply(
    source: Source,
    response: &Response,
    head_request: bool,
    text_types: &TextTypes,
) -> Value {
    let body: &[u8] = if head_request { &[] } else { &response.body };
    let mut reply = source.reply_head(&response.head);
    let (body, is_base64) = match body_as_text(&response.head, body, text_types) {
        Some(text) => (text.to_string(), false),
        None => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    reply.insert("body".into(), json!(body));
    reply.insert("isBase64Encoded".into(), json!(is_base64));
    Value::Object(reply)
}

/// The reply serialized, or, when that would exceed the synchronous payload limit, a 500 saying
/// so (the log line says how large it was). Returns the bytes and the oversize length, if any.
///
/// The body is written straight into the output (base64 encoded there when it is binary), so a
/// large body exists once as the response and once as the reply, never as a third copy.
pub fn serialize(
    source: Source,
    response: &Response,
    head_request: bool,
    text_types: &TextTypes,
) -> (Vec<u8>, Option<usize>) {
    let body: &[u8] = if head_request { &[] } else { &response.body };
    let head = source.reply_head(&response.head);
    let text = body_as_text(&response.head, body, text_types);
    let mut out = serde_json::to_vec(&Value::Object(head)).unwrap_or_default();
    // `{...}` without its closing brace, then the body fields.
    out.pop();
    const BODY_KEY: &[u8] = b",\"body\":";
    const BASE64_END: &[u8] = b"\",\"isBase64Encoded\":true}";
    // Base64's length is known before encoding, so an oversize binary body is never encoded;
    // text is measured once written (escapes make it longer than its bytes).
    let size = out.len()
        + BODY_KEY.len()
        + match text {
            Some(t) => t.len() + 2,
            None => 1 + body.len().div_ceil(3) * 4 + BASE64_END.len(),
        };
    if text.is_none() && size > MAX_REPLY_BYTES {
        return (too_large(source, head_request, text_types), Some(size));
    }
    out.reserve(size - out.len() + 32);
    out.extend_from_slice(BODY_KEY);
    match text {
        Some(t) => {
            let _ = serde_json::to_writer(&mut out, t);
            out.extend_from_slice(b",\"isBase64Encoded\":false}");
        }
        None => {
            out.push(b'"');
            let start = out.len();
            out.resize(start + body.len().div_ceil(3) * 4, 0);
            let written = base64::engine::general_purpose::STANDARD
                .encode_slice(body, &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
            out.extend_from_slice(BASE64_END);
        }
    }
    if out.len() > MAX_REPLY_BYTES {
        let size = out.len();
        return (too_large(source, head_request, text_types), Some(size));
    }
    (out, None)
}

/// Whether the body goes base64-encoded (it is not sent as text).
pub fn sent_as_base64(head: &ResponseHead, body: &[u8], text_types: &TextTypes) -> bool {
    body_as_text(head, body, text_types).is_none()
}

/// The log line for a reply over the limit: how large it was, why (base64 makes binary a
/// third larger, so a 5 MB file does not fit), and what to do instead.
pub fn too_large_message(reply_bytes: Option<usize>, body_bytes: usize, base64: bool) -> String {
    let mut text = match reply_bytes {
        Some(size) => format!(
            "the reply would be {size} bytes of JSON, over the {MAX_REPLY_BYTES} bytes a \
             synchronous invocation may return"
        ),
        None => format!(
            "the response body is over the {MAX_REPLY_BYTES} bytes a synchronous invocation \
             may return"
        ),
    };
    if base64 {
        text.push_str(&format!(
            ": its body is {body_bytes} bytes of binary, and a Lambda reply carries binary as \
             base64, which makes it a third larger (4 bytes for every 3), so about 4.7 MB of \
             binary is the most that fits"
        ));
    }
    text.push_str(
        "; answering 500 instead. Send large bodies another way: response streaming \
         (RWSGI_INVOKE_MODE=response_stream, behind a function URL or a REST API, with no 6 MB \
         cap), or a redirect to an S3 presigned URL",
    );
    text
}

/// The 500 that takes the place of a reply over the limit.
pub fn too_large(source: Source, head_request: bool, text_types: &TextTypes) -> Vec<u8> {
    let (mut head, mut body) = ResponseHead::error(500, "Internal Server Error");
    body.extend_from_slice(b"The response is larger than the 6 MB a Lambda function can return.\n");
    head.headers
        .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
    head.headers
        .push(("Content-Length".into(), body.len().to_string()));
    let error = Response { head, body };
    serde_json::to_vec(&to_reply(source, &error, head_request, text_types)).unwrap_or_default()
}
