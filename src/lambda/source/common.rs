//! What every front door shares: reading an event's fields (a missing field is `None`, one of
//! the wrong type a 400 naming it), the [`Door`] rules each door file fills in, the normaliser
//! that builds the neutral request from them ([`to_request`]), the header maps of a reply, and
//! the request as the `--via` event builders read it ([`ViaRequest`]).

use base64::Engine as _;

use super::{EventError, EventOptions};
use crate::error::{Error, Result as CrateResult};
use crate::http::{self, Body, Request, ResponseHead, ServerTraits};
use crate::json::{Map, Value};
use crate::lambda::InvocationContext;

/// What a front door's event says about each part of a request. [`to_request`] asks in one
/// fixed order (method, headers, protocol, domain, client address, path, stage, query, body,
/// authorizer), so that of several malformed fields the 400 names the first one met, whatever
/// the door.
pub(crate) trait Door: Sync {
    /// The door's name in messages (`API Gateway REST API`).
    fn name(&self) -> &'static str;
    /// The method; `None` when missing (an empty one is refused too).
    fn method<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError>;
    /// The headers in the event's order, letter case and repeats kept.
    fn headers(&self, r: &Reader<'_>) -> Result<Vec<(String, Vec<u8>)>, EventError>;
    /// The protocol field: `HTTP/1.1` on AWS; some emulators put a scheme there.
    fn protocol<'a>(&self, r: &Reader<'a>) -> Result<Option<&'a str>, EventError> {
        r.str_at("requestContext.protocol")
    }
    /// Whether the door answers only https, so that an event that does not say is https.
    fn https_only(&self) -> bool {
        false
    }
    /// The client's address as the service saw it. Behind a load balancer that is the last
    /// X-Forwarded-For entry, the one it appended; earlier entries are whatever the client sent.
    fn client_ip(
        &self,
        _r: &Reader<'_>,
        headers: &[(String, Vec<u8>)],
    ) -> Result<Option<String>, EventError> {
        Ok(last_forwarded_for(headers))
    }
    /// The path as the event gives it.
    fn path<'a>(&self, r: &Reader<'a>) -> Result<EventPath<'a>, EventError>;
    /// `SCRIPT_NAME` from the stage, where the door's URLs carry it, taken off the front of
    /// `path` when the path holds it. `host` is the Host header.
    fn script_name(&self, _stage: &str, _host: Option<&str>, _path: &mut Vec<u8>) -> Vec<u8> {
        Vec::new()
    }
    /// `QUERY_STRING`, still encoded; `in_path` is a query the path field carried.
    fn query(&self, r: &Reader<'_>, in_path: Option<&str>) -> Result<String, EventError>;
    /// The field that says the body is base64, named in the 400 for a body that is not.
    fn base64_field(&self) -> &'static str {
        "isBase64Encoded"
    }
    /// The caller the event names when no authorizer vouched for anyone.
    fn iam_caller(&self, _r: &Reader<'_>) -> Option<String> {
        None
    }
    /// The reply's status and headers in this door's shape (the body fields are common).
    fn reply_head(&self, head: &ResponseHead) -> serde_json::Map<String, serde_json::Value>;
}

/// An event's path field.
pub(crate) struct EventPath<'a> {
    /// As the event gives it (`/` when missing).
    pub raw: &'a str,
    /// Whether the service decoded it already (decoding again would change it).
    pub decoded: bool,
    /// A query the path field holds after a `?`.
    pub query: Option<&'a str>,
}

