//! API Gateway HTTP APIs, payload format 2.0
//! (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html).
//! Function URLs send the same payload ([`super::function_url`] reads it with the helpers
//! here), with their own path rule.

use serde_json::{Value as JsonValue, json};

use super::common::{
    CLIENT_IP, Door, EventPath, Reader, ViaRequest, form_decode, grouped, header_bytes, json_type,
    present, status_only, strip_segment_prefix, value_at,
};
use super::{EventError, Source};
use crate::error::Result as CrateResult;
use crate::http::ResponseHead;
use crate::json::Value;
use crate::lambda::InvocationContext;

/// Payload 2.0 (`"version": "2.0"` with `requestContext.http`) that is not a function URL's
/// (that door is checked first).
pub(super) fn detect(event: &Value) -> Option<Source> {
    is_payload2(event).then_some(Source::HttpApiV2)
}

/// `"version": "2.0"` and a `requestContext.http`.
pub(super) fn is_payload2(event: &Value) -> bool {
    event.get("version").and_then(Value::as_str) == Some("2.0")
        && value_at(event, "requestContext.http").is_some()
}

/// An HTTP API's payload 2.0.
pub(crate) struct HttpApi;

impl Door for HttpApi {
    fn name(&self) -> &'static str {
        "API Gateway HTTP API (payload 2.0)"
    }

    fn method<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        method(r)
    }

    fn headers(&self, r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError> {
        headers(r)
    }

    fn protocol<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        protocol(r)
    }

    fn https_only(&self) -> bool {
        true
    }

    fn client_ip(
        &self,
        r: &Reader<'_>,
        _headers: &[(String, Vec<u8>)],
    ) -> Result<Option<String>, EventError> {
        client_ip(r)
    }

    /// HTTP APIs decode the path before the event is built: `/search/%41` in the event was
    /// `/search/%2541` on the wire, and decoding again would change it.
    fn path<'a>(&self, r: &Reader<'a>) -> Result<EventPath<'a>, EventError> {
        Ok(EventPath {
            raw: r.str_at("rawPath")?.unwrap_or("/"),
            decoded: true,
            query: None,
        })
    }

    fn script_name(&self, stage: &str, _host: Option<&str>, path: &mut Vec<u8>) -> Vec<u8> {
        strip_named_stage(stage, path)
    }

    fn query(&self, r: &Reader<'_>, _in_path: Option<&str>) -> Result<String, EventError> {
        query(r)
    }

    fn reply_head(&self, head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
        reply_head(head)
    }
}

/// An HTTP API puts a named stage in the path itself; `$default` is not in URLs
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-stages.html). The
/// stage, when the path starts with it, moves to `SCRIPT_NAME`.
pub(super) fn strip_named_stage(stage: &str, path: &mut Vec<u8>) -> Vec<u8> {
    if stage.is_empty() || stage == "$default" {
        return Vec::new();
    }
    let prefix = format!("/{stage}");
    match strip_segment_prefix(path, prefix.as_bytes()) {
        Some(rest) => {
            *path = rest;
            prefix.into_bytes()
        }
        None => Vec::new(),
    }
}

pub(super) fn method<'a>(r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
    r.str_at("requestContext.http.method")
}

pub(super) fn protocol<'a>(r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
    r.str_at("requestContext.http.protocol")
}

pub(super) fn client_ip(r: &Reader<'_>) -> Result<Option<String>, EventError> {
    Ok(r.str_at("requestContext.http.sourceIp")?
        .map(str::to_string))
}

/// `rawQueryString`, as the client sent it.
pub(super) fn query(r: &Reader<'_>) -> Result<String, EventError> {
    Ok(r.str_at("rawQueryString")?.unwrap_or("").to_string())
}

/// `headers`, one string per name. Payload 2.0 moves the Cookie header into `cookies`; when
/// both are present the array is the whole truth, so it replaces the header rather than
/// doubling it.
pub(super) fn headers(r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError> {
    let mut headers = header_bytes(r.pairs("headers", false)?);
    let Some(cookies) = present(r.event, "cookies") else {
        return Ok(headers);
    };
    let Value::Array(items) = cookies else {
        return Err(r.err(format!(
            "cookies must be a list, not {}",
            json_type(cookies)
        )));
    };
    let mut parts = Vec::new();
    for item in items {
        match item {
            Value::String(s) => parts.push(s.as_str()),
            Value::Null => {}
            other => {
                return Err(r.err(format!(
                    "cookies must hold strings, not {}",
                    json_type(other)
                )));
            }
        }
    }
    if !parts.is_empty() {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("cookie"));
        headers.push(("Cookie".into(), parts.join("; ").into_bytes()));
    }
    Ok(headers)
}

/// `headers` with repeats joined with `, `; every `Set-Cookie` goes to `cookies` instead.
pub(super) fn reply_head(head: &ResponseHead) -> serde_json::Map<String, JsonValue> {
    let mut reply = status_only(head);
    let mut headers = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (name, values) in grouped(head) {
        if name.eq_ignore_ascii_case("set-cookie") {
            cookies.extend(values);
        } else {
            headers.insert(name, json!(values.join(", ")));
        }
    }
    reply.insert("headers".into(), JsonValue::Object(headers));
    reply.insert("cookies".into(), json!(cookies));
    reply
}

/// The event an HTTP API on its `$default` stage sends for `req`.
pub(crate) fn via_event(req: &ViaRequest, ctx: &InvocationContext) -> CrateResult<JsonValue> {
    Ok(payload2_event(
        req,
        ctx,
        &req.decoded_path,
        (&req.domain, &req.domain_prefix),
    ))
}

/// A payload 2.0 event for `req`, with `path` as `rawPath` and the domain (and its prefix) the
/// event names. The stage is `$default`, whose URLs carry no stage (a named HTTP API stage
/// stays in `rawPath`; the translation takes it off).
pub(super) fn payload2_event(
    req: &ViaRequest,
    ctx: &InvocationContext,
    path: &str,
    (domain, domain_prefix): (&str, &str),
) -> JsonValue {
    let mut hmap = serde_json::Map::new();
    let mut cookies = Vec::new();
    for (n, v) in &req.forwarded_headers(true) {
        let name = n.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                v.split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        // HTTP APIs and function URLs lower-case names and join repeats with commas.
        join_into(&mut hmap, name, v);
    }
    let mut qs = serde_json::Map::new();
    for (k, v) in &req.query_pairs {
        let (k, v) = (form_decode(k), form_decode(v));
        join_into(&mut qs, k, &v);
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": req.query,
        "headers": hmap,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "rwsgilocal",
            "domainName": domain,
            "domainPrefix": domain_prefix,
            "http": {
                "method": req.method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": CLIENT_IP,
                "userAgent": req.user_agent
            },
            "requestId": ctx.aws_request_id,
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": req.epoch_ms
        },
        "body": req.body_field(false),
        "isBase64Encoded": req.body_base64
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !qs.is_empty() {
        event["queryStringParameters"] = JsonValue::Object(qs);
    }
    event
}

/// Adds `value` under `name`, after a comma when the name is there already.
fn join_into(map: &mut serde_json::Map<String, JsonValue>, name: String, value: &str) {
    match map.get_mut(&name) {
        Some(JsonValue::String(existing)) => {
            existing.push(',');
            existing.push_str(value);
        }
        _ => {
            map.insert(name, json!(value));
        }
    }
}
