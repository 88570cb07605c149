//! Properties of the translation at both edges of the flow, checked on generated inputs with
//! the library API and no Python: the CGI source keeps every byte of its environment (spec/cgi.md
//! "Environ"; PEP 3333 native strings), every Lambda front door carries a request to the app and
//! the app's answer back to the client intact (spec/lambda-events.md sections 2 and 3), the
//! text-or-base64 choice for a reply body never changes the body, and the checks of
//! `start_response` let nothing through that could split a response (RFC 9110 section 5.5), and
//! the Runtime API client reads any answer, however framed or broken, to a body or an error.
//!
//! Every property runs a bounded number of cases (a few seconds for the file in all). A failure
//! prints the smallest input proptest could shrink it to and the seed that replays the run
//! (`PROPTEST_RNG_SEED`); nothing is written to the source tree.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::RngSeed;
use serde_json::{Map, Value, json};

use rwsgi::cgi::{BodyLimits, build_request};
use rwsgi::http::{
    HeaderVerdict, Request, Response, ResponseHead, check_header, latin1_string, parse_status,
    percent_decode, read_all,
};
use rwsgi::lambda::reply::{TextTypes, serialize, to_reply};
use rwsgi::lambda::runtime::{Api, Next, NextError, endpoint};
use rwsgi::lambda::source::{EventOptions, Source, detect, to_request};

/// The settings of every property: `cases` cases from one seed, printed at the start so that a
/// failure in CI (whose output shows what a failing test printed) can be replayed exactly with
/// `PROPTEST_RNG_SEED=<seed> cargo test --test tests <name>`; that variable, when set, gives the
/// seed. A failing case is also printed with the failure, shrunk; it is not saved beside this
/// file.
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig {
        cases,
        max_shrink_iters: 2_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let seed = match config.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
        }
    };
    config.rng_seed = RngSeed::Fixed(seed);
    eprintln!("proptest: PROPTEST_RNG_SEED={seed} replays these cases");
    config
}

fn bytes(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), len)
}

// ---------------------------------------------------------------------------------------------
// CGI: the environment's bytes reach the environ one for one.

/// The variables the CGI source reads for itself (to find the body and fill PEP 3333's required
/// keys); every other variable passes through as it is.
const READ_BY_RWSGI: [&str; 12] = [
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "REMOTE_ADDR",
    "CONTENT_LENGTH",
    "HTTP_TRANSFER_ENCODING",
    "HTTP_CONTENT_TYPE",
    "HTTP_CONTENT_LENGTH",
];

fn limits() -> BodyLimits {
    BodyLimits {
        max_body: 1 << 20,
        spool_threshold: 1 << 20,
        temp_dir: std::env::temp_dir(),
    }
}

/// A variable name an environment can hold: not empty, without `=` or NUL. Mostly the shapes
/// servers use, sometimes any bytes at all.
fn env_name() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "HTTP_[A-Z0-9_]{1,12}".prop_map(String::into_bytes),
        "[A-Z][A-Z0-9_]{0,12}".prop_map(String::into_bytes),
        prop::collection::vec(
            (1u8..=255).prop_map(|b| if b == b'=' { b'_' } else { b }),
            1..12
        ),
    ]
}

/// A value an environment can hold: any bytes but NUL, never empty (an empty value makes the
/// server variables fall back to their defaults, which is another rule).
fn env_value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(1u8..=255, 1..24)
}