impl<'a> EventPath<'a> {
    /// A path field that may hold `?query`, still encoded.
    pub(crate) fn split_query(field: &'a str) -> EventPath<'a> {
        match field.split_once('?') {
            Some((raw, query)) => EventPath {
                raw,
                decoded: false,
                query: Some(query),
            },
            None => EventPath {
                raw: field,
                decoded: false,
                query: None,
            },
        }
    }
}

/// Builds the request for `event` by `door`'s rules.
pub(super) fn to_request(
    door: &dyn Door,
    event: &Value,
    options: &EventOptions,
) -> Result<Request, EventError> {
    let r = Reader {
        name: door.name(),
        event,
    };
    if !event.is_object() {
        return Err(r.err("the event is not a JSON object"));
    }
    let method = door
        .method(&r)?
        .filter(|m| !m.is_empty())
        .ok_or_else(|| r.err("it has no HTTP method"))?;
    let mut request = Request::new(method);
    request.traits = ServerTraits {
        multithread: false,
        multiprocess: options.multiprocess,
        run_once: false,
    };
    let headers = door.headers(&r)?;
    let protocol = door.protocol(&r)?;
    request.scheme = scheme(door.https_only(), &headers, protocol).into();
    let domain = r
        .str_at("requestContext.domainName")?
        .filter(|d| !d.is_empty());
    let host = first_header(&headers, "host").filter(|h| !h.is_empty());
    (request.server_name, request.server_port) =
        server_address(host.as_deref(), domain, &headers, &request.scheme);
    request.remote_addr = door
        .client_ip(&r, &headers)?
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "127.0.0.1".into());
    if let Some(p) = protocol.filter(|p| p.starts_with("HTTP/")) {
        request.server_protocol = p.to_string();
    }

    let path = door.path(&r)?;
    let raw_path = if path.raw.is_empty() { "/" } else { path.raw };
    let mount = mount(door, &r, raw_path, path.decoded, host.as_deref(), options)?;
    (request.script_name, request.path_info) = (mount.script_name, mount.path_info);

    let query = door.query(&r, path.query)?;
    // REQUEST_URI is the request-target the client sent (RFC 9112 section 3.2), so a stage the
    // front door took out of the event's path goes back in front of it.
    let mut uri = mount.url_prefix;
    uri.extend_from_slice(raw_path.as_bytes());
    if !query.is_empty() {
        uri.push(b'?');
        uri.extend_from_slice(query.as_bytes());
    }
    request.request_uri = Some(uri);
    request.query_string = query.into_bytes();

    let base64_field = door.base64_field();
    request.body = Body::from_bytes(body(&r, base64_field, r.bool_at(base64_field)?)?);
    request.headers = headers;
    if let Some(user) = principal(door, &r) {
        request
            .extra
            .push(("REMOTE_USER".into(), user.into_bytes()));
    }
    Ok(request)
}

/// `SCRIPT_NAME` and `PATH_INFO` for the path as the event gives it: decoded unless the
/// service did, then the stage (where the door's URLs carry it) and `RWSGI_BASE_PATH` moved
/// from the front of the path to `SCRIPT_NAME`, only at a segment boundary.
fn mount(
    door: &dyn Door,
    r: &Reader<'_>,
    raw_path: &str,
    decoded: bool,
    host: Option<&str>,
    options: &EventOptions,
) -> Result<Mount, EventError> {
    let mut path_info = if decoded {
        raw_path.as_bytes().to_vec()
    } else {
        http::percent_decode(raw_path.as_bytes())
    };
    let stage = r.str_at("requestContext.stage")?.unwrap_or("");
    let before = path_info.len();
    let mut script_name = door.script_name(stage, host, &mut path_info);
    // A door whose stage is in SCRIPT_NAME without having been taken off the event's path (a
    // REST API's `path` never holds it) names a part of the URL the path field lacks.
    let url_prefix = if path_info.len() == before {
        script_name.clone()
    } else {
        Vec::new()
    };
    if let Some(base) = options
        .base_path
        .as_deref()
        .map(|b| b.trim_end_matches('/'))
        .filter(|b| !b.is_empty())
        && let Some(rest) = strip_segment_prefix(&path_info, base.as_bytes())
    {
        path_info = rest;
        script_name.extend_from_slice(base.as_bytes());
    }
    Ok(Mount {
        script_name,
        path_info,
        url_prefix,
    })
}

/// Where the app is mounted: SCRIPT_NAME and PATH_INFO, and what of the URL's path comes
/// before the event's path field.
struct Mount {
    script_name: Vec<u8>,
    path_info: Vec<u8>,
    url_prefix: Vec<u8>,
}

