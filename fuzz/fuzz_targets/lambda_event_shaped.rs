//! Lambda events in the real shapes of each front door (field names, nesting, nulls where AWS
//! sends them), filled from fuzz data, so that every input gets past detection. Checks that
//! `detect` names the intended source, that a well-formed event is always accepted, and that
//! each environ key follows spec/lambda-events.md section 2, against a model of the spec's
//! rules written here.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use rwsgi::lambda::source::{EventOptions, Source, detect, to_request};
use rwsgi_fuzz::{
    body_bytes, check, common_request_checks, reference_decode, reference_encode,
    script_name_checks, show,
};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
enum Kind {
    Rest,
    HttpV1,
    HttpV2,
    Url,
    AlbMulti,
    AlbSingle,
    LatticeV1,
    LatticeV2,
}

impl Kind {
    fn source(self) -> Source {
        match self {
            Kind::Rest => Source::RestApi,
            Kind::HttpV1 => Source::HttpApiV1,
            Kind::HttpV2 => Source::HttpApiV2,
            Kind::Url => Source::FunctionUrl,
            Kind::AlbMulti => Source::Alb { multi_value: true },
            Kind::AlbSingle => Source::Alb { multi_value: false },
            Kind::LatticeV1 => Source::LatticeV1,
            Kind::LatticeV2 => Source::LatticeV2,
        }
    }
    fn https_by_default(self) -> bool {
        matches!(self, Kind::Rest | Kind::HttpV1 | Kind::HttpV2 | Kind::Url)
    }
}

#[derive(Debug, Arbitrary)]
enum Method {
    Get,
    Post,
    Head,
    Other(String),
}

/// A piece of a path: the awkward values the spec names (percent signs, escapes of `/`,
/// non-ASCII) or any text.
#[derive(Debug, Arbitrary)]
enum Seg {
    Slash,
    Word(String),
    Escape(u8),
    LowerEscape(u8),
    Percent,
    Unicode(char),
}

#[derive(Debug, Arbitrary)]
enum Stage {
    None,
    Default,
    Named(String),
}

#[derive(Debug, Arbitrary)]
enum Host {
    None,
    Empty,
    ExecuteApi,
    LambdaUrl,
    Custom(String),
    WithPort(String, u16),
}

/// Request headers with no special meaning, in the letter cases AWS passes on.
const PLAIN: [&str; 10] = [
    "Accept",
    "accept",
    "X-Custom",
    "x-custom",
    "X_Custom",
    "Cookie",
    "cookie",
    "User-Agent",
    "content-type",
    "Content-Length",
];