fn cgi_environ(vars: &[(Vec<u8>, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let request = build_request(vars, &mut std::io::empty(), &limits())
        .unwrap_or_else(|e| panic!("refused: {e}"));
    request.cgi_variables()
}

proptest! {
    #![proptest_config(config(256))]

    /// PATH_INFO, SCRIPT_NAME, QUERY_STRING and every variable rwsgi does not read itself reach
    /// `cgi_variables()` byte for byte, under the latin-1 name of their bytes, each key once.
    #[test]
    fn cgi_paths_and_variables_keep_every_byte(
        path_info in bytes(0..64),
        script_name in bytes(0..32),
        query in bytes(0..64),
        others in prop::collection::btree_map(env_name(), bytes(0..48), 0..10),
    ) {
        let others: Vec<(Vec<u8>, Vec<u8>)> = others
            .into_iter()
            .filter(|(name, _)| !READ_BY_RWSGI.iter().any(|r| r.as_bytes() == name.as_slice()))
            .collect();
        let mut vars = vec![
            (b"PATH_INFO".to_vec(), path_info.clone()),
            (b"SCRIPT_NAME".to_vec(), script_name.clone()),
            (b"QUERY_STRING".to_vec(), query.clone()),
        ];
        vars.extend(others.iter().cloned());
        let environ = cgi_environ(&vars);
        let keys: BTreeSet<&str> = environ.iter().map(|(k, _)| k.as_str()).collect();
        prop_assert_eq!(keys.len(), environ.len(), "a key is repeated: {:?}", environ);
        let mut expected_keys: BTreeSet<String> = READ_BY_RWSGI[..8]
            .iter()
            .map(|k| k.to_string())
            .collect();
        expected_keys.extend(others.iter().map(|(n, _)| latin1_string(n)));
        let got_keys: BTreeSet<String> = keys.iter().map(|k| k.to_string()).collect();
        prop_assert_eq!(got_keys, expected_keys);
        let environ: BTreeMap<String, Vec<u8>> = environ.into_iter().collect();
        prop_assert_eq!(&environ["PATH_INFO"], &path_info);
        prop_assert_eq!(&environ["SCRIPT_NAME"], &script_name);
        prop_assert_eq!(&environ["QUERY_STRING"], &query);
        for (name, value) in &others {
            prop_assert_eq!(
                environ.get(&latin1_string(name)),
                Some(value),
                "the variable {:?}",
                latin1_string(name)
            );
        }
    }

    /// The variables rwsgi reads for itself (the method, the server's name, port and protocol,
    /// the client's address) keep their bytes too: spec/cgi.md says values come from the
    /// environment as bytes and become latin-1 strings, whichever variable holds them.
    #[test]
    fn cgi_server_variables_keep_every_byte(
        method in env_value(),
        server_name in env_value(),
        server_port in env_value(),
        protocol in env_value(),
        remote_addr in env_value(),
    ) {
        let vars = vec![
            (b"REQUEST_METHOD".to_vec(), method.clone()),
            (b"SERVER_NAME".to_vec(), server_name.clone()),
            (b"SERVER_PORT".to_vec(), server_port.clone()),
            (b"SERVER_PROTOCOL".to_vec(), protocol.clone()),
            (b"REMOTE_ADDR".to_vec(), remote_addr.clone()),
        ];
        let environ: BTreeMap<String, Vec<u8>> = cgi_environ(&vars).into_iter().collect();
        for (name, value) in &vars {
            let name = latin1_string(name);
            prop_assert_eq!(
                environ.get(&name),
                Some(value),
                "{} was {:?} in the environment; the app would see {:?}",
                name,
                latin1_string(value),
                environ.get(&name).map(|v| latin1_string(v))
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lambda: request in through each front door, the app's echo of it back out.

const ALL_SOURCES: [Source; 8] = Source::ALL;

/// One request a client sends through a front door, and the content type the app answers with.
#[derive(Debug, Clone)]
struct Exchange {
    method: &'static str,
    path: String,
    /// Distinct lower-case names, each with one or more values.
    headers: Vec<(String, Vec<String>)>,
    /// Decoded keys and values, in the client's order, repeats kept.
    query: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
    body: Vec<u8>,
    /// Send a UTF-8 body as JSON text rather than base64 (both are legal for every source).
    body_as_text: bool,
    content_type: Option<&'static str>,
}

const CONTENT_TYPES: [Option<&str>; 7] = [
    None,
    Some("text/plain; charset=utf-8"),
    Some("application/json"),
    Some("application/octet-stream"),
    Some("image/png"),
    Some("application/vnd.api+json"),
    Some("TEXT/HTML"),
];

/// A header value without commas or surrounding blanks, so that the values a front door joins
/// with commas can be told apart again.
fn header_value() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9 ;=/._-]{0,10}[A-Za-z0-9])?"
}

/// Query keys: a few that repeat often, with the characters that need encoding, and any text.
fn query_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["a", "tag", "k 1", "x&y", "caf\u{e9}", "1+1", "%", "="])
            .prop_map(str::to_string),
        "\\PC{1,6}",
    ]
}

fn exchange() -> impl Strategy<Value = Exchange> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
        prop::collection::vec("[a-z0-9]{1,8}", 0..4),
        prop::collection::btree_map(
            "[a-z]{1,6}",
            prop::collection::vec(header_value(), 1..4),
            0..5,
        ),
        prop::collection::vec((query_key(), "\\PC{0,8}"), 0..8),
        prop::collection::vec(("[a-z][a-z0-9]{0,5}", "[A-Za-z0-9]{0,6}"), 0..5),
        prop_oneof![bytes(0..256), "\\PC{0,64}".prop_map(String::into_bytes)],
        any::<bool>(),
        prop::sample::select(CONTENT_TYPES.to_vec()),
    )
        .prop_map(
            |(method, segments, headers, query, cookies, body, body_as_text, content_type)| {
                Exchange {
                    method,
                    path: format!("/{}", segments.join("/")),
                    headers: headers
                        .into_iter()
                        .map(|(n, v)| (format!("x-p-{n}"), v))
                        .collect(),
                    query,
                    cookies,
                    body,
                    body_as_text,
                    content_type,
                }
            },
        )
}