/// The first value of a header, by case-insensitive name.
fn first_header(headers: &[(String, Vec<u8>)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// What the client used, as the load balancer or API saw it. API Gateway and function URLs
/// answer only https, but local emulators of them speak plain HTTP and say so: `cargo lambda
/// watch` puts `http` (a scheme, where AWS puts `HTTP/1.1`) in `requestContext.http.protocol`,
/// and SAM local sends `X-Forwarded-Proto: http`. An event that says it is not https is
/// believed, or the app would send its client to an https URL that does not answer (and mark
/// its cookies Secure).
fn scheme(https_only: bool, headers: &[(String, Vec<u8>)], protocol: Option<&str>) -> &'static str {
    let said = |p: &str| {
        let p = p.trim();
        if p.eq_ignore_ascii_case("https") {
            Some("https")
        } else if p.eq_ignore_ascii_case("http") {
            Some("http")
        } else {
            None
        }
    };
    match first_header(headers, "x-forwarded-proto")
        .as_deref()
        .and_then(said)
        .or_else(|| protocol.and_then(said))
    {
        Some(scheme) => scheme,
        None if https_only => "https",
        None => "http",
    }
}

/// `SERVER_NAME` and `SERVER_PORT`: Host (its port wins), else the API's domain, else
/// localhost; the port else X-Forwarded-Port, else the scheme's.
fn server_address(
    host: Option<&str>,
    domain: Option<&str>,
    headers: &[(String, Vec<u8>)],
    scheme: &str,
) -> (String, String) {
    let (name, port_in_host) = match host.or(domain) {
        Some(h) => split_host(h),
        None => ("localhost".to_string(), None),
    };
    // A Host of only a port (`:80`) names no server: fall back as if it were absent.
    let name = if name.is_empty() {
        domain
            .map(|d| split_host(d).0)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "localhost".into())
    } else {
        name
    };
    let port = port_in_host
        .or_else(|| {
            first_header(headers, "x-forwarded-port")
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or_else(|| if scheme == "https" { "443" } else { "80" }.into());
    (name, port)
}

/// The last X-Forwarded-For entry, over every such header.
fn last_forwarded_for(headers: &[(String, Vec<u8>)]) -> Option<String> {
    let all: Vec<String> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    all.join(",")
        .rsplit(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_string)
}

/// The body, base64-decoded when the service says so; empty when missing or null.
fn body(r: &Reader<'_>, base64_field: &str, base64_flag: bool) -> Result<Vec<u8>, EventError> {
    match present(r.event, "body") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) if base64_flag => decode_base64(s).ok_or_else(|| {
            r.err(format!(
                "body is marked {base64_field} but is not valid base64"
            ))
        }),
        Some(Value::String(s)) => Ok(s.clone().into_bytes()),
        Some(other) => Err(r.err(format!("body must be a string, not {}", json_type(other)))),
    }
}

/// The principal an authorizer vouched for: a Lambda or Cognito authorizer's `principalId`
/// or `claims.sub` (REST), a JWT's `sub` claim or the IAM caller's ARN (HTTP API)
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html);
/// else the caller the door names ([`Door::iam_caller`]).
fn principal(door: &dyn Door, r: &Reader<'_>) -> Option<String> {
    // Most requests have no authorizer: one lookup says so before the five paths are walked.
    if r.value_at("requestContext.authorizer").is_none() {
        return door.iam_caller(r);
    }
    for path in [
        "requestContext.authorizer.principalId",
        "requestContext.authorizer.jwt.claims.sub",
        "requestContext.authorizer.claims.sub",
        "requestContext.authorizer.iam.userArn",
        "requestContext.authorizer.lambda.principalId",
    ] {
        // A principal of another type (a number) is the authorizer's business; it is ignored
        // rather than failing the request.
        if let Ok(Some(p)) = r.str_at(path)
            && !p.is_empty()
        {
            return Some(p.to_string());
        }
    }
    door.iam_caller(r)
}

