//! Lambda HTTP event -> [`Request`]: which front door sent the event, and the rules of
//! spec/lambda-events.md sections 1 and 2 for each.
//!
//! Events are read as JSON values ([`crate::json`], with key order kept) rather than typed
//! structs: the rules need the event's own order of query keys, its header letter cases, and a
//! clear 400 for a field of the wrong type instead of a default.

use crate::json::{Map, Value};
use base64::Engine as _;

use crate::http::{self, Body, Request, ServerTraits};

/// The front door that sent an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API, Lambda proxy integration (payload 1.0).
    RestApi,
    /// API Gateway HTTP API, payload format 1.0.
    HttpApiV1,
    /// API Gateway HTTP API, payload format 2.0.
    HttpApiV2,
    /// A Lambda function URL (payload 2.0).
    FunctionUrl,
    /// An Application Load Balancer target group.
    Alb { multi_value: bool },
    /// VPC Lattice, event version 1.
    LatticeV1,
    /// VPC Lattice, event version 2.
    LatticeV2,
}

impl Source {
    /// Every front door, each shape of ALB event included.
    pub const ALL: [Source; 8] = [
        Source::RestApi,
        Source::HttpApiV1,
        Source::HttpApiV2,
        Source::FunctionUrl,
        Source::Alb { multi_value: true },
        Source::Alb { multi_value: false },
        Source::LatticeV1,
        Source::LatticeV2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::RestApi => "API Gateway REST API",
            Source::HttpApiV1 => "API Gateway HTTP API (payload 1.0)",
            Source::HttpApiV2 => "API Gateway HTTP API (payload 2.0)",
            Source::FunctionUrl => "Lambda function URL",
            Source::Alb { multi_value: true } => "Application Load Balancer (multi-value headers)",
            Source::Alb { multi_value: false } => "Application Load Balancer",
            Source::LatticeV1 => "VPC Lattice (v1)",
            Source::LatticeV2 => "VPC Lattice (v2)",
        }
    }
}

/// A field that is present and not null.
fn present<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.get(key).filter(|x| !x.is_null())
}

/// Which source sent `event` (spec section 1, in its order: local tools add stray keys, such as
/// a top-level `httpMethod` on 2.0 events, and the order keeps those working). `None` for an
/// event that is not an HTTP request.
pub fn detect(event: &Value) -> Option<Source> {
    if !event.is_object() {
        return None;
    }
    let context = present(event, "requestContext");
    let in_context = |key: &str| context.and_then(|c| present(c, key));
    // An API Gateway Lambda authorizer's input (REST TOKEN and REQUEST, HTTP API payload 1.0
    // with `methodArn` and 2.0 with `routeArn`) carries the request it guards, but asks for a
    // policy or a yes/no, not a response: it is never the app's request.
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
    // https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html
    if matches!(
        event.get("type").and_then(Value::as_str),
        Some("REQUEST" | "TOKEN")
    ) && (present(event, "methodArn").is_some() || present(event, "routeArn").is_some())
    {
        return None;
    }
    // WebSocket API events (connect, messages, disconnect) are not HTTP requests either.
    if in_context("eventType").is_some() || in_context("connectionId").is_some() {
        return None;
    }
    if in_context("elb").is_some() {
        return Some(Source::Alb {
            multi_value: present(event, "multiValueHeaders").is_some(),
        });
    }
    let version = event.get("version").and_then(Value::as_str);
    if version == Some("2.0") && in_context("http").is_some() {
        // Function URLs send payload 2.0 from `<url-id>.lambda-url.<region>.on.aws`. Every
        // HTTP API event names its API (`apiId`); an event without one comes from a function
        // URL emulator (`cargo lambda watch` sends `localhost` and a null `apiId`), and its
        // path is encoded as a function URL's is.
        let domain = in_context("domainName")
            .and_then(Value::as_str)
            .unwrap_or("");
        if (domain.ends_with(".on.aws") && domain.contains(".lambda-url."))
            || in_context("apiId").is_none()
        {
            return Some(Source::FunctionUrl);
        }
        return Some(Source::HttpApiV2);
    }
    if version == Some("2.0")
        && present(event, "method").is_some()
        && (in_context("serviceArn").is_some() || in_context("serviceNetworkArn").is_some())
    {
        return Some(Source::LatticeV2);
    }
    if present(event, "httpMethod").is_some() {
        return Some(if version == Some("1.0") {
            Source::HttpApiV1
        } else {
            Source::RestApi
        });
    }
    if present(event, "raw_path").is_some() && present(event, "method").is_some() {
        return Some(Source::LatticeV1);
    }
    None
}

/// Why an event cannot be turned into a request: answered with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {source_name} event: {why}")]
pub struct EventError {
    pub source_name: &'static str,
    pub why: String,
}