/// Percent-encodes all but RFC 3986 unreserved characters, as a browser's form encoding does
/// for the characters that matter here (a space as `%20`, a `+` as `%2B`).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn decode(text: &str) -> String {
    String::from_utf8(percent_decode(text.as_bytes())).expect("the query decodes to UTF-8")
}

/// `k=v&k=v`, encoded, in order.
fn raw_query(pairs: &[(String, String)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The pairs of a query string, decoded (as `urllib.parse.parse_qsl` would, `+` aside).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// The pairs grouped by key in first-seen order, as a map of lists (`multiValue...`) holds them:
/// the values of each key keep their order.
fn grouped(pairs: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in pairs {
        match groups.iter_mut().find(|(g, _)| g == k) {
            Some((_, values)) => values.push(v.clone()),
            None => groups.push((k.clone(), vec![v.clone()])),
        }
    }
    groups
}

fn flatten(groups: Vec<(String, Vec<String>)>) -> Vec<(String, String)> {
    groups
        .into_iter()
        .flat_map(|(k, vs)| vs.into_iter().map(move |v| (k.clone(), v)))
        .collect()
}

fn list_map(groups: Vec<(String, Vec<String>)>) -> Value {
    Value::Object(groups.into_iter().map(|(k, vs)| (k, json!(vs))).collect())
}

fn string_map(pairs: Vec<(String, String)>) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        // A later value of a key replaces the earlier one, as a single-value map holds it.
        map.insert(k, json!(v));
    }
    Value::Object(map)
}

fn is_multi_value(source: Source) -> bool {
    matches!(
        source,
        Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true } | Source::LatticeV2
    )
}