/// A field that is present and not null.
pub(crate) fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// A dotted path's keys. A scan of its bytes: `str::split` with a `char` sets up a search
/// each time, which for paths this short cost more than the lookups they lead to.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.bytes().position(|b| b == b'.') {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// A field by dotted path; `None` when it, or an object on the way, is missing or null (or
/// not an object).
pub(crate) fn value_at<'a>(event: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = event;
    for key in segments(path) {
        v = v.get(key).filter(|next| !next.is_null())?;
    }
    Some(v)
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// An event's fields, read for one door: every type error names the door and the field.
pub(crate) struct Reader<'a> {
    pub name: &'static str,
    pub event: &'a Value,
}

impl<'a> Reader<'a> {
    pub(crate) fn err(&self, why: impl Into<String>) -> EventError {
        EventError {
            source_name: self.name,
            why: why.into(),
        }
    }

    /// A string field by dotted path: `None` when missing or null, an error when of another type.
    pub(crate) fn str_at(&self, path: &str) -> Result<Option<&'a str>, EventError> {
        let mut v = self.event;
        let mut walked = 0;
        for key in segments(path) {
            // An object on the way that is something else (`"requestContext": "prod"`) is a
            // malformed event, not a missing field.
            if !v.is_object() {
                return Err(self.err(format!(
                    "{} must be an object, not {}",
                    &path[..walked.max(1) - 1],
                    json_type(v)
                )));
            }
            match v.get(key) {
                Some(next) if !next.is_null() => v = next,
                _ => return Ok(None),
            }
            walked += key.len() + 1;
        }
        match v {
            Value::String(s) => Ok(Some(s)),
            other => Err(self.err(format!("{path} must be a string, not {}", json_type(other)))),
        }
    }

    /// A field of any type by dotted path (see [`value_at`]).
    pub(crate) fn value_at(&self, path: &str) -> Option<&'a Value> {
        value_at(self.event, path)
    }

    pub(crate) fn object_at(&self, key: &str) -> Result<Option<&'a Map>, EventError> {
        match present(self.event, key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => {
                Err(self.err(format!("{key} must be an object, not {}", json_type(other))))
            }
        }
    }

    pub(crate) fn bool_at(&self, key: &str) -> Result<bool, EventError> {
        match present(self.event, key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(format!(
                "{key} must be true or false, not {}",
                json_type(other)
            ))),
        }
    }

    /// `{name: "value"}` or `{name: ["v1", "v2"]}` as (name, value) pairs in the event's order;
    /// null values are left out.
    pub(crate) fn pairs(
        &self,
        key: &str,
        multi: bool,
    ) -> Result<Vec<(String, String)>, EventError> {
        self.pairs_as(key, multi, false)
    }

    /// [`Reader::pairs`], where `string_as_list` takes a string in a multi-value map as a
    /// one-item list.
    pub(crate) fn pairs_as(
        &self,
        key: &str,
        multi: bool,
        string_as_list: bool,
    ) -> Result<Vec<(String, String)>, EventError> {
        let Some(map) = self.object_at(key)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (name, value) in map {
            match value {
                Value::Null => {}
                Value::String(s) if !multi || string_as_list => out.push((name.clone(), s.clone())),
                Value::Array(items) if multi => {
                    for item in items {
                        match item {
                            Value::String(s) => out.push((name.clone(), s.clone())),
                            Value::Null => {}
                            other => {
                                return Err(self.err(format!(
                                    "{key}.{name} must hold strings, not {}",
                                    json_type(other)
                                )));
                            }
                        }
                    }
                }
                other => {
                    return Err(self.err(format!(
                        "{key}.{name} must be {}, not {}",
                        if multi {
                            "a list of strings"
                        } else {
                            "a string"
                        },
                        json_type(other)
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The multi-value map `multi` (every value of a repeated name), plus the names that only
    /// the single-value map `single` holds: API Gateway fills both maps, but events written by
    /// hand and by some tools have a name in `headers` alone, and it must not be lost.
    pub(crate) fn merged_pairs(
        &self,
        multi: &str,
        single: &str,
    ) -> Result<Vec<(String, String)>, EventError> {
        let mut out = self.pairs(multi, true)?;
        let Some(map) = self.object_at(single)? else {
            return Ok(out);
        };
        // Usually every name is in both maps: only the ones missing from the lists are read.
        let known = out.len();
        for (name, value) in map {
            if out[..known]
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                continue;
            }
            match value {
                Value::Null => {}
                Value::String(s) => out.push((name.clone(), s.clone())),
                other => {
                    return Err(self.err(format!(
                        "{single}.{name} must be a string, not {}",
                        json_type(other)
                    )));
                }
            }
        }
        Ok(out)
    }

    /// The multi-value map `multi` merged with `single` when the event has the multi-value map,
    /// else `single` alone (the maps payload 1.0 and an ALB in multi-value mode send).
    pub(crate) fn multi_or_single(
        &self,
        multi: &str,
        single: &str,
    ) -> Result<Vec<(String, String)>, EventError> {
        if present(self.event, multi).is_some() {
            self.merged_pairs(multi, single)
        } else {
            self.pairs(single, false)
        }
    }
}

/// Header pairs with their values as bytes.
pub(crate) fn header_bytes(pairs: Vec<(String, String)>) -> Vec<(String, Vec<u8>)> {
    pairs
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect()
}

/// `path` without `prefix` when the prefix ends at a segment boundary (`/v1` matches `/v1` and
/// `/v1/x`, not `/v10`).
pub(crate) fn strip_segment_prefix(path: &[u8], prefix: &[u8]) -> Option<Vec<u8>> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with(b"/")).then(|| rest.to_vec())
}

/// `example.com:8443` -> (`example.com`, Some(`8443`)); IPv6 literals keep their brackets.
pub(crate) fn split_host(host: &str) -> (String, Option<String>) {
    let host = host.trim();
    if let Some(i) = host.rfind(':')
        && !host[i..].contains(']')
    {
        let port = &host[i + 1..];
        if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
            return (host[..i].to_string(), Some(port.to_string()));
        }
    }
    (host.to_string(), None)
}

/// `k=v&k=v`, percent-encoding keys and values (all but RFC 3986 unreserved characters) when
/// `encode` is set, else joining them as they are.
pub(crate) fn join_query(pairs: &[(String, String)], encode: bool) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        if encode {
            out.push_str(&http::encode_component(k.as_bytes()));
            out.push('=');
            out.push_str(&http::encode_component(v.as_bytes()));
        } else {
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Standard base64, with or without padding; whitespace (line breaks from some clients) is
/// ignored.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = s.as_bytes();
    // Bodies from AWS have no whitespace: a copy without it is made only when there is some.
    if !bytes.iter().any(u8::is_ascii_whitespace) {
        return engine.decode(bytes).ok();
    }
    let compact: Vec<u8> = bytes
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    engine.decode(&compact).ok()
}

// The reply's header maps.

type JsonMap = serde_json::Map<String, serde_json::Value>;

/// A reply head with only the status code, which every door's reply starts with.
pub(crate) fn status_only(head: &ResponseHead) -> JsonMap {
    let mut reply = JsonMap::new();
    reply.insert("statusCode".into(), serde_json::json!(head.status.code));
    reply
}

/// A header value without the whitespace around it: RFC 9110 section 5.5 makes it no part of
/// the value, and servers drop it, but a value the app gives with a leading space (Django's
/// `Set-Cookie` is `" name=value; Path=/"`) would otherwise reach a `cookies` array, or a
/// single-value map, with the space inside the string.
fn ows(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// Headers grouped by name, case-insensitively, in first-seen order, with the first-seen
/// spelling of each name.
pub(crate) fn grouped(head: &ResponseHead) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (name, value) in &head.headers {
        let value = ows(value);
        match groups
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some((_, values)) => values.push(value.to_string()),
            None => groups.push((name.clone(), vec![value.to_string()])),
        }
    }
    groups
}

/// `multiValueHeaders`: every header with its own spelling, repeats as list items.
pub(crate) fn multi_value_headers(head: &ResponseHead) -> JsonMap {
    let mut multi = JsonMap::new();
    for (name, value) in &head.headers {
        let value = ows(value);
        match multi.get_mut(name) {
            Some(serde_json::Value::Array(values)) => values.push(serde_json::json!(value)),
            _ => {
                multi.insert(name.clone(), serde_json::json!([value]));
            }
        }
    }
    multi
}

/// `set-cookie` spelled with the letter cases of `n` (a bit per letter): single-value header
/// maps hold one value per name, so extra cookies travel under other spellings, which HTTP
/// treats as the same header.
fn case_variant(name: &str, n: usize) -> String {
    let mut bit = 0;
    name.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                let upper = n >> bit & 1 == 1;
                bit += 1;
                if upper {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

/// One value per name: repeats joined with `, ` (RFC 9110 section 5.3), except `Set-Cookie`,
/// which must never be joined (RFC 6265 section 3: its dates hold commas), so each extra cookie
/// travels under another letter-case spelling of the name, which HTTP treats as the same header.
pub(crate) fn single_value_headers(head: &ResponseHead) -> JsonMap {
    let mut headers = JsonMap::new();
    for (name, values) in grouped(head) {
        if !name.eq_ignore_ascii_case("set-cookie") {
            headers.insert(name, serde_json::json!(values.join(", ")));
            continue;
        }
        let spellings = 1usize << name.chars().filter(char::is_ascii_alphabetic).count();
        let mut values = values.into_iter();
        if let Some(first) = values.next() {
            headers.insert(name.clone(), serde_json::json!(first));
        }
        let mut variant = 0usize;
        for value in values {
            while variant < spellings && headers.contains_key(&case_variant(&name, variant)) {
                variant += 1;
            }
            if variant == spellings {
                crate::log::warn(&format!(
                    "dropped a Set-Cookie: this front door takes at most {spellings} per response"
                ));
                continue;
            }
            headers.insert(case_variant(&name, variant), serde_json::json!(value));
        }
    }
    headers
}

// The request as the `--via` event builders read it.

/// The client address the `--via` events name: from TEST-NET-3 (RFC 5737), which no real
/// client has.
pub(crate) const CLIENT_IP: &str = "203.0.113.10";

/// A request in the terms every door's event is built from.
pub(crate) struct ViaRequest {
    pub method: String,
    /// The body as text, else base64 (with `body_base64` set).
    pub body: String,
    pub body_base64: bool,
    /// The path as the client sent it, still encoded.
    pub raw_path: String,
    /// The path decoded (`PATH_INFO`).
    pub decoded_path: String,
    /// The query as sent, and split into its still-encoded pairs.
    pub query: String,
    pub query_pairs: Vec<(String, String)>,
    /// The domain the client reached (the Host without its port) and its first label.
    pub domain: String,
    pub domain_prefix: String,
    /// The headers as given.
    pub headers: Vec<(String, String)>,
    pub scheme: String,
    pub server_port: String,
    pub user_agent: String,
    /// When the request was made: a minute before the context's deadline.
    pub epoch_ms: u64,
}

impl ViaRequest {
    pub(crate) fn new(mut request: Request, ctx: &InvocationContext) -> CrateResult<ViaRequest> {
        let body = http::read_all(std::mem::replace(&mut request.body, Body::empty())).map_err(
            |source| Error::ReadFile {
                path: "the request body".into(),
                source,
            },
        )?;
        let (body, body_base64) = match String::from_utf8(body) {
            Ok(text) => (text, false),
            Err(e) => (
                base64::engine::general_purpose::STANDARD.encode(e.into_bytes()),
                true,
            ),
        };
        let raw_path = String::from_utf8_lossy(
            &request
                .request_uri
                .clone()
                .map(|u| u.split(|&b| b == b'?').next().unwrap_or_default().to_vec())
                .unwrap_or_else(|| b"/".to_vec()),
        )
        .into_owned();
        let query = String::from_utf8_lossy(&request.query_string).into_owned();
        let query_pairs = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_string(), v.to_string())
            })
            .collect();
        let text = |h: Option<&[u8]>| h.map(|h| String::from_utf8_lossy(h).into_owned());
        // The host the client named (`-H 'Host: ...'` or the URL's): every door's event
        // carries it, in `headers` as given and, without a port, as
        // `requestContext.domainName`, as AWS fills them for the domain the client reached.
        let host = text(request.header("host"))
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| request.server_name.clone());
        let domain = split_host(&host).0;
        Ok(ViaRequest {
            domain_prefix: domain.split('.').next().unwrap_or_default().to_string(),
            domain,
            user_agent: text(request.header("user-agent")).unwrap_or_default(),
            method: request.method,
            body,
            body_base64,
            raw_path,
            decoded_path: String::from_utf8_lossy(&request.path_info).into_owned(),
            query,
            query_pairs,
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned()))
                .collect(),
            scheme: request.scheme,
            server_port: request.server_port,
            epoch_ms: ctx.deadline_ms.saturating_sub(60_000),
        })
    }

    /// The event's `body`: the text or base64; `null` for an empty body when `null_when_empty`
    /// (API Gateway payload 1.0 and VPC Lattice send `null` for no body).
    pub(crate) fn body_field(&self, null_when_empty: bool) -> serde_json::Value {
        if self.body.is_empty() && !self.body_base64 && null_when_empty {
            serde_json::Value::Null
        } else {
            serde_json::Value::String(self.body.clone())
        }
    }

    /// The headers with the X-Forwarded-Proto and X-Forwarded-Port the front door adds: API
    /// Gateway and function URLs (`https_only`) answer only https on 443; a load balancer
    /// forwards the listener's scheme and port.
    pub(crate) fn forwarded_headers(&self, https_only: bool) -> Vec<(String, String)> {
        let (proto, port) = if https_only {
            ("https".to_string(), "443".to_string())
        } else {
            (self.scheme.clone(), self.server_port.clone())
        };
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(n, _)| {
                !n.eq_ignore_ascii_case("x-forwarded-proto")
                    && !n.eq_ignore_ascii_case("x-forwarded-port")
            })
            .cloned()
            .collect();
        headers.push(("X-Forwarded-Proto".into(), proto));
        headers.push(("X-Forwarded-Port".into(), port));
        headers
    }
}