/// Settings that change the translation (`RWSGI_BASE_PATH`).
#[derive(Debug, Clone, Default)]
pub struct EventOptions {
    /// A path prefix moved from `PATH_INFO` to `SCRIPT_NAME` (e.g. `/v1` behind a custom
    /// domain's base path mapping).
    pub base_path: Option<String>,
}

struct Reader<'a> {
    source: Source,
    event: &'a Value,
}

impl<'a> Reader<'a> {
    fn err(&self, why: impl Into<String>) -> EventError {
        EventError {
            source_name: self.source.name(),
            why: why.into(),
        }
    }

    /// A string field by dotted path: `None` when missing or null, an error when of another type.
    fn str_at(&self, path: &str) -> Result<Option<&'a str>, EventError> {
        let mut v = self.event;
        let mut walked = 0;
        for key in path.split('.') {
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

    /// A field of any type by dotted path; `None` when it, or an object on the way, is missing
    /// or null (or not an object).
    fn value_at(&self, path: &str) -> Option<&'a Value> {
        let mut v = self.event;
        for key in path.split('.') {
            v = v.get(key).filter(|next| !next.is_null())?;
        }
        Some(v)
    }

    fn object_at(&self, key: &str) -> Result<Option<&'a Map>, EventError> {
        match present(self.event, key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => {
                Err(self.err(format!("{key} must be an object, not {}", json_type(other))))
            }
        }
    }

    fn bool_at(&self, key: &str) -> Result<bool, EventError> {
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
    fn pairs(&self, key: &str, multi: bool) -> Result<Vec<(String, String)>, EventError> {
        self.pairs_as(key, multi, false)
    }

    /// [`Reader::pairs`], where `string_as_list` takes a string in a multi-value map as a
    /// one-item list.
    fn pairs_as(
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
}

impl Reader<'_> {
    /// The multi-value map `multi` (every value of a repeated name), plus the names that only
    /// the single-value map `single` holds: API Gateway fills both maps, but events written by
    /// hand and by some tools have a name in `headers` alone, and it must not be lost.
    fn merged_pairs(&self, multi: &str, single: &str) -> Result<Vec<(String, String)>, EventError> {
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
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Builds the request for `event`, sent by `source`.
pub fn to_request(
    event: &Value,
    source: Source,
    options: &EventOptions,
) -> Result<Request, EventError> {
    let r = Reader { source, event };
    if !event.is_object() {
        return Err(r.err("the event is not a JSON object"));
    }

    let method = match source {
        Source::HttpApiV2 | Source::FunctionUrl => r.str_at("requestContext.http.method")?,
        Source::LatticeV1 | Source::LatticeV2 => r.str_at("method")?,
        _ => r.str_at("httpMethod")?,
    }
    .filter(|m| !m.is_empty())
    .ok_or_else(|| r.err("it has no HTTP method"))?;
    let mut request = Request::new(method);
    request.traits = ServerTraits {
        multithread: false,
        multiprocess: false,
        run_once: false,
    };

    // Headers, in the event's order. Multi-value headers, when the event has them, hold every
    // value (REST APIs send both maps; `headers` keeps only the last of each).
    let headers = match source {
        Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true }
            if present(event, "multiValueHeaders").is_some() =>
        {
            r.merged_pairs("multiValueHeaders", "headers")?
        }
        // Lattice v2 sends lists; an older published shape of the event has plain strings.
        Source::LatticeV2 => r.pairs_as("headers", true, true)?,
        _ => r.pairs("headers", false)?,
    };
    let mut headers: Vec<(String, Vec<u8>)> = headers
        .into_iter()
        .map(|(n, v)| (n, v.into_bytes()))
        .collect();
    if matches!(source, Source::HttpApiV2 | Source::FunctionUrl) {
        // Payload 2.0 moves the Cookie header into `cookies`; when both are present the array
        // is the whole truth, so it replaces the header rather than doubling it.
        if let Some(cookies) = present(event, "cookies") {
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
        }
    }
    let header = |name: &str| -> Option<String> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };

    let protocol = match source {
        Source::HttpApiV2 | Source::FunctionUrl => r.str_at("requestContext.http.protocol")?,
        _ => r.str_at("requestContext.protocol")?,
    };

    // Scheme: what the client used, as the load balancer or API saw it. API Gateway and
    // function URLs answer only https, but local emulators of them speak plain HTTP and say so:
    // `cargo lambda watch` puts `http` (a scheme, where AWS puts `HTTP/1.1`) in
    // `requestContext.http.protocol`, and SAM local sends `X-Forwarded-Proto: http`. An event
    // that says it is not https is believed, or the app would send its client to an https URL
    // that does not answer (and mark its cookies Secure).
    let https_by_default = matches!(
        source,
        Source::RestApi | Source::HttpApiV1 | Source::HttpApiV2 | Source::FunctionUrl
    );
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
    request.scheme = match header("x-forwarded-proto")
        .as_deref()
        .and_then(said)
        .or_else(|| protocol.and_then(said))
    {
        Some(scheme) => scheme.into(),
        None if https_by_default => "https".into(),
        None => "http".into(),
    };

    // SERVER_NAME and SERVER_PORT: Host (its port wins), else the API's domain, else localhost.
    let domain = r
        .str_at("requestContext.domainName")?
        .filter(|d| !d.is_empty());
    let host = header("host").filter(|h| !h.is_empty());
    let (name, port_in_host) = match host.as_deref().or(domain) {
        Some(h) => split_host(h),
        None => ("localhost".to_string(), None),
    };
    // A Host of only a port (`:80`) names no server: fall back as if it were absent.
    request.server_name = if name.is_empty() {
        domain
            .map(|d| split_host(d).0)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "localhost".into())
    } else {
        name
    };
    request.server_port = port_in_host
        .or_else(|| {
            header("x-forwarded-port")
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or_else(|| {
            if request.scheme == "https" {
                "443"
            } else {
                "80"
            }
            .into()
        });

    // REMOTE_ADDR: the address the service saw. Behind a load balancer that is the last
    // X-Forwarded-For entry, the one it appended; earlier entries are whatever the client sent.
    let remote = match source {
        Source::RestApi | Source::HttpApiV1 => r
            .str_at("requestContext.identity.sourceIp")?
            .map(str::to_string),
        Source::HttpApiV2 | Source::FunctionUrl => r
            .str_at("requestContext.http.sourceIp")?
            .map(str::to_string),
        Source::Alb { .. } | Source::LatticeV1 | Source::LatticeV2 => {
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
    };
    request.remote_addr = remote
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "127.0.0.1".into());

    if let Some(p) = protocol.filter(|p| p.starts_with("HTTP/")) {
        request.server_protocol = p.to_string();
    }

    // The path as the event gives it, and whether the service already decoded it.
    let (raw_path, already_decoded, query_in_path) = match source {
        Source::RestApi | Source::HttpApiV1 | Source::Alb { .. } => (
            r.str_at("path")?.unwrap_or("/"),
            source == Source::HttpApiV1,
            None,
        ),
        Source::HttpApiV2 => (r.str_at("rawPath")?.unwrap_or("/"), true, None),
        Source::FunctionUrl => (r.str_at("rawPath")?.unwrap_or("/"), false, None),
        Source::LatticeV1 => {
            let p = r.str_at("raw_path")?.unwrap_or("/");
            match p.split_once('?') {
                Some((path, query)) => (path, false, Some(query)),
                None => (p, false, None),
            }
        }
        Source::LatticeV2 => {
            let p = r.str_at("path")?.unwrap_or("/");
            match p.split_once('?') {
                Some((path, query)) => (path, false, Some(query)),
                None => (p, false, None),
            }
        }
    };
    let raw_path = if raw_path.is_empty() { "/" } else { raw_path };
    let mut path = if already_decoded {
        // HTTP APIs decode the path before the event is built: `/search/%41` in the event
        // was `/search/%2541` on the wire, and decoding again would change it.
        raw_path.as_bytes().to_vec()
    } else {
        http::percent_decode(raw_path.as_bytes())
    };

    // SCRIPT_NAME: the stage, where the URL carries it.
    let stage = r.str_at("requestContext.stage")?.unwrap_or("");
    let mut script_name: Vec<u8> = Vec::new();
    match source {
        // REST API events carry the resource path without the stage; the stage is in the
        // URL only on the API's own execute-api domain, not behind a custom domain.
        Source::RestApi => {
            let host_name = host.as_deref().map(|h| split_host(h).0).unwrap_or_default();
            // REST stage names cannot hold `$`: a `$default` here is an HTTP API event sent
            // as REST, whose stage is not in its URLs.
            if !stage.is_empty() && !stage.contains('$') && is_execute_api_host(&host_name) {
                script_name = format!("/{stage}").into_bytes();
            }
        }
        // HTTP APIs put a named stage in the path itself; `$default` is not in URLs.
        Source::HttpApiV1 | Source::HttpApiV2 if !stage.is_empty() && stage != "$default" => {
            let prefix = format!("/{stage}");
            if let Some(rest) = strip_segment_prefix(&path, prefix.as_bytes()) {
                path = rest;
                script_name = prefix.into_bytes();
            }
        }
        _ => {}
    }
    if let Some(base) = options
        .base_path
        .as_deref()
        .map(|b| b.trim_end_matches('/'))
        .filter(|b| !b.is_empty())
        && let Some(rest) = strip_segment_prefix(&path, base.as_bytes())
    {
        path = rest;
        script_name.extend_from_slice(base.as_bytes());
    }
    request.script_name = script_name;
    request.path_info = path;

    // QUERY_STRING.
    let query = match source {
        Source::HttpApiV2 | Source::FunctionUrl => {
            r.str_at("rawQueryString")?.unwrap_or("").to_string()
        }
        Source::RestApi | Source::HttpApiV1 => {
            // API Gateway hands over decoded values; encode them again so that `&`, `=`, `+`
            // and `%` inside a value keep their meaning.
            let pairs = if present(event, "multiValueQueryStringParameters").is_some() {
                r.merged_pairs("multiValueQueryStringParameters", "queryStringParameters")?
            } else {
                r.pairs("queryStringParameters", false)?
            };
            join_query(&pairs, true)
        }
        Source::Alb { multi_value } => {
            // ALB passes the query as the client sent it, still encoded.
            let pairs =
                if multi_value && present(event, "multiValueQueryStringParameters").is_some() {
                    r.merged_pairs("multiValueQueryStringParameters", "queryStringParameters")?
                } else {
                    r.pairs("queryStringParameters", false)?
                };
            join_query(&pairs, false)
        }
        Source::LatticeV1 => {
            let pairs = r.pairs("query_string_parameters", false)?;
            if pairs.is_empty() {
                query_in_path.unwrap_or("").to_string()
            } else {
                join_query(&pairs, false)
            }
        }
        Source::LatticeV2 => {
            // The older published shape names the map `query_string_parameters`, as v1 does.
            let pairs = if present(event, "queryStringParameters").is_some() {
                r.pairs_as("queryStringParameters", true, true)?
            } else {
                r.pairs_as("query_string_parameters", true, true)?
            };
            if pairs.is_empty() {
                query_in_path.unwrap_or("").to_string()
            } else {
                join_query(&pairs, false)
            }
        }
    };
    let mut uri = raw_path.as_bytes().to_vec();
    if !query.is_empty() {
        uri.push(b'?');
        uri.extend_from_slice(query.as_bytes());
    }
    request.request_uri = Some(uri);
    request.query_string = query.into_bytes();

    // The body, base64-decoded when the service says so.
    let base64_flag = match source {
        Source::LatticeV1 => r.bool_at("is_base64_encoded")?,
        _ => r.bool_at("isBase64Encoded")?,
    };
    let body = match present(event, "body") {
        None => Vec::new(),
        Some(Value::String(s)) if base64_flag => decode_base64(s)
            .ok_or_else(|| r.err("body is marked isBase64Encoded but is not valid base64"))?,
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => {
            return Err(r.err(format!("body must be a string, not {}", json_type(other))));
        }
    };
    request.body = Body::from_bytes(body);
    request.headers = headers;

    if let Some(user) = authorizer_principal(&r)? {
        request
            .extra
            .push(("REMOTE_USER".into(), user.into_bytes()));
    }
    Ok(request)
}

/// The principal an authorizer vouched for: a Lambda or Cognito authorizer's `principalId`
/// or `claims.sub` (REST), a JWT's `sub` claim or the IAM caller's ARN (HTTP API); else the IAM
/// caller a REST API or HTTP API 1.0 with IAM authorization names in
/// `requestContext.identity.userArn`
/// (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html).
fn authorizer_principal(r: &Reader<'_>) -> Result<Option<String>, EventError> {
    // Most requests have no authorizer: one lookup says so before the five paths are walked.
    if r.value_at("requestContext.authorizer").is_none() {
        return Ok(iam_caller(r));
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
            return Ok(Some(p.to_string()));
        }
    }
    Ok(iam_caller(r))
}

/// `requestContext.identity.userArn` of a payload 1.0 event: null unless the route uses IAM
/// authorization (AWS_IAM), then the signing caller's ARN.
fn iam_caller(r: &Reader<'_>) -> Option<String> {
    if !matches!(r.source, Source::RestApi | Source::HttpApiV1) {
        return None;
    }
    match r.str_at("requestContext.identity.userArn") {
        Ok(Some(arn)) if !arn.is_empty() => Some(arn.to_string()),
        _ => None,
    }
}

/// `abc.execute-api.us-east-1.amazonaws.com` (and the `.com.cn` partitions).
pub(crate) fn is_execute_api_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host.contains(".execute-api.")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

/// `path` without `prefix` when the prefix ends at a segment boundary (`/v1` matches `/v1` and
/// `/v1/x`, not `/v10`).
fn strip_segment_prefix(path: &[u8], prefix: &[u8]) -> Option<Vec<u8>> {
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
pub fn join_query(pairs: &[(String, String)], encode: bool) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        if encode {
            out.push_str(&encode_component(k));
            out.push('=');
            out.push_str(&encode_component(v));
        } else {
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986 section 2.3 unreserved characters.
pub fn encode_component(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
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

#[cfg(test)]
mod tests {
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