/// The event `source` sends for `x`, in the shape AWS documents for it.
fn event_for(source: Source, x: &Exchange) -> Value {
    let cookie_pairs: Vec<String> = x.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let (body, base64_flag) = match std::str::from_utf8(&x.body) {
        Ok(text) if x.body_as_text => (text.to_string(), false),
        _ => (
            base64::engine::general_purpose::STANDARD.encode(&x.body),
            true,
        ),
    };
    let encoded_groups = |pairs: &[(String, String)]| {
        grouped(
            &pairs
                .iter()
                .map(|(k, v)| (encode(k), encode(v)))
                .collect::<Vec<_>>(),
        )
    };
    match source {
        Source::RestApi | Source::HttpApiV1 => {
            let mut single = Map::new();
            let mut multi = Map::new();
            for (n, vs) in &x.headers {
                single.insert(n.clone(), json!(vs.last()));
                multi.insert(n.clone(), json!(vs));
            }
            if !cookie_pairs.is_empty() {
                single.insert("cookie".into(), json!(cookie_pairs.join("; ")));
                multi.insert("cookie".into(), json!(cookie_pairs));
            }
            let groups = grouped(&x.query);
            let last: Vec<(String, String)> = x.query.clone();
            let mut event = json!({
                "resource": "/{proxy+}",
                "path": x.path,
                "httpMethod": x.method,
                "headers": single,
                "multiValueHeaders": multi,
                "queryStringParameters": if x.query.is_empty() { Value::Null } else { string_map(last) },
                "multiValueQueryStringParameters": if x.query.is_empty() { Value::Null } else { list_map(groups) },
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "a1b2c3",
                    "domainName": "api.example.com",
                    "identity": {"sourceIp": "198.51.100.7"},
                    "protocol": "HTTP/1.1",
                    "stage": if source == Source::RestApi { "prod" } else { "$default" }
                },
                "body": body,
                "isBase64Encoded": base64_flag
            });
            if source == Source::HttpApiV1 {
                event["version"] = json!("1.0");
            }
            event
        }
        Source::HttpApiV2 | Source::FunctionUrl => {
            let mut headers = Map::new();
            for (n, vs) in &x.headers {
                // Payload 2.0 joins a repeated header's values with commas.
                headers.insert(n.clone(), json!(vs.join(",")));
            }
            let domain = if source == Source::FunctionUrl {
                "abcdefghij0123456789abcdefghij01.lambda-url.us-east-1.on.aws"
            } else {
                "a1b2c3.execute-api.us-east-1.amazonaws.com"
            };
            let mut event = json!({
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": x.path,
                "rawQueryString": raw_query(&x.query),
                "headers": headers,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": "a1b2c3",
                    "domainName": domain,
                    "http": {
                        "method": x.method,
                        "path": x.path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": "198.51.100.7"
                    },
                    "stage": "$default"
                },
                "body": body,
                "isBase64Encoded": base64_flag
            });
            if !cookie_pairs.is_empty() {
                event["cookies"] = json!(cookie_pairs);
            }
            event
        }
        Source::Alb { multi_value: true } => {
            let mut multi = Map::new();
            for (n, vs) in &x.headers {
                multi.insert(n.clone(), json!(vs));
            }
            if !cookie_pairs.is_empty() {
                multi.insert("cookie".into(), json!(cookie_pairs));
            }
            json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},
                "httpMethod": x.method,
                "path": x.path,
                "multiValueQueryStringParameters": list_map(encoded_groups(&x.query)),
                "multiValueHeaders": multi,
                "body": body,
                "isBase64Encoded": base64_flag
            })
        }
        Source::Alb { multi_value: false } => {
            let mut headers = Map::new();
            for (n, vs) in &x.headers {
                // Single-value mode: of a repeated header, only the last value arrives.
                headers.insert(n.clone(), json!(vs.last()));
            }
            if !cookie_pairs.is_empty() {
                headers.insert("cookie".into(), json!(cookie_pairs.join("; ")));
            }
            let encoded: Vec<(String, String)> = x
                .query
                .iter()
                .map(|(k, v)| (encode(k), encode(v)))
                .collect();
            json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},
                "httpMethod": x.method,
                "path": x.path,
                "queryStringParameters": string_map(encoded),
                "headers": headers,
                "body": body,
                "isBase64Encoded": base64_flag
            })
        }
        Source::LatticeV1 => {
            let mut headers = Map::new();
            for (n, vs) in &x.headers {
                headers.insert(n.clone(), json!(vs.join(", ")));
            }
            if !cookie_pairs.is_empty() {
                headers.insert("cookie".into(), json!(cookie_pairs.join("; ")));
            }
            let raw_path = if x.query.is_empty() {
                x.path.clone()
            } else {
                format!("{}?{}", x.path, raw_query(&x.query))
            };
            json!({
                "raw_path": raw_path,
                "method": x.method,
                "headers": headers,
                "body": body,
                "is_base64_encoded": base64_flag
            })
        }
        Source::LatticeV2 => {
            let mut headers = Map::new();
            for (n, vs) in &x.headers {
                headers.insert(n.clone(), json!(vs));
            }
            if !cookie_pairs.is_empty() {
                headers.insert("cookie".into(), json!(cookie_pairs));
            }
            json!({
                "version": "2.0",
                "path": x.path,
                "method": x.method,
                "headers": headers,
                "queryStringParameters": list_map(encoded_groups(&x.query)),
                "body": body,
                "isBase64Encoded": base64_flag,
                "requestContext": {
                    "serviceNetworkArn": "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdef0",
                    "serviceArn": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0",
                    "region": "us-east-1",
                    "timeEpoch": "1705228011000000"
                }
            })
        }
    }
}

/// What each front door delivers to the app of a repeated header, of the query, and which
/// Set-Cookie lines the echo must send back.
struct Expected {
    headers: Vec<(String, Vec<String>)>,
    query: Vec<(String, String)>,
    set_cookies: Vec<String>,
}

fn expected(source: Source, x: &Exchange) -> Expected {
    let headers = x
        .headers
        .iter()
        .map(|(n, vs)| {
            let arrived = if source == (Source::Alb { multi_value: false }) {
                vec![vs.last().expect("a value").clone()]
            } else {
                vs.clone()
            };
            (n.clone(), arrived)
        })
        .collect();
    let query = if is_multi_value(source) {
        flatten(grouped(&x.query))
    } else if source == (Source::Alb { multi_value: false }) {
        // Single-value mode: each key once, in first-seen order, with its last value.
        grouped(&x.query)
            .into_iter()
            .map(|(k, vs)| (k, vs.last().expect("a value").clone()))
            .collect()
    } else {
        x.query.clone()
    };
    Expected {
        headers,
        query,
        set_cookies: x
            .cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}; Path=/"))
            .collect(),
    }
}