/// A query key or value as API Gateway hands it to the function: `+` a space, then
/// percent-decoded.
pub(crate) fn form_decode(s: &str) -> String {
    String::from_utf8_lossy(&http::percent_decode(s.replace('+', " ").as_bytes())).into_owned()
}

/// Appends `value` to the list under `name`.
pub(crate) fn push_multi(map: &mut JsonMap, name: &str, value: &str) {
    match map.get_mut(name) {
        Some(serde_json::Value::Array(values)) => values.push(serde_json::json!(value)),
        _ => {
            map.insert(name.to_string(), serde_json::json!([value]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Source, detect, to_request};
    use super::*;

    /// An event written as `serde_json::json!` text, read as the runtime reads events.
    macro_rules! json {
        ($($t:tt)+) => {
            Value::from(&serde_json::json!($($t)+))
        };
    }

    fn server(event: Value) -> (String, String) {
        let source = detect(&event).unwrap();
        let r = to_request(&event, source, &EventOptions::default()).unwrap();
        (r.server_name, r.server_port)
    }

    #[test]
    fn base64_bodies_with_and_without_padding_or_line_breaks() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVs\r\nbG8=\n"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64(""), Some(Vec::new()));
        assert_eq!(decode_base64("aGVsbG8*"), None);
        assert_eq!(decode_base64("caf\u{e9}"), None);
    }

    #[test]
    fn a_host_of_only_a_port_names_no_server() {
        let (name, port) = server(json!({"httpMethod": "GET", "headers": {"Host": ":80"}}));
        assert_eq!((name.as_str(), port.as_str()), ("localhost", "80"));
        let (name, _) = server(json!({
            "httpMethod": "GET",
            "headers": {"Host": ":8080"},
            "requestContext": {"domainName": "api.example.com"}
        }));
        assert_eq!(name, "api.example.com");
    }

    #[test]
    fn an_object_of_another_type_on_the_way_is_malformed() {
        let event = json!({"httpMethod": "GET", "requestContext": "prod"});
        match to_request(&event, Source::RestApi, &EventOptions::default()) {
            Err(e) => assert_eq!(e.why, "requestContext must be an object, not a string"),
            Ok(_) => panic!("accepted a requestContext that is a string"),
        }
    }
}