#[derive(Debug, Arbitrary)]
enum Body {
    Text(String),
    Binary(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Port {
    Digits(u16),
    Any(String),
}

#[derive(Debug, Arbitrary)]
struct Shaped {
    kind: Kind,
    method: Method,
    path: Vec<Seg>,
    stage: Stage,
    stage_in_path: bool,
    host: Host,
    domain: Host,
    headers: Vec<(u8, Vec<String>)>,
    query: Vec<(String, Vec<String>)>,
    raw_query: String,
    query_in_path: bool,
    cookies: Option<Vec<Option<String>>>,
    body: Option<Body>,
    forwarded_for: Vec<u8>,
    forwarded_proto: Option<(bool, bool)>,
    forwarded_port: Option<Port>,
    source_ip: Option<String>,
    protocol: Option<String>,
    principal: Option<(u8, String)>,
    base_path: Option<Option<String>>,
}

/// Keeps only characters that make a host name: what AWS puts in Host and domainName.
fn hostname(s: &str) -> String {
    let h: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect::<String>()
        .to_ascii_lowercase();
    // A name under a function URL domain would make the event a function URL's.
    if h.is_empty() || h.contains("lambda-url") {
        "example.com".into()
    } else {
        h
    }
}

fn host_text(h: &Host) -> Option<String> {
    match h {
        Host::None => None,
        Host::Empty => Some(String::new()),
        Host::ExecuteApi => Some("a1b2c3d4e5.execute-api.us-east-1.amazonaws.com".into()),
        Host::LambdaUrl => Some("abcdefghij.lambda-url.eu-west-1.on.aws".into()),
        Host::Custom(s) => Some(hostname(s)),
        Host::WithPort(s, p) => Some(format!("{}:{p}", hostname(s))),
    }
}

/// The name and port a Host value gives.
fn split(h: &str) -> (String, Option<String>) {
    match h.rsplit_once(':') {
        Some((n, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            (n.to_string(), Some(p.to_string()))
        }
        _ => (h.to_string(), None),
    }
}

/// Query keys and values as API Gateway hands them over: any text, each key once.
fn unique_query(q: &[(String, Vec<String>)]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (k, vs) in q {
        if !out.iter().any(|(o, _)| o == k) && !vs.is_empty() {
            out.push((k.clone(), vs.clone()));
        }
    }
    out
}

/// Values that a load balancer passes still encoded: no `&`, `=`, `#` or space.
fn encoded_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "&=# ?".contains(c) || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(s) = Shaped::arbitrary(&mut u) else {
        return;
    };
    let kind = s.kind;
    let source = kind.source();
    let method = match &s.method {
        Method::Get => "GET".to_string(),
        Method::Post => "POST".to_string(),
        Method::Head => "HEAD".to_string(),
        Method::Other(m) if !m.is_empty() => m.clone(),
        Method::Other(_) => "PATCH".to_string(),
    };

    // The path as the event carries it. Only Lattice puts a query in the path.
    let mut path = String::new();
    let stage = match &s.stage {
        Stage::None => String::new(),
        Stage::Default => "$default".into(),
        Stage::Named(n) => n
            .chars()
            .filter(|c| !"/?#%".contains(*c) && !c.is_control())
            .collect(),
    };
    if s.stage_in_path && !stage.is_empty() && matches!(kind, Kind::HttpV1 | Kind::HttpV2) {
        path.push('/');
        path.push_str(&stage);
    }
    for seg in &s.path {
        match seg {
            Seg::Slash => path.push('/'),
            Seg::Word(w) => path.extend(w.chars().filter(|c| !"?#".contains(*c))),
            Seg::Escape(b) => path.push_str(&format!("%{b:02X}")),
            Seg::LowerEscape(b) => path.push_str(&format!("%{b:02x}")),
            Seg::Percent => path.push('%'),
            Seg::Unicode(c) if !"?#".contains(*c) => path.push(*c),
            Seg::Unicode(_) => {}
        }
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }

    // Headers: plain ones, then the ones with a meaning of their own.
    let multi_headers = matches!(
        kind,
        Kind::Rest | Kind::HttpV1 | Kind::AlbMulti | Kind::LatticeV2
    );
    let mut headers: Vec<(String, Vec<String>)> = Vec::new();
    for (pick, values) in &s.headers {
        let name = PLAIN[*pick as usize % PLAIN.len()].to_string();
        // Payload 2.0 header names are lower case, so two spellings of a name are one key.
        let v2 = matches!(kind, Kind::HttpV2 | Kind::Url);
        if values.is_empty()
            || headers
                .iter()
                .any(|(n, _)| *n == name || (v2 && n.eq_ignore_ascii_case(&name)))
        {
            continue;
        }
        let values = if multi_headers {
            values.clone()
        } else {
            // Single-value maps hold one string; payload 2.0 joins repeats with commas.
            vec![values.join(",")]
        };
        headers.push((name, values));
    }
    let host = host_text(&s.host);
    if let Some(h) = &host {
        headers.push(("Host".into(), vec![h.clone()]));
    }
    let forwarded_for: Vec<String> = s
        .forwarded_for
        .iter()
        .map(|b| format!("10.0.{}.{}", b / 16, b % 16))
        .collect();
    if !forwarded_for.is_empty() {
        headers.push(("X-Forwarded-For".into(), vec![forwarded_for.join(", ")]));
    }
    if let Some((https, upper)) = s.forwarded_proto {
        let p = if https { "https" } else { "http" };
        let p = if upper {
            p.to_ascii_uppercase()
        } else {
            p.to_string()
        };
        headers.push(("x-forwarded-proto".into(), vec![p]));
    }
    let forwarded_port = s.forwarded_port.as_ref().map(|p| match p {
        Port::Digits(n) => n.to_string(),
        Port::Any(t) => t.clone(),
    });
    if let Some(p) = &forwarded_port {
        headers.push(("X-Forwarded-Port".into(), vec![p.clone()]));
    }

    let query = unique_query(&s.query);
    let (body_text, body_bytes_sent, base64) = match &s.body {
        None => (None, Vec::new(), false),
        Some(Body::Text(t)) => (Some(t.clone()), t.as_bytes().to_vec(), false),
        Some(Body::Binary(b)) => (
            Some(base64::engine::general_purpose::STANDARD.encode(b)),
            b.clone(),
            true,
        ),
    };
    // A function URL domain on an HTTP API event would make it a function URL's.
    let domain = host_text(&s.domain).map(|d| {
        if kind == Kind::HttpV2 && d.contains("lambda-url") {
            "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com".into()
        } else {
            d
        }
    });
    let cookies: Option<Vec<Value>> = s.cookies.as_ref().map(|cs| {
        cs.iter()
            .map(|c| c.as_ref().map_or(Value::Null, |c| json!(c)))
            .collect()
    });
    let principal = s.principal.as_ref().map(|(i, p)| (i % 5, p.clone()));

    let single_map = |hs: &[(String, Vec<String>)]| -> Value {
        let m: Map<String, Value> = hs
            .iter()
            .map(|(n, vs)| (n.clone(), json!(vs.last().cloned().unwrap_or_default())))
            .collect();
        Value::Object(m)
    };
    let multi_map = |hs: &[(String, Vec<String>)]| -> Value {
        let m: Map<String, Value> = hs.iter().map(|(n, vs)| (n.clone(), json!(vs))).collect();
        Value::Object(m)
    };
    let or_null = |v: Value, empty: bool| if empty { Value::Null } else { v };
    let authorizer = |kind: Kind| -> Value {
        match &principal {
            None => Value::Null,
            Some((0, p)) => json!({"principalId": p, "integrationLatency": 0}),
            Some((1, p)) if matches!(kind, Kind::HttpV2 | Kind::Url) => {
                json!({"jwt": {"claims": {"sub": p, "iss": "https://issuer"}, "scopes": null}})
            }
            Some((2, p)) => json!({"claims": {"sub": p}}),
            Some((3, p)) => json!({"iam": {"userArn": p, "accountId": "123456789012"}}),
            Some((_, p)) => json!({"lambda": {"principalId": p}}),
        }
    };
    let query_single = || -> Value {
        let m: Map<String, Value> = query
            .iter()
            .map(|(k, vs)| (k.clone(), json!(vs.last().cloned().unwrap_or_default())))
            .collect();
        or_null(Value::Object(m), query.is_empty())
    };
    let query_multi = || -> Value {
        let m: Map<String, Value> = query.iter().map(|(k, vs)| (k.clone(), json!(vs))).collect();
        or_null(Value::Object(m), query.is_empty())
    };
    // Load balancers and Lattice pass the query still encoded.
    let encoded_query: Vec<(String, Vec<String>)> = query
        .iter()
        .map(|(k, vs)| {
            (
                encoded_text(k),
                vs.iter().map(|v| encoded_text(v)).collect(),
            )
        })
        .collect();
    let encoded_query = unique_query(&encoded_query);
    let encoded_map = |multi: bool| -> Value {
        let m: Map<String, Value> = encoded_query
            .iter()
            .map(|(k, vs)| {
                let v = if multi {
                    json!(vs)
                } else {
                    json!(vs.last().cloned().unwrap_or_default())
                };
                (k.clone(), v)
            })
            .collect();
        Value::Object(m)
    };
    let lattice_raw_query = encoded_text(&s.raw_query);
    let lattice_path =
        if s.query_in_path && encoded_query.is_empty() && !lattice_raw_query.is_empty() {
            format!("{path}?{lattice_raw_query}")
        } else {
            path.clone()
        };
    let body_json = body_text.clone().map_or(Value::Null, Value::String);

    let event = match kind {
        Kind::Rest | Kind::HttpV1 => {
            let mut e = json!({
                "resource": "/{proxy+}",
                "path": path,
                "httpMethod": method,
                "headers": or_null(single_map(&headers), headers.is_empty()),
                "multiValueHeaders": or_null(multi_map(&headers), headers.is_empty()),
                "queryStringParameters": query_single(),
                "multiValueQueryStringParameters": query_multi(),
                "pathParameters": {"proxy": path.trim_start_matches('/')},
                "stageVariables": null,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "a1b2c3d4e5",
                    "domainName": domain,
                    "stage": if stage.is_empty() { Value::Null } else { json!(stage) },
                    "protocol": s.protocol,
                    "identity": {"sourceIp": s.source_ip, "userAgent": null},
                    "authorizer": authorizer(kind),
                    "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
                    "resourcePath": "/{proxy+}",
                    "httpMethod": method,
                },
                "body": body_json,
                "isBase64Encoded": base64,
            });
            if let Kind::HttpV1 = kind {
                e["version"] = json!("1.0");
            }
            e
        }
        Kind::HttpV2 | Kind::Url => {
            let mut header_map = Map::new();
            for (n, vs) in &headers {
                header_map.insert(n.to_ascii_lowercase(), json!(vs.join(",")));
            }
            let url = kind == Kind::Url;
            json!({
                "version": "2.0",
                "routeKey": if url { "$default" } else { "ANY /{proxy+}" },
                "rawPath": path,
                "rawQueryString": s.raw_query,
                "cookies": cookies,
                "headers": header_map,
                "queryStringParameters": query_single(),
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": if url { "abcdefghij" } else { "a1b2c3d4e5" },
                    "domainName": if url { "abcdefghij.lambda-url.eu-west-1.on.aws".to_string() } else { domain.clone().unwrap_or_default() },
                    "domainPrefix": "a1b2c3d4e5",
                    "http": {
                        "method": method,
                        "path": path,
                        "protocol": s.protocol,
                        "sourceIp": s.source_ip,
                        "userAgent": "agent",
                    },
                    "requestId": "JKJaXmPLvHcESHA=",
                    "routeKey": "$default",
                    "stage": if url { "$default".to_string() } else { stage.clone() },
                    "time": "10/Mar/2020:05:16:23 +0000",
                    "timeEpoch": 1583817383220u64,
                    "authorizer": authorizer(kind),
                },
                "body": body_json,
                "pathParameters": null,
                "isBase64Encoded": base64,
                "stageVariables": null,
            })
        }
        Kind::AlbMulti | Kind::AlbSingle => {
            let multi = kind == Kind::AlbMulti;
            let mut e = json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda/abc"}},
                "httpMethod": method,
                "path": path,
                "body": body_text.clone().unwrap_or_default(),
                "isBase64Encoded": base64,
            });
            if multi {
                e["multiValueHeaders"] = multi_map(&headers);
                e["multiValueQueryStringParameters"] = encoded_map(true);
            } else {
                e["headers"] = single_map(&headers);
                e["queryStringParameters"] = encoded_map(false);
            }
            e
        }
        Kind::LatticeV1 => json!({
            "raw_path": lattice_path,
            "method": method,
            "headers": single_map(&headers),
            "query_string_parameters": encoded_map(false),
            "body": body_json,
            "is_base64_encoded": base64,
        }),
        Kind::LatticeV2 => json!({
            "version": "2.0",
            "path": lattice_path,
            "method": method,
            "headers": multi_map(&headers),
            "queryStringParameters": encoded_map(true),
            "body": body_json,
            "isBase64Encoded": base64,
            "requestContext": {
                "serviceNetworkArn": "arn:aws:vpc-lattice:us-east-2:123456789012:servicenetwork/sn-0bf3f2882e9cc805a",
                "serviceArn": "arn:aws:vpc-lattice:us-east-2:123456789012:service/svc-0a40eebed65f8d69c",
                "targetGroupArn": "arn:aws:vpc-lattice:us-east-2:123456789012:targetgroup/tg-6d0ecf831eec9f09",
                "identity": {"sourceVpcArn": "arn:aws:ec2:region:123456789012:vpc/vpc-0b8276c84697e7339"},
                "region": "us-east-2",
                "timeEpoch": "1690497599177430",
            },
        }),
    };

    let detected = detect(&json(&event));
    check("detect_shaped", detected == Some(source), || {
        format!("{detected:?} for a {kind:?} event: {event}")
    });
    let base_path = match &s.base_path {
        None => None,
        Some(None) => Some("/v1".to_string()),
        Some(Some(b)) => Some(b.clone()),
    };
    let options = EventOptions {
        base_path: base_path.clone(),
        ..EventOptions::default()
    };
    let request = match to_request(&json(&event), source, &options) {
        Ok(r) => r,
        Err(e) => {
            check("shaped_accepted", false, || format!("{e} for {event}"));
            return;
        }
    };
    let vars = common_request_checks(&request);
    script_name_checks(&vars);
    let get = |k: &str| vars.get(k).map(Vec::as_slice);
    let expect = |name: &str, key: &str, want: Option<&[u8]>| {
        check(name, get(key) == want, || {
            format!(
                "{key} is {:?}, want {:?}, for {event}",
                get(key).map(show),
                want.map(show)
            )
        });
    };

    expect("method_as_sent", "REQUEST_METHOD", Some(method.as_bytes()));

    // The first header of a name, as a server reads one header.
    let first = |name: &str| -> Option<String> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, vs)| match kind {
                Kind::HttpV2 | Kind::Url => Some(vs.join(",")),
                _ if multi_headers => vs.first().cloned(),
                _ => vs.last().cloned(),
            })
    };

    // Scheme, server name and port.
    let scheme = match first("x-forwarded-proto").map(|p| p.to_ascii_lowercase()) {
        Some(p) if p == "https" || p == "http" => p,
        _ if kind.https_by_default() => "https".into(),
        _ => "http".into(),
    };
    check("scheme_rule", request.scheme == scheme, || {
        format!("scheme {:?}, want {scheme:?}", request.scheme)
    });
    let domain_used = match kind {
        Kind::Url => Some("abcdefghij.lambda-url.eu-west-1.on.aws".to_string()),
        Kind::Rest | Kind::HttpV1 | Kind::HttpV2 => domain.clone(),
        _ => None,
    };
    let (name, port_in_host) = match host
        .clone()
        .filter(|h| !h.is_empty())
        .or(domain_used.filter(|d| !d.is_empty()))
    {
        Some(h) => split(&h),
        None => ("localhost".into(), None),
    };
    expect("server_name_rule", "SERVER_NAME", Some(name.as_bytes()));
    match (&port_in_host, &s.forwarded_port) {
        (Some(p), _) => expect("server_port_rule", "SERVER_PORT", Some(p.as_bytes())),
        (None, Some(Port::Digits(n))) => expect(
            "server_port_rule",
            "SERVER_PORT",
            Some(n.to_string().as_bytes()),
        ),
        (None, None) => expect(
            "server_port_rule",
            "SERVER_PORT",
            Some(if scheme == "https" { b"443" } else { b"80" }),
        ),
        (None, Some(Port::Any(_))) => {}
    }

    // REMOTE_ADDR.
    let remote = match kind {
        Kind::Rest | Kind::HttpV1 | Kind::HttpV2 | Kind::Url => s.source_ip.clone(),
        _ => forwarded_for.last().cloned(),
    }
    .filter(|a| !a.is_empty())
    .unwrap_or_else(|| "127.0.0.1".into());
    expect("remote_addr_rule", "REMOTE_ADDR", Some(remote.as_bytes()));

    let protocol = match kind {
        Kind::AlbMulti | Kind::AlbSingle | Kind::LatticeV1 | Kind::LatticeV2 => None,
        _ => s.protocol.clone(),
    }
    .filter(|p| p.starts_with("HTTP/"))
    .unwrap_or_else(|| "HTTP/1.1".into());
    expect(
        "protocol_rule",
        "SERVER_PROTOCOL",
        Some(protocol.as_bytes()),
    );

    // SCRIPT_NAME and PATH_INFO.
    let decoded = match kind {
        Kind::HttpV1 | Kind::HttpV2 => path.as_bytes().to_vec(),
        _ => reference_decode(path.as_bytes()),
    };
    let strip = |p: &[u8], prefix: &[u8]| -> Option<Vec<u8>> {
        let rest = p.strip_prefix(prefix)?;
        (rest.is_empty() || rest.starts_with(b"/")).then(|| rest.to_vec())
    };
    let (mut script, mut info) = (Vec::new(), decoded.clone());
    match kind {
        Kind::Rest => {
            let execute_api = host.as_deref().is_some_and(|h| {
                split(h).0.contains(".execute-api.") && split(h).0.ends_with(".amazonaws.com")
            });
            if !stage.is_empty() && execute_api {
                script = format!("/{stage}").into_bytes();
            }
        }
        Kind::HttpV1 | Kind::HttpV2 if !stage.is_empty() && stage != "$default" => {
            let prefix = format!("/{stage}");
            if let Some(rest) = strip(&info, prefix.as_bytes()) {
                info = rest;
                script = prefix.into_bytes();
            }
        }
        _ => {}
    }
    if let Some(base) = base_path
        .as_deref()
        .map(|b| b.trim_end_matches('/'))
        .filter(|b| !b.is_empty())
        && let Some(rest) = strip(&info, base.as_bytes())
    {
        info = rest;
        script.extend_from_slice(base.as_bytes());
    }
    expect("script_name_rule", "SCRIPT_NAME", Some(&script));
    expect("path_info_rule", "PATH_INFO", Some(&info));
    check(
        "path_info_slash",
        info.is_empty() || info.starts_with(b"/"),
        || format!("PATH_INFO {:?}", show(&info)),
    );

    // QUERY_STRING and REQUEST_URI.
    let join = |pairs: &[(String, Vec<String>)], encode: bool, multi: bool| -> String {
        let mut parts = Vec::new();
        for (k, vs) in pairs {
            let vs: Vec<&String> = if multi {
                vs.iter().collect()
            } else {
                vs.last().into_iter().collect()
            };
            for v in vs {
                parts.push(if encode {
                    format!("{}={}", reference_encode(k), reference_encode(v))
                } else {
                    format!("{k}={v}")
                });
            }
        }
        parts.join("&")
    };
    let query_string = match kind {
        Kind::HttpV2 | Kind::Url => s.raw_query.clone(),
        Kind::Rest | Kind::HttpV1 => join(&query, true, true),
        Kind::AlbMulti => join(&encoded_query, false, true),
        Kind::AlbSingle | Kind::LatticeV1 => join(&encoded_query, false, false),
        Kind::LatticeV2 => join(&encoded_query, false, true),
    };
    let query_string = match kind {
        Kind::LatticeV1 | Kind::LatticeV2 if encoded_query.is_empty() && lattice_path != path => {
            lattice_raw_query.clone()
        }
        _ => query_string,
    };
    expect(
        "query_string_rule",
        "QUERY_STRING",
        Some(query_string.as_bytes()),
    );
    let mut uri = path.clone().into_bytes();
    if !query_string.is_empty() {
        uri.push(b'?');
        uri.extend_from_slice(query_string.as_bytes());
    }
    expect("request_uri_rule", "REQUEST_URI", Some(&uri));

    // Plain headers: repeats (and letter cases of one name) join with `, `, cookies with `; `;
    // the payload 2.0 cookies array, when it holds any, replaces the Cookie header.
    let cookie_parts: Vec<String> = s.cookies.iter().flatten().flatten().cloned().collect();
    let cookies_win = matches!(kind, Kind::HttpV2 | Kind::Url) && !cookie_parts.is_empty();
    for key in [
        "HTTP_ACCEPT",
        "HTTP_X_CUSTOM",
        "HTTP_COOKIE",
        "HTTP_USER_AGENT",
    ] {
        let separator = if key == "HTTP_COOKIE" { "; " } else { ", " };
        let mut values: Vec<String> = Vec::new();
        for (n, vs) in &headers {
            // A name with `_` is left out: `X_Custom` must not pass itself off as `X-Custom`
            // (Apache httpd and nginx drop such names for the same reason).
            if n.contains('_') {
                continue;
            }
            let nk = format!("HTTP_{}", n.to_ascii_uppercase().replace('-', "_"));
            if nk != key {
                continue;
            }
            match kind {
                Kind::HttpV2 | Kind::Url => values.push(vs.join(",")),
                _ if multi_headers => values.extend(vs.iter().cloned()),
                _ => values.extend(vs.last().cloned()),
            }
        }
        let want = if key == "HTTP_COOKIE" && cookies_win {
            Some(cookie_parts.join("; "))
        } else if values.is_empty() {
            None
        } else {
            Some(values.join(separator))
        };
        expect("headers_joined", key, want.as_deref().map(str::as_bytes));
    }
    let content_types: Vec<&(String, Vec<String>)> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .collect();
    if let [(_, vs)] = content_types.as_slice()
        && (vs.len() == 1 || !multi_headers)
    {
        let want = first("content-type").unwrap_or_default();
        expect("content_type_header", "CONTENT_TYPE", Some(want.as_bytes()));
    } else if content_types.is_empty() {
        expect("content_type_header", "CONTENT_TYPE", None);
    }

    // REMOTE_USER: the authorizer's principal, when it names one.
    let user = principal
        .as_ref()
        .filter(|(_, p)| !p.is_empty())
        .filter(|_| matches!(kind, Kind::Rest | Kind::HttpV1 | Kind::HttpV2 | Kind::Url))
        .map(|(_, p)| p.as_bytes());
    expect("remote_user_rule", "REMOTE_USER", user);

    let body = body_bytes(request);
    check("body_decoded", body == body_bytes_sent, || {
        format!("body {:?}, sent {:?}", show(&body), show(&body_bytes_sent))
    });
});

/// An event as the library reads it, from the `serde_json` value written here.
fn json(event: &Value) -> rwsgi::json::Value {
    rwsgi::json::Value::from(event)
}