/// What an app would answer from the environ it was given: the method, path and query in
/// `X-Echo-*` headers, each `X-P-*` request header as `X-Echo-*`, each cookie set again, and the
/// body as it arrived, under `content_type`.
fn echo(request: Request, content_type: Option<&str>) -> Response {
    let environ: BTreeMap<String, Vec<u8>> = request.cgi_variables().into_iter().collect();
    let text = |key: &str| latin1_string(environ.get(key).map(Vec::as_slice).unwrap_or(b""));
    let mut headers: Vec<(String, String)> = Vec::new();
    if let Some(t) = content_type {
        headers.push(("Content-Type".into(), t.into()));
    }
    headers.push(("X-Echo-Method".into(), text("REQUEST_METHOD")));
    headers.push(("X-Echo-Path".into(), text("PATH_INFO")));
    headers.push(("X-Echo-Query".into(), text("QUERY_STRING")));
    for (key, value) in &environ {
        if let Some(name) = key.strip_prefix("HTTP_X_P_") {
            headers.push((
                format!("X-Echo-{}", name.to_ascii_lowercase()),
                latin1_string(value),
            ));
        }
    }
    if environ.contains_key("HTTP_COOKIE") {
        for cookie in text("HTTP_COOKIE").split("; ") {
            headers.push(("Set-Cookie".into(), format!("{cookie}; Path=/")));
        }
    }
    let body = read_all(request.body).expect("an in-memory body");
    Response {
        head: ResponseHead {
            status: parse_status("200 OK").expect("a valid status"),
            headers,
        },
        body,
    }
}

/// A response as the front door hands it to its client.
struct ClientResponse {
    status: u64,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl ClientResponse {
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// Reads a reply as its front door does ("Lambda proxy integrations" for API Gateway, "Lambda
/// functions as targets" for ALB, the VPC Lattice and function URL guides): headers from the
/// fields that source uses, Set-Cookie from `cookies` for payload 2.0, and the body decoded when
/// `isBase64Encoded` says so (for a REST API, as with binary media types set to `*/*`).
fn as_the_client_gets_it(source: Source, reply: &Value) -> Result<ClientResponse, String> {
    let status = reply["statusCode"]
        .as_u64()
        .ok_or_else(|| format!("statusCode is not a number: {reply}"))?;
    let mut headers = Vec::new();
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("a header value is not a string: {reply}"))
    };
    if matches!(
        source,
        Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true }
    ) {
        let multi = reply["multiValueHeaders"]
            .as_object()
            .ok_or_else(|| format!("no multiValueHeaders: {reply}"))?;
        for (name, values) in multi {
            for v in values
                .as_array()
                .ok_or_else(|| format!("{name} is not a list: {reply}"))?
            {
                headers.push((name.clone(), text(v)?));
            }
        }
    } else {
        let single = reply["headers"]
            .as_object()
            .ok_or_else(|| format!("no headers: {reply}"))?;
        for (name, v) in single {
            headers.push((name.clone(), text(v)?));
        }
        if matches!(source, Source::HttpApiV2 | Source::FunctionUrl) {
            for c in reply["cookies"]
                .as_array()
                .ok_or_else(|| format!("no cookies list: {reply}"))?
            {
                headers.push(("Set-Cookie".into(), text(c)?));
            }
        }
    }
    let body_text = reply["body"]
        .as_str()
        .ok_or_else(|| format!("the body is not a string: {reply}"))?;
    let body = match reply["isBase64Encoded"].as_bool() {
        Some(true) => base64::engine::general_purpose::STANDARD
            .decode(body_text)
            .map_err(|e| format!("the body is not base64 ({e}): {reply}"))?,
        Some(false) => body_text.as_bytes().to_vec(),
        None => return Err(format!("isBase64Encoded is not a boolean: {reply}")),
    };
    Ok(ClientResponse {
        status,
        headers,
        body,
    })
}

/// The reply as serialized bytes, checked to be the same JSON document as `to_reply` builds.
fn reply_of(
    source: Source,
    response: &Response,
    head: bool,
    text: &TextTypes,
) -> Result<Value, TestCaseError> {
    let (bytes, oversize) = serialize(source, response, head, text);
    prop_assert_eq!(oversize, None);
    let parsed: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TestCaseError::fail(format!("the reply is not JSON: {e}")))?;
    prop_assert_eq!(&parsed, &to_reply(source, response, head, text));
    Ok(parsed)
}

proptest! {
    #![proptest_config(config(96))]

    /// Headers (repeated ones too), repeated query keys, cookies and any body go from the client
    /// through each front door to the app, and the app's echo of them comes back to the client
    /// intact, within each door's documented limits (single-value ALB keeps the last value of a
    /// repeated header or query key; multi-value maps group a key's values).
    #[test]
    fn every_front_door_carries_an_exchange_both_ways(x in exchange()) {
        for source in ALL_SOURCES {
            let event = event_for(source, &x);
            prop_assert_eq!(detect(&json(&event)), Some(source), "{}", event);
            let request = to_request(&json(&event), source, &EventOptions::default())
                .map_err(|e| TestCaseError::fail(format!("{e}: {event}")))?;
            let want = expected(source, &x);
            let response = echo(request, x.content_type);
            let reply = reply_of(source, &response, false, &TextTypes::default())?;
            let client = as_the_client_gets_it(source, &reply).map_err(TestCaseError::fail)?;
            let name = source.name();

            prop_assert_eq!(client.status, 200, "{}", name);
            prop_assert_eq!(&client.body, &x.body, "{}: the body", name);
            prop_assert_eq!(client.all("X-Echo-Method"), vec![x.method], "{}", name);
            prop_assert_eq!(client.all("X-Echo-Path"), vec![x.path.as_str()], "{}", name);
            let query = client.all("X-Echo-Query");
            prop_assert_eq!(query.len(), 1, "{}: {:?}", name, query);
            prop_assert_eq!(query_pairs(query[0]), want.query, "{}: the query {:?}", name, query[0]);
            for (header, values) in &want.headers {
                let echoed = client.all(&format!("X-Echo-{}", &header[4..]));
                prop_assert_eq!(echoed.len(), 1, "{}: {} came back as {:?}", name, header, echoed);
                let arrived: Vec<&str> = echoed[0].split(',').map(str::trim).collect();
                prop_assert_eq!(arrived, values.clone(), "{}: the header {}", name, header);
            }
            let mut cookies: Vec<String> =
                client.all("Set-Cookie").into_iter().map(str::to_string).collect();
            let mut want_cookies = want.set_cookies.clone();
            if !is_multi_value(source) && !matches!(source, Source::HttpApiV2 | Source::FunctionUrl) {
                // One map key per spelling of Set-Cookie: the order among them is the map's.
                cookies.sort();
                want_cookies.sort();
            }
            prop_assert_eq!(cookies, want_cookies, "{}: the cookies", name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The text-or-base64 choice for reply bodies.

const MEDIA_TYPES: [&str; 14] = [
    "text/plain",
    "text/html; charset=utf-8",
    "Text/CSV",
    "application/json",
    "application/json; charset=latin-1",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/problem+json",
    "image/svg+xml",
    "application/octet-stream",
    "image/png",
    "application/x-ndjson",
    "",
];

fn is_identity(encoding: &str) -> bool {
    encoding.trim().eq_ignore_ascii_case("identity")
}

proptest! {
    #![proptest_config(config(512))]

    /// Whatever the bytes, the content type, the content coding and the extra text types, the
    /// body the client decodes from the reply is exactly the app's body (none for HEAD), and
    /// the rules of spec section 3 that need no judgement hold: an empty body is `""` and not
    /// base64; a body with no Content-Type, or with a Content-Encoding other than identity, is
    /// base64.
    #[test]
    fn the_text_or_base64_choice_never_changes_a_body(
        body in prop_oneof![bytes(0..512), "\\PC{0,128}".prop_map(String::into_bytes)],
        content_type in prop::option::of(prop_oneof![
            prop::sample::select(MEDIA_TYPES.to_vec()).prop_map(str::to_string),
            "\\PC{0,24}",
        ]),
        encoding in prop::option::of(prop_oneof![
            prop::sample::select(vec!["gzip", "identity", " Identity ", "br", "deflate, gzip"])
                .prop_map(str::to_string),
            "\\PC{0,12}",
        ]),
        extra in prop_oneof![Just(String::new()), "[a-z]{1,8}/[a-z+.-]{1,12}(, [a-z]{1,8}/[a-z]{1,8})?"],
        head in any::<bool>(),
    ) {
        let mut headers = Vec::new();
        if let Some(t) = &content_type {
            headers.push(("Content-Type".to_string(), t.clone()));
        }
        if let Some(e) = &encoding {
            headers.push(("Content-Encoding".to_string(), e.clone()));
        }
        let response = Response {
            head: ResponseHead {
                status: parse_status("200 OK").expect("a valid status"),
                headers,
            },
            body: body.clone(),
        };
        let text_types = TextTypes::parse(&extra);
        let sent: &[u8] = if head { &[] } else { &body };
        for source in ALL_SOURCES {
            let reply = reply_of(source, &response, head, &text_types)?;
            let client = as_the_client_gets_it(source, &reply).map_err(TestCaseError::fail)?;
            prop_assert_eq!(&client.body, &sent.to_vec(), "{}: {}", source.name(), reply);
            let base64 = reply["isBase64Encoded"].as_bool();
            if sent.is_empty() {
                prop_assert_eq!(&reply["body"], &json!(""), "{}", source.name());
                prop_assert_eq!(base64, Some(false), "{}", source.name());
            } else if content_type.is_none() || encoding.as_deref().is_some_and(|e| !is_identity(e)) {
                prop_assert_eq!(base64, Some(true), "{}: {}", source.name(), reply);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// start_response's checks: nothing that could end a line gets through.

/// A header name as RFC 9110 section 5.1 allows it: a token.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}"
}

/// Latin-1 text without CR, LF or NUL: what a header value or reason phrase may hold.
fn latin1_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (1u32..=0xFF)
            .prop_filter("not CR or LF", |c| *c != 0x0D && *c != 0x0A)
            .prop_map(|c| char::from_u32(c).expect("latin-1 is Unicode")),
        0..24,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// CR, LF or NUL, or a CRLF pair.
fn line_breaker() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\r", "\n", "\0", "\r\n"])
}

fn insert_at(text: &str, at: Index, piece: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let i = at.index(chars.len() + 1);
    let mut out: String = chars[..i].iter().collect();
    out.push_str(piece);
    out.extend(&chars[i..]);
    out
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

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_header_text(text: &str) -> bool {
    text.chars()
        .all(|c| (c as u32) <= 0xFF && !matches!(c, '\r' | '\n' | '\0'))
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn a_header_with_cr_lf_or_nul_anywhere_is_refused(
        name in token(),
        value in latin1_text(),
        breaker in line_breaker(),
        at in any::<Index>(),
        in_name in any::<bool>(),
    ) {
        let (name, value) = if in_name {
            (insert_at(&name, at, breaker), value)
        } else {
            (name, insert_at(&value, at, breaker))
        };
        prop_assert!(check_header(&name, &value).is_err(), "{:?}: {:?} was accepted", name, value);
    }

    #[test]
    fn a_status_with_cr_lf_or_nul_anywhere_is_refused(
        code in 100u16..1000,
        reason in latin1_text(),
        breaker in line_breaker(),
        at in any::<Index>(),
    ) {
        let status = insert_at(&format!("{code} {reason}"), at, breaker);
        prop_assert!(parse_status(&status).is_err(), "{:?} was accepted", status);
    }

    /// Every token name with any latin-1 value free of CR, LF and NUL is accepted: kept, or
    /// dropped when it is a hop-by-hop header.
    #[test]
    fn every_well_formed_header_is_accepted(name in token(), value in latin1_text()) {
        let hop = HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h));
        let want = if hop { HeaderVerdict::DropHopByHop } else { HeaderVerdict::Keep };
        prop_assert_eq!(check_header(&name, &value), Ok(want));
    }

    #[test]
    fn every_well_formed_status_is_accepted(code in 100u16..1000, reason in latin1_text()) {
        let line = format!("{code} {reason}");
        let status = parse_status(&line);
        prop_assert!(status.is_ok(), "{:?}: {:?}", line, status);
        let status = status.expect("checked");
        prop_assert_eq!(status.code, code);
        prop_assert_eq!(status.line, line);
    }

    /// On any text at all, a header is accepted exactly when its name is a token and its value
    /// latin-1 without CR, LF or NUL.
    #[test]
    fn a_header_is_accepted_exactly_when_well_formed(
        name in prop_oneof![token(), any::<String>(), "[ -~\u{80}-\u{ff}\r\n\0]{0,8}"],
        value in prop_oneof![latin1_text(), any::<String>(), "[ -~\u{80}-\u{ff}\u{2028}\r\n\0]{0,12}"],
    ) {
        let accepted = check_header(&name, &value).is_ok();
        prop_assert_eq!(accepted, is_token(&name) && is_header_text(&value), "{:?}: {:?}", name, value);
    }

    /// On any text at all, a status is accepted exactly when it is three digits from 100, a
    /// space, and a latin-1 reason without CR, LF or NUL.
    #[test]
    fn a_status_is_accepted_exactly_when_well_formed(
        status in prop_oneof![
            any::<String>(),
            "[0-9]{3} [ -~\u{80}-\u{ff}\u{2028}\r\n\0]{0,12}",
            "[0-9 ]{0,5}",
        ],
    ) {
        let b = status.as_bytes();
        let well_formed = b.len() >= 4
            && b[..3].iter().all(u8::is_ascii_digit)
            && b[3] == b' '
            && status[..3].parse::<u16>().is_ok_and(|c| c >= 100)
            && is_header_text(&status);
        prop_assert_eq!(parse_status(&status).is_ok(), well_formed, "{:?}", status);
    }
}

// ---------------------------------------------------------------------------------------------
// The Runtime API client: every answer ends in a body or an error, and framing never changes a
// body.

/// Serves one connection: reads the request's head, writes `pieces` one write each (so that
/// they tend to arrive as separate segments), then closes. Returns the client's endpoint.
fn answer_once(pieces: Vec<Vec<u8>>) -> http::Uri {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let authority = listener.local_addr().expect("an address").to_string();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        for piece in pieces {
            if stream.write_all(&piece).is_err() {
                return;
            }
        }
    });
    endpoint(&authority).expect("an endpoint")
}

/// One `GET /runtime/invocation/next` from the runtime's client, on the runtime's kind of event
/// loop.
fn next_from(base: http::Uri) -> Result<Next, NextError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("an event loop")
        .block_on(Api::new(base).next())
}

/// Cuts `bytes` into pieces at the given points.
fn cut(bytes: &[u8], points: &[Index]) -> Vec<Vec<u8>> {
    let mut at: Vec<usize> = points.iter().map(|p| p.index(bytes.len() + 1)).collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
}

/// Answer heads a server might send, sound and not, for arbitrary bytes to follow.
fn answer_head() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (0usize..64)
            .prop_map(|n| format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes()),
        Just(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()),
        Just(b"HTTP/1.0 200 OK\r\n\r\n".to_vec()),
        Just(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
        Just(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
        Just(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n".to_vec()),
        Just(Vec::new()),
    ]
}

proptest! {
    #![proptest_config(config(200))]

    #[test]
    fn the_api_client_reads_any_answer_to_a_body_or_an_error(
        head in answer_head(),
        tail in bytes(0..200),
        points in prop::collection::vec(any::<Index>(), 0..4),
    ) {
        let mut answer = head;
        answer.extend_from_slice(&tail);
        let total = answer.len();
        // The server closes after its bytes, so every read ends: no case can hang.
        match next_from(answer_once(cut(&answer, &points))) {
            Ok(next) => prop_assert!(next.event.len() <= total),
            Err(NextError::Status(status, said)) => {
                prop_assert!((200..1000).contains(&status), "status {}", status);
                prop_assert!(said.len() <= total);
            }
            Err(NextError::Gone(_)) => {}
        }
    }

    #[test]
    fn the_api_client_keeps_every_body_byte_under_any_framing(
        body in bytes(0..3000),
        chunk_points in prop::collection::vec(any::<Index>(), 0..6),
        segment_points in prop::collection::vec(any::<Index>(), 0..6),
        chunked in any::<bool>(),
        extension in any::<bool>(),
    ) {
        let mut answer = Vec::new();
        if chunked {
            answer.extend_from_slice(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for chunk in cut(&body, &chunk_points).iter().filter(|c| !c.is_empty()) {
                let ext = if extension { ";name=value" } else { "" };
                answer.extend_from_slice(format!("{:X}{ext}\r\n", chunk.len()).as_bytes());
                answer.extend_from_slice(chunk);
                answer.extend_from_slice(b"\r\n");
            }
            answer.extend_from_slice(b"0\r\nTrailer-Field: x\r\n\r\n");
        } else {
            answer.extend_from_slice(
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
            );
            answer.extend_from_slice(&body);
        }
        let got = next_from(answer_once(cut(&answer, &segment_points)));
        prop_assert!(got.is_ok(), "{:?}", got.err());
        prop_assert_eq!(got.map(|n| n.event).unwrap_or_default(), body);
    }
}

/// An event as the library reads it, from the `serde_json` value written here.
fn json(event: &Value) -> rwsgi::json::Value {
    rwsgi::json::Value::from(event)
}

// ---------------------------------------------------------------------------------------------
// AWS's own types as the schema oracle (tests/support/aws_oracle.rs).

use crate::support::aws_oracle;

proptest! {
    #![proptest_config(config(96))]

    /// Every event `rwsgi call --via` builds reads as AWS's request type for its door, and every
    /// reply rwsgi builds as AWS's response type for its source.
    #[test]
    fn aws_types_read_every_event_and_reply_rwsgi_builds(x in exchange()) {
        use rwsgi::lambda::local::{Via, event_for as via_event, made_up_context};
        for source in ALL_SOURCES {
            let event = event_for(source, &x);
            let request = to_request(&json(&event), source, &EventOptions::default())
                .map_err(|e| TestCaseError::fail(format!("{e}: {event}")))?;
            let reply = reply_of(source, &echo(request, x.content_type), false, &TextTypes::default())?;
            aws_oracle::reply_fits(source, &reply).map_err(TestCaseError::fail)?;
        }
        for via in [Via::V1, Via::V2, Via::Url, Via::Alb, Via::Lattice] {
            let source = via.source();
            let request = to_request(&json(&event_for(source, &x)), source, &EventOptions::default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let built = via_event(via, request, &made_up_context())
                .map_err(|e| TestCaseError::fail(format!("--via {via:?}: {e}")))?;
            aws_oracle::event_fits(source, &built).map_err(TestCaseError::fail)?;
        }
    }
}
