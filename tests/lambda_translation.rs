//! The Lambda translation on its own, without Python: event -> `Request` (spec/lambda-events.md
//! sections 1 and 2) and `Response` -> reply (section 3), table by table, with the events in
//! `tests/fixtures/lambda/` (the NOTICE there names the ones that come from the
//! `aws_lambda_events` crate; the rest follow the shapes in AWS's documentation).
//!
//! Environ values are compared the way the app sees them: PEP 3333 native strings, one latin-1
//! character per byte, so `café` sent as UTF-8 shows as `caf\u{c3}\u{a9}`.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};

use rwsgi::http::{
    Request, Response, ResponseHead, latin1_string, parse_status, percent_decode, read_all,
};
use rwsgi::lambda::reply::{MAX_REPLY_BYTES, TextTypes, serialize, to_reply};
use rwsgi::lambda::source::{EventOptions, Source, detect, to_request};

// REST API (payload 1.0): on the execute-api domain, with repeated headers and query keys, behind
// a custom domain with a base path mapping, a binary upload, and SAM local's variant.
const REST: &str = "example-apigw-request.json";
const REST_MULTI: &str = "example-apigw-request-multi-value-parameters.json";
const REST_CUSTOM: &str = "rest-custom-domain.json";
const REST_BINARY: &str = "rest-binary-upload.json";
const SAM_REST: &str = "example-apigw-sam-rest-request.json";
// HTTP API, payload 1.0 and 2.0.
const HTTP_V1: &str = "httpapi-v1-named-stage.json";
const HTTP_V2: &str = "httpapi-v2-named-stage-jwt.json";
const HTTP_V2_IAM: &str = "example-apigw-v2-request-iam.json";
const HTTP_V2_JWT_NO_SUB: &str = "example-apigw-v2-request-jwt-authorizer.json";
const HTTP_V2_PLAIN: &str = "example-apigw-v2-request-no-authorizer.json";
const SAM_HTTP: &str = "example-apigw-sam-http-request.json";
// Function URLs, and cargo-lambda's emulation of them: the shape `aws_lambda_events`
// serialises (a top-level `httpMethod` that says GET whatever the method, `rawQueryString: null`
// without a query) with the values cargo-lambda fills in (domain `localhost`, protocol `http`).
const URL: &str = "function-url-iam.json";
const CARGO_LAMBDA: &str = "cargo-lambda-function-url.json";
// Application Load Balancer, single-value and multi-value headers.
const ALB_SINGLE: &str = "example-alb-lambda-target-request-headers-only.json";
const ALB_SINGLE_BINARY: &str = "alb-single-value-binary.json";
const ALB_MULTI: &str = "alb-multi-value.json";
const ALB_MULTI_TEXT: &str = "example-alb-lambda-target-request-multivalue-headers.json";
// VPC Lattice, event versions 1 and 2.
const LATTICE_V1: &str = "example-vpc-lattice-v1-request.json";
const LATTICE_V1_QUERY: &str = "lattice-v1-query-in-path.json";
const LATTICE_V2: &str = "example-vpc-lattice-v2-request.json";
const LATTICE_V2_GZIP: &str = "example-vpc-lattice-v2-request-base64.json";
const LATTICE_V2_COOKIES: &str = "lattice-v2-cookies.json";
// Events that are not HTTP requests.
const SQS: &str = "example-sqs-event.json";
const EVENTBRIDGE: &str = "example-eventbridge-schedule.json";
// API Gateway Lambda authorizer inputs: REST REQUEST, HTTP API payload 1.0 and 2.0.
const AUTH_REST: &str = "rest-authorizer-request.json";
const AUTH_HTTP_V1: &str = "httpapi-authorizer-v1.json";
const AUTH_HTTP_V2: &str = "httpapi-authorizer-v2.json";
// A REST API with IAM authorization; an HTTP API 1.0 event with names only in the single-value
// maps; a VPC Lattice v2 event in its older shape (string headers, `query_string_parameters`).
const REST_IAM: &str = "rest-iam.json";
const HTTP_V1_HEADERS_ONLY: &str = "httpapi-v1-headers-only.json";
const LATTICE_V2_STRINGS: &str = "lattice-v2-string-headers.json";

const HTTP_FIXTURES: [&str; 22] = [
    REST,
    REST_MULTI,
    REST_CUSTOM,
    REST_BINARY,
    SAM_REST,
    HTTP_V1,
    HTTP_V2,
    HTTP_V2_IAM,
    HTTP_V2_JWT_NO_SUB,
    HTTP_V2_PLAIN,
    SAM_HTTP,
    URL,
    CARGO_LAMBDA,
    ALB_SINGLE,
    ALB_SINGLE_BINARY,
    ALB_MULTI,
    ALB_MULTI_TEXT,
    LATTICE_V1,
    LATTICE_V1_QUERY,
    LATTICE_V2,
    LATTICE_V2_GZIP,
    LATTICE_V2_COOKIES,
];

const BINARY: [u8; 4] = [0x00, 0xFF, 0x10, 0x80];
const BINARY_BASE64: &str = "AP8QgA==";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/lambda/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A change to a fixture, at a JSON pointer (`/requestContext/stage`; `~1` for a `/` in a key).
#[derive(Clone)]
enum Edit {
    /// Sets the value, creating the objects on the way; an existing key keeps its place.
    Set(&'static str, Value),
    /// Removes the key; the others keep their order.
    Remove(&'static str),
}

fn set(pointer: &'static str, value: Value) -> Edit {
    Edit::Set(pointer, value)
}

fn remove(pointer: &'static str) -> Edit {
    Edit::Remove(pointer)
}

fn apply(event: &mut Value, edit: &Edit) {
    let (pointer, value) = match edit {
        Edit::Set(p, v) => (*p, Some(v.clone())),
        Edit::Remove(p) => (*p, None),
    };
    let keys: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(|k| k.replace("~1", "/").replace("~0", "~"))
        .collect();
    let (last, parents) = keys.split_last().expect("an empty pointer");
    let mut node = event;
    for key in parents {
        node = node
            .as_object_mut()
            .unwrap_or_else(|| panic!("{pointer}: {key} is inside something that is not an object"))
            .entry(key.clone())
            .or_insert_with(|| json!({}));
    }
    let map = node
        .as_object_mut()
        .unwrap_or_else(|| panic!("{pointer}: the parent is not an object"));
    match value {
        Some(v) => {
            map.insert(last.clone(), v);
        }
        None => {
            map.shift_remove(last.as_str());
        }
    }
}

fn event(name: &str, edits: &[Edit]) -> Value {
    let mut event = fixture(name);
    for edit in edits {
        apply(&mut event, edit);
    }
    event
}

fn translate(event: &Value, base_path: Option<&str>) -> (Source, Request) {
    let source = detect(&json(event)).unwrap_or_else(|| panic!("not detected as HTTP: {event}"));
    let options = EventOptions {
        base_path: base_path.map(str::to_string),
        ..EventOptions::default()
    };
    let request = to_request(&json(event), source, &options)
        .unwrap_or_else(|e| panic!("{e}, for the event {event}"));
    (source, request)
}

/// The CGI-style environ keys as the app sees them, plus `wsgi.url_scheme`.
fn environ(request: &Request) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = request
        .cgi_variables()
        .into_iter()
        .map(|(k, v)| (k, latin1_string(&v)))
        .collect();
    env.insert("wsgi.url_scheme".into(), request.scheme.clone());
    env
}

/// One environ expectation: `key` of the translated fixture is `want` (`None`: absent).
struct Row {
    what: &'static str,
    fixture: &'static str,
    edits: Vec<Edit>,
    base_path: Option<&'static str>,
    key: &'static str,
    want: Option<&'static str>,
}

fn row(
    what: &'static str,
    fixture: &'static str,
    key: &'static str,
    want: impl Into<Option<&'static str>>,
) -> Row {
    Row {
        what,
        fixture,
        edits: Vec::new(),
        base_path: None,
        key,
        want: want.into(),
    }
}

impl Row {
    fn with(mut self, edit: Edit) -> Row {
        self.edits.push(edit);
        self
    }

    fn base_path(mut self, base: &'static str) -> Row {
        self.base_path = Some(base);
        self
    }
}

/// Runs every row and reports all the ones that differ at once.
fn check(rows: Vec<Row>) {
    let mut failures = Vec::new();
    for r in &rows {
        let event = event(r.fixture, &r.edits);
        let (_, request) = translate(&event, r.base_path);
        let env = environ(&request);
        let got = env.get(r.key).map(String::as_str);
        if got != r.want {
            failures.push(format!(
                "{} [{}]: {} is {:?}, want {:?}",
                r.what, r.fixture, r.key, got, r.want
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows differ:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

fn response(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    Response {
        head: ResponseHead {
            status: parse_status(status).expect("a valid status"),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        },
        body: body.to_vec(),
    }
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("valid base64")
}

// ---------------------------------------------------------------------------------------------
// Section 1: which source sent the event.

#[test]
fn detection_follows_the_spec_order() {
    use Source::*;
    let alb_multi = Alb { multi_value: true };
    let alb_single = Alb { multi_value: false };
    let cases: Vec<(&str, &str, Vec<Edit>, Option<Source>)> = vec![
        ("REST API on execute-api", REST, vec![], Some(RestApi)),
        ("REST API, repeated keys", REST_MULTI, vec![], Some(RestApi)),
        (
            "REST API, custom domain",
            REST_CUSTOM,
            vec![],
            Some(RestApi),
        ),
        (
            "REST API, binary upload",
            REST_BINARY,
            vec![],
            Some(RestApi),
        ),
        // Row 4 reads `version`: SAM local writes "1.0" into REST events too.
        ("SAM local REST event", SAM_REST, vec![], Some(HttpApiV1)),
        ("HTTP API payload 1.0", HTTP_V1, vec![], Some(HttpApiV1)),
        ("HTTP API payload 2.0", HTTP_V2, vec![], Some(HttpApiV2)),
        ("HTTP API 2.0, IAM", HTTP_V2_IAM, vec![], Some(HttpApiV2)),
        (
            "HTTP API 2.0, JWT",
            HTTP_V2_JWT_NO_SUB,
            vec![],
            Some(HttpApiV2),
        ),
        (
            "HTTP API 2.0, no authorizer",
            HTTP_V2_PLAIN,
            vec![],
            Some(HttpApiV2),
        ),
        ("SAM local HTTP API", SAM_HTTP, vec![], Some(HttpApiV2)),
        ("function URL", URL, vec![], Some(FunctionUrl)),
        // Row 2 before row 4: the stray `httpMethod` does not make it a REST event.
        // No `apiId`: not API Gateway, but a function URL emulator; its stray `httpMethod` does
        // not make it a REST event either.
        (
            "cargo-lambda: 2.0 with a top-level httpMethod and no apiId",
            CARGO_LAMBDA,
            vec![],
            Some(FunctionUrl),
        ),
        (
            "function URL with a stray httpMethod",
            URL,
            vec![set("/httpMethod", json!("GET"))],
            Some(FunctionUrl),
        ),
        (
            "lattice-svcs domain: .on.aws without .lambda-url.",
            HTTP_V2,
            vec![set(
                "/requestContext/domainName",
                json!("svc-0a40eebed65f8d69c.7d67968.vpc-lattice-svcs.eu-west-1.on.aws"),
            )],
            Some(HttpApiV2),
        ),
        (
            ".lambda-url. outside .on.aws",
            URL,
            vec![set(
                "/requestContext/domainName",
                json!("k2pq5x7rzv.lambda-url.example.com"),
            )],
            Some(HttpApiV2),
        ),
        ("ALB single-value", ALB_SINGLE, vec![], Some(alb_single)),
        (
            "ALB single-value, binary",
            ALB_SINGLE_BINARY,
            vec![],
            Some(alb_single),
        ),
        ("ALB multi-value", ALB_MULTI, vec![], Some(alb_multi)),
        (
            "ALB multi-value, text",
            ALB_MULTI_TEXT,
            vec![],
            Some(alb_multi),
        ),
        (
            "ALB with multiValueHeaders: null",
            ALB_SINGLE,
            vec![set("/multiValueHeaders", Value::Null)],
            Some(alb_single),
        ),
        // Row 1 comes first: `requestContext.elb` wins over everything else.
        (
            "ALB with 2.0 markers",
            ALB_SINGLE,
            vec![
                set("/version", json!("2.0")),
                set("/requestContext/http", json!({"method": "GET"})),
            ],
            Some(alb_single),
        ),
        ("Lattice v1", LATTICE_V1, vec![], Some(LatticeV1)),
        (
            "Lattice v1, query in path",
            LATTICE_V1_QUERY,
            vec![],
            Some(LatticeV1),
        ),
        ("Lattice v2", LATTICE_V2, vec![], Some(LatticeV2)),
        (
            "Lattice v2, gzip body",
            LATTICE_V2_GZIP,
            vec![],
            Some(LatticeV2),
        ),
        (
            "Lattice v2, cookies",
            LATTICE_V2_COOKIES,
            vec![],
            Some(LatticeV2),
        ),
        (
            "Lattice v2 with serviceArn only",
            LATTICE_V2,
            vec![remove("/requestContext/serviceNetworkArn")],
            Some(LatticeV2),
        ),
        (
            "Lattice v2 with serviceNetworkArn only",
            LATTICE_V2,
            vec![remove("/requestContext/serviceArn")],
            Some(LatticeV2),
        ),
        // Row 3 before row 4.
        (
            "Lattice v2 with a stray httpMethod",
            LATTICE_V2,
            vec![set("/httpMethod", json!("GET"))],
            Some(LatticeV2),
        ),
        (
            "2.0 with method but no Lattice ARNs",
            LATTICE_V2,
            vec![
                remove("/requestContext/serviceArn"),
                remove("/requestContext/serviceNetworkArn"),
            ],
            None,
        ),
        (
            "version 2.0 without requestContext.http is row 4",
            REST,
            vec![set("/version", json!("2.0"))],
            Some(RestApi),
        ),
        (
            "a version other than 1.0 is REST",
            REST,
            vec![set("/version", json!("1"))],
            Some(RestApi),
        ),
        // Row 4 before row 5.
        (
            "raw_path with httpMethod",
            LATTICE_V1,
            vec![set("/httpMethod", json!("POST"))],
            Some(RestApi),
        ),
        (
            "raw_path without method",
            LATTICE_V1,
            vec![remove("/method")],
            None,
        ),
        ("SQS", SQS, vec![], None),
        ("EventBridge schedule", EVENTBRIDGE, vec![], None),
        // Row 0: authorizer inputs carry an HTTP method and path, but are not requests.
        ("REST REQUEST authorizer", AUTH_REST, vec![], None),
        ("HTTP API 1.0 authorizer", AUTH_HTTP_V1, vec![], None),
        ("HTTP API 2.0 authorizer", AUTH_HTTP_V2, vec![], None),
        (
            "REST TOKEN authorizer",
            AUTH_REST,
            vec![set("/type", json!("TOKEN"))],
            None,
        ),
        // cargo-lambda sends `type` and `methodArn` as null on every event.
        (
            "type REQUEST without an ARN",
            AUTH_REST,
            vec![remove("/methodArn")],
            Some(RestApi),
        ),
        (
            "WebSocket message",
            REST,
            vec![
                set("/requestContext/eventType", json!("MESSAGE")),
                set("/requestContext/connectionId", json!("L0SM9cOFvHcCIhw=")),
            ],
            None,
        ),
        ("REST with IAM", REST_IAM, vec![], Some(RestApi)),
        (
            "HTTP API 1.0, names only in headers",
            HTTP_V1_HEADERS_ONLY,
            vec![],
            Some(HttpApiV1),
        ),
        (
            "Lattice v2, string headers",
            LATTICE_V2_STRINGS,
            vec![],
            Some(LatticeV2),
        ),
    ];
    let mut failures = Vec::new();
    for (what, name, edits, want) in &cases {
        let got = detect(&json(&event(name, edits)));
        if got != *want {
            failures.push(format!("{what} [{name}]: {got:?}, want {want:?}"));
        }
    }
    let inline: Vec<(&str, Value)> = vec![
        ("a direct invoke with {}", json!({})),
        ("a direct invoke with a payload", json!({"orderId": 42})),
        ("an empty array", json!([])),
        ("an array holding an HTTP event", json!([fixture(REST)])),
        ("a string", json!("GET /")),
        ("null", Value::Null),
        ("a number", json!(42)),
        ("true", json!(true)),
    ];
    for (what, value) in &inline {
        let got = detect(&json(value));
        if got.is_some() {
            failures.push(format!("{what}: {got:?}, want None"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Section 2: request -> environ, one key (or pair of keys) per test.

#[test]
fn environ_request_method() {
    let k = "REQUEST_METHOD";
    check(vec![
        row("httpMethod", REST, k, "POST"),
        row("httpMethod", REST_CUSTOM, k, "GET"),
        row("httpMethod", REST_BINARY, k, "PUT"),
        row("httpMethod", HTTP_V1, k, "PUT"),
        row("requestContext.http.method", HTTP_V2, k, "GET"),
        row("requestContext.http.method", URL, k, "POST"),
        // The stray top-level `httpMethod: GET` is not the request's method.
        row("cargo-lambda POST", CARGO_LAMBDA, k, "POST"),
        row("httpMethod", ALB_MULTI, k, "POST"),
        row("httpMethod", ALB_SINGLE, k, "GET"),
        row("method", LATTICE_V1, k, "POST"),
        row("method", LATTICE_V2, k, "GET"),
        row("method", LATTICE_V2_COOKIES, k, "POST"),
        row("PATCH", HTTP_V2, k, "PATCH").with(set("/requestContext/http/method", json!("PATCH"))),
    ]);
}

#[test]
fn environ_path_info() {
    let k = "PATH_INFO";
    check(vec![
        // Decoded once: REST, ALB, function URLs, Lattice (spec section 2, PATH_INFO).
        row("REST, execute-api", REST, k, "/hello/world"),
        row(
            "REST, %2F and UTF-8",
            REST_CUSTOM,
            k,
            "/v1/orders/A/B C/caf\u{c3}\u{a9}",
        ),
        row("REST, malformed escapes stay", REST, k, "/a%zz/b%4/100%")
            .with(set("/path", json!("/a%zz/b%4/100%"))),
        row("REST, lower-case hex", REST, k, "/JJ").with(set("/path", json!("/%4a%4A"))),
        row("REST, + is not a space in a path", REST, k, "/a+b").with(set("/path", json!("/a+b"))),
        row("REST, %25 decodes once only", REST, k, "/search/%41")
            .with(set("/path", json!("/search/%2541"))),
        row("function URL", URL, k, "/files/caf\u{c3}\u{a9}/a/b"),
        row("function URL, trailing %", URL, k, "/100%").with(set("/rawPath", json!("/100%"))),
        row("ALB multi-value", ALB_MULTI, k, "/api/caf\u{c3}\u{a9}/a/b"),
        row(
            "ALB single-value",
            ALB_SINGLE_BINARY,
            k,
            "/upload/r\u{c3}\u{a9}sum\u{c3}\u{a9}.bin",
        ),
        row("ALB, %zz stays", ALB_SINGLE, k, "/%zz/x").with(set("/path", json!("/%zz/x"))),
        row("Lattice v1", LATTICE_V1, k, "/api/product"),
        row(
            "Lattice v1, ? splits",
            LATTICE_V1_QUERY,
            k,
            "/api/caf\u{c3}\u{a9}/x",
        ),
        row("Lattice v2", LATTICE_V2, k, "/health"),
        row("Lattice v2, ? splits", LATTICE_V2, k, "/health/a/b")
            .with(set("/path", json!("/health/a%2Fb?verbose=1"))),
        row("Lattice v2, %2F", LATTICE_V2_COOKIES, k, "/orders/a/b"),
        // HTTP APIs decode the path themselves: no second decoding.
        row("HTTP API 1.0", HTTP_V1, k, "/search/%41 b"),
        row("HTTP API 2.0", HTTP_V2, k, "/search/%41"),
        row("HTTP API 2.0, $default", HTTP_V2_PLAIN, k, "/"),
        row("HTTP API 2.0, $default", HTTP_V2_IAM, k, "/my/path"),
        // JSON text is Unicode: UTF-8 encoded, then one character per byte.
        row("HTTP API 2.0, non-ASCII", HTTP_V2, k, "/caf\u{c3}\u{a9}")
            .with(set("/rawPath", json!("/prod/caf\u{e9}"))),
        // cargo-lambda's function URL events keep the path encoded, as a real function URL's.
        row("cargo-lambda", CARGO_LAMBDA, k, "/files/a/b c"),
    ]);
}

#[test]
fn environ_script_name_from_the_stage() {
    let (s, p) = ("SCRIPT_NAME", "PATH_INFO");
    let execute_api_host = json!(["a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"]);
    check(vec![
        // REST: the stage is in the URL only on the execute-api domain.
        row("REST, execute-api", REST, s, "/testStage"),
        row("REST, execute-api", REST, p, "/hello/world"),
        row("REST, execute-api", REST_BINARY, s, "/staging"),
        row("REST, execute-api", REST_BINARY, p, "/upload/logo.png"),
        row("REST, custom domain", REST_CUSTOM, s, ""),
        row(
            "REST, custom domain",
            REST_CUSTOM,
            p,
            "/v1/orders/A/B C/caf\u{c3}\u{a9}",
        ),
        row("REST, execute-api Host", REST_CUSTOM, s, "/prod")
            .with(set("/multiValueHeaders/Host", execute_api_host.clone())),
        row("REST, China partition", REST_CUSTOM, s, "/prod").with(set(
            "/multiValueHeaders/Host",
            json!(["a1b2c3d4e5.execute-api.cn-north-1.amazonaws.com.cn"]),
        )),
        row("REST, SAM local", SAM_REST, s, ""),
        // HTTP API: a named stage is in the path, and stripped at a segment boundary only.
        row("HTTP 1.0, /prod/...", HTTP_V1, s, "/prod"),
        row("HTTP 2.0, /prod/...", HTTP_V2, s, "/prod"),
        row("HTTP 2.0, /prod/...", HTTP_V2, p, "/search/%41"),
        row("HTTP 2.0, /prod", HTTP_V2, s, "/prod").with(set("/rawPath", json!("/prod"))),
        row("HTTP 2.0, /prod", HTTP_V2, p, "").with(set("/rawPath", json!("/prod"))),
        row("HTTP 2.0, /prod/", HTTP_V2, p, "/").with(set("/rawPath", json!("/prod/"))),
        row("HTTP 2.0, /production", HTTP_V2, s, "").with(set("/rawPath", json!("/production"))),
        row("HTTP 2.0, /production", HTTP_V2, p, "/production")
            .with(set("/rawPath", json!("/production"))),
        row("HTTP 2.0, stage not in path", HTTP_V2, s, "").with(set("/rawPath", json!("/search"))),
        row("HTTP 1.0, /production/x", HTTP_V1, s, "").with(set("/path", json!("/production/x"))),
        row("HTTP 2.0, $default", HTTP_V2_IAM, s, ""),
        row("HTTP 2.0, $default literally in path", HTTP_V2_IAM, s, "")
            .with(set("/rawPath", json!("/$default/x"))),
        row(
            "HTTP 2.0, $default literally in path",
            HTTP_V2_IAM,
            p,
            "/$default/x",
        )
        .with(set("/rawPath", json!("/$default/x"))),
        // REST stage names cannot hold `$`: an HTTP API event sent as REST never mounts one.
        row("REST, $default on execute-api", REST, s, "")
            .with(set("/requestContext/stage", json!("$default"))),
        row("REST, $default on execute-api", REST, p, "/hello/world")
            .with(set("/requestContext/stage", json!("$default"))),
        row("REST, IAM on execute-api", REST_IAM, s, "/staging"),
        row("REST, IAM on execute-api", REST_IAM, p, "/reports/2024"),
        // Function URLs, ALB and Lattice: nothing.
        row("function URL", URL, s, ""),
        row("function URL, stage named like the path", URL, s, "")
            .with(set("/requestContext/stage", json!("files"))),
        row("ALB", ALB_MULTI, s, ""),
        row("Lattice v1", LATTICE_V1, s, ""),
        row("Lattice v2", LATTICE_V2_COOKIES, s, ""),
    ]);
}

#[test]
fn environ_script_name_from_rwsgi_base_path() {
    let (s, p) = ("SCRIPT_NAME", "PATH_INFO");
    check(vec![
        row("custom domain, /v1", REST_CUSTOM, s, "/v1").base_path("/v1"),
        row(
            "custom domain, /v1",
            REST_CUSTOM,
            p,
            "/orders/A/B C/caf\u{c3}\u{a9}",
        )
        .base_path("/v1"),
        row("trailing slash in the setting", REST_CUSTOM, s, "/v1").base_path("/v1/"),
        row("/v10/x is not under /v1", REST_CUSTOM, s, "")
            .base_path("/v1")
            .with(set("/path", json!("/v10/x"))),
        row("/v10/x is not under /v1", REST_CUSTOM, p, "/v10/x")
            .base_path("/v1")
            .with(set("/path", json!("/v10/x"))),
        row("exactly /v1", REST_CUSTOM, s, "/v1")
            .base_path("/v1")
            .with(set("/path", json!("/v1"))),
        row("exactly /v1", REST_CUSTOM, p, "")
            .base_path("/v1")
            .with(set("/path", json!("/v1"))),
        row("after the REST stage", REST, s, "/testStage/hello").base_path("/hello"),
        row("after the REST stage", REST, p, "/world").base_path("/hello"),
        row("/hell is not a segment of /hello", REST, s, "/testStage").base_path("/hell"),
        row("after the HTTP API stage", HTTP_V2, s, "/prod/v1")
            .base_path("/v1")
            .with(set("/rawPath", json!("/prod/v1/x"))),
        row("after the HTTP API stage", HTTP_V2, p, "/x")
            .base_path("/v1")
            .with(set("/rawPath", json!("/prod/v1/x"))),
        row("ALB", ALB_MULTI, s, "/api").base_path("/api"),
        row("ALB", ALB_MULTI, p, "/caf\u{c3}\u{a9}/a/b").base_path("/api"),
        row("function URL", URL, s, "/files").base_path("/files"),
        row("Lattice", LATTICE_V2_COOKIES, s, "/orders").base_path("/orders"),
        row("no match leaves both", URL, s, "").base_path("/v1"),
        row("no match leaves both", URL, p, "/files/caf\u{c3}\u{a9}/a/b").base_path("/v1"),
    ]);
}

#[test]
fn environ_query_string() {
    let k = "QUERY_STRING";
    check(vec![
        // A key only `queryStringParameters` holds is kept; one both hold, from the list.
        row(
            "HTTP 1.0, a key only in the single-value map",
            HTTP_V1_HEADERS_ONLY,
            k,
            "tab=settings&tab=billing&lang=en",
        ),
        row(
            "ALB multi-value, a key only in the single-value map",
            ALB_MULTI,
            k,
            "only=here",
        )
        .with(set("/multiValueQueryStringParameters", json!({})))
        .with(set("/queryStringParameters", json!({"only": "here"}))),
        row(
            "Lattice v2, older query_string_parameters",
            LATTICE_V2_STRINGS,
            k,
            "sku=A-100",
        ),
        // REST and HTTP API 1.0: re-encoded from the decoded parameters, in the event's order.
        row("REST", REST, k, "name=me"),
        row("REST, repeated key", REST_MULTI, k, "name=me&name=me2"),
        row(
            "REST, space, +, & and =",
            REST_CUSTOM,
            k,
            "tag=a%20b&tag=c%2Bd&q=x%3D1%26y&empty=",
        ),
        row(
            "REST, single-value only",
            REST_CUSTOM,
            k,
            "tag=c%2Bd&q=x%3D1%26y&empty=",
        )
        .with(remove("/multiValueQueryStringParameters")),
        row(
            "REST, multi-value null",
            REST_CUSTOM,
            k,
            "tag=c%2Bd&q=x%3D1%26y&empty=",
        )
        .with(set("/multiValueQueryStringParameters", Value::Null)),
        row("REST, both null", REST_BINARY, k, ""),
        row("REST, SAM local, both null", SAM_REST, k, ""),
        row(
            "REST, unreserved kept, the rest encoded",
            REST,
            k,
            "na%20me=caf%C3%A9&na%20me=~a-b_c.d%2A%2F%3F",
        )
        .with(set(
            "/multiValueQueryStringParameters",
            json!({"na me": ["caf\u{e9}", "~a-b_c.d*/?"]}),
        ))
        // API Gateway fills both maps: the single-value one with the last of each key.
        .with(set(
            "/queryStringParameters",
            json!({"na me": "~a-b_c.d*/?"}),
        )),
        row("HTTP API 1.0", HTTP_V1, k, "q=a%20b&q=a%2Bb&lang=fr"),
        // Payload 2.0: rawQueryString as it is.
        row("HTTP API 2.0", HTTP_V2, k, "q=caf%C3%A9&q=a%2Bb&flag"),
        row(
            "HTTP API 2.0, IAM",
            HTTP_V2_IAM,
            k,
            "parameter1=value1&parameter1=value2&parameter2=value",
        ),
        row("HTTP API 2.0, empty", HTTP_V2_PLAIN, k, ""),
        row("function URL", URL, k, "v=1&v=2&note=a+b%20c"),
        row("cargo-lambda, rawQueryString null", CARGO_LAMBDA, k, ""),
        // ALB and Lattice: the values are still encoded, joined as they are (Elastic Load
        // Balancing user guide, "Lambda functions as targets": the load balancer does not decode
        // URL-encoded query parameters).
        row(
            "ALB multi-value",
            ALB_MULTI,
            k,
            "q=caf%C3%A9&q=a+b&empty=&tag=x%26y",
        ),
        row(
            "ALB single-value",
            ALB_SINGLE_BINARY,
            k,
            "name=r%C3%A9sum%C3%A9&mode=a+b",
        ),
        row("ALB single-value", ALB_SINGLE, k, "key=hello"),
        row("ALB multi-value", ALB_MULTI_TEXT, k, "key=hello"),
        row("ALB, no parameters", ALB_SINGLE, k, "").with(remove("/queryStringParameters")),
        row(
            "Lattice v1",
            LATTICE_V1,
            k,
            "category=electronics&sort=price&limit=10&tags=tv",
        ),
        row("Lattice v1", LATTICE_V1_QUERY, k, "color=red%20blue&size=m"),
        row(
            "Lattice v1, from the path",
            LATTICE_V1_QUERY,
            k,
            "color=red%20blue&size=m",
        )
        .with(remove("/query_string_parameters")),
        row(
            "Lattice v2, arrays",
            LATTICE_V2,
            k,
            "state=prod&multi=a&multi=DEF&multi=g",
        ),
        row(
            "Lattice v2, arrays",
            LATTICE_V2_COOKIES,
            k,
            "tag=a&tag=b%20c&limit=10",
        ),
        row(
            "Lattice v2, from the path",
            LATTICE_V2,
            k,
            "verbose=1&x=%20",
        )
        .with(set("/path", json!("/health?verbose=1&x=%20")))
        .with(remove("/queryStringParameters")),
    ]);
}

#[test]
fn environ_content_type_and_length() {
    let (t, l) = ("CONTENT_TYPE", "CONTENT_LENGTH");
    check(vec![
        row("REST POST", REST, t, "application/json"),
        row("REST POST: \\r\\n\\t counted", REST, l, "13"),
        row("REST PUT, base64", REST_BINARY, t, "image/png"),
        row("REST PUT, base64: decoded length", REST_BINARY, l, "8"),
        row("REST GET, no body", REST_CUSTOM, t, None),
        row("REST GET, no body", REST_CUSTOM, l, None),
        // Any method with a body: GET and DELETE included.
        row("REST GET with a body", REST_CUSTOM, l, "3").with(set("/body", json!("abc"))),
        row("HTTP 2.0 DELETE with a body", HTTP_V2, l, "2")
            .with(set("/requestContext/http/method", json!("DELETE")))
            .with(set("/body", json!("{}"))),
        row("HTTP 1.0 PUT: bytes, not characters", HTTP_V1, l, "15"),
        row(
            "HTTP 1.0 PUT",
            HTTP_V1,
            t,
            "application/json; charset=utf-8",
        ),
        // `content-length: 0` and no body: no CONTENT_LENGTH.
        row("HTTP 2.0 GET", HTTP_V2, l, None),
        row("function URL, base64", URL, l, "4"),
        row("function URL", URL, t, "application/octet-stream"),
        row("cargo-lambda", CARGO_LAMBDA, l, "5"),
        row("ALB form post", ALB_MULTI, l, "17"),
        row(
            "ALB form post",
            ALB_MULTI,
            t,
            "application/x-www-form-urlencoded",
        ),
        row("ALB, body \"\"", ALB_MULTI, l, None).with(set("/body", json!(""))),
        row("Lattice v1", LATTICE_V1, l, "30"),
        // The header says 1024; the decoded body is what the app can read.
        row("Lattice v2, gzip upload", LATTICE_V2_GZIP, l, "51"),
        row(
            "Lattice v2, gzip upload",
            LATTICE_V2_GZIP,
            t,
            "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW",
        ),
        row("Lattice v2, body null", LATTICE_V2, l, None),
        // Never as HTTP_ keys.
        row("REST", REST, "HTTP_CONTENT_TYPE", None),
        row("REST", REST_BINARY, "HTTP_CONTENT_LENGTH", None),
        row("HTTP 2.0", HTTP_V2, "HTTP_CONTENT_LENGTH", None),
        row("ALB", ALB_MULTI, "HTTP_CONTENT_TYPE", None),
        row("Lattice v2", LATTICE_V2_GZIP, "HTTP_CONTENT_LENGTH", None),
        row("Lattice v2", LATTICE_V2_GZIP, "HTTP_CONTENT_TYPE", None),
    ]);
}

#[test]
fn environ_http_headers() {
    check(vec![
        // A name only `headers` holds is taken from there; one both hold, from the list.
        row(
            "HTTP 1.0, Origin only in headers",
            HTTP_V1_HEADERS_ONLY,
            "HTTP_ORIGIN",
            "https://app.example.net",
        ),
        row(
            "HTTP 1.0, accept in both",
            HTTP_V1_HEADERS_ONLY,
            "HTTP_ACCEPT",
            "text/html, application/xhtml+xml",
        ),
        row(
            "ALB multi-value, a name only in headers",
            ALB_MULTI,
            "HTTP_X_ONLY_SINGLE",
            "yes",
        )
        .with(set("/headers/x-only-single", json!("yes"))),
        row(
            "REST, same name in another case in headers",
            REST_CUSTOM,
            "HTTP_X_REQUEST_TAG",
            "first, second",
        )
        .with(set("/headers/x-request-tag", json!("third"))),
        // VPC Lattice v2 in its older shape: strings, each a one-item list.
        row(
            "Lattice v2, string headers",
            LATTICE_V2_STRINGS,
            "HTTP_ACCEPT",
            "application/json",
        ),
        row(
            "Lattice v2, a string header among lists",
            LATTICE_V2,
            "HTTP_ACCEPT",
            "*/*",
        )
        .with(set("/headers/accept", json!("*/*"))),
        row("REST, headers", REST, "HTTP_HEADERNAME", "headerValue"),
        // multiValueHeaders hold every value; `headers` only the last.
        row(
            "REST, multiValueHeaders preferred",
            REST_MULTI,
            "HTTP_HEADERNAME",
            "headerValue, headerValue2",
        ),
        row(
            "REST, multiValueHeaders preferred",
            REST_CUSTOM,
            "HTTP_X_REQUEST_TAG",
            "first, second",
        ),
        row(
            "REST, headers alone",
            REST_CUSTOM,
            "HTTP_X_REQUEST_TAG",
            "second",
        )
        .with(remove("/multiValueHeaders")),
        row(
            "REST",
            REST,
            "HTTP_X_FORWARDED_FOR",
            "54.240.196.186, 54.182.214.83",
        ),
        row("REST", REST, "HTTP_CLOUDFRONT_VIEWER_COUNTRY", "US"),
        row(
            "HTTP API 1.0",
            HTTP_V1,
            "HTTP_X_REQUEST_TAG",
            "first, second",
        ),
        row(
            "REST, Cookie",
            REST_CUSTOM,
            "HTTP_COOKIE",
            "session=4f2a; theme=dark",
        ),
        // Letter-case duplicates are one header, in the event's order.
        row(
            "REST, case duplicates",
            REST_CUSTOM,
            "HTTP_X_REQUEST_TAG",
            "first, second, third",
        )
        .with(set("/multiValueHeaders/X-Request-Tag", json!(["third"]))),
        row(
            "REST, Cookie case duplicates",
            REST_CUSTOM,
            "HTTP_COOKIE",
            "session=4f2a; theme=dark; lang=fr",
        )
        .with(set("/multiValueHeaders/cookie", json!(["lang=fr"]))),
        row(
            "ALB, repeated Cookie joins with ; ",
            ALB_MULTI,
            "HTTP_COOKIE",
            "session=4f2a; theme=dark",
        ),
        row(
            "ALB, repeated header joins with , ",
            ALB_MULTI,
            "HTTP_ACCEPT",
            "*/*, text/html",
        )
        .with(set(
            "/multiValueHeaders/accept",
            json!(["*/*", "text/html"]),
        )),
        row("ALB single", ALB_SINGLE, "HTTP_X_MYHEADER", "123"),
        row(
            "ALB single",
            ALB_SINGLE_BINARY,
            "HTTP_COOKIE",
            "session=4f2a; theme=dark",
        ),
        // Payload 2.0: the `cookies` array is the Cookie header.
        row(
            "HTTP 2.0 cookies",
            HTTP_V2,
            "HTTP_COOKIE",
            "session=4f2a; theme=dark",
        ),
        row(
            "HTTP 2.0 cookies",
            HTTP_V2_IAM,
            "HTTP_COOKIE",
            "cookie1; cookie2",
        ),
        row(
            "HTTP 2.0 cookies replace a cookie header",
            HTTP_V2,
            "HTTP_COOKIE",
            "session=4f2a; theme=dark",
        )
        .with(set("/headers/cookie", json!("stale=1"))),
        row(
            "HTTP 2.0 cookie header alone",
            HTTP_V2_PLAIN,
            "HTTP_COOKIE",
            "only=1",
        )
        .with(set("/headers/cookie", json!("only=1"))),
        row("HTTP 2.0 no cookies", HTTP_V2_PLAIN, "HTTP_COOKIE", None),
        row(
            "cargo-lambda: header and array, once",
            CARGO_LAMBDA,
            "HTTP_COOKIE",
            "a=1; b=two",
        ),
        row("function URL cookies", URL, "HTTP_COOKIE", "session=4f2a"),
        row(
            "HTTP 2.0",
            HTTP_V2,
            "HTTP_AUTHORIZATION",
            "Bearer eyJraWQiOiJrMSIsImFsZyI6IlJTMjU2In0.e30.c2lnbmF0dXJl",
        ),
        row("function URL", URL, "HTTP_X_AMZN_TLS_VERSION", "TLSv1.3"),
        row(
            "Lattice v1, one string",
            LATTICE_V1,
            "HTTP_MULTI",
            "abcd, DEF",
        ),
        row("Lattice v2, arrays", LATTICE_V2, "HTTP_MULTI", "x, y"),
        row(
            "Lattice v2, cookie array",
            LATTICE_V2_COOKIES,
            "HTTP_COOKIE",
            "session=4f2a; theme=dark",
        ),
        row(
            "Lattice v2, gzip",
            LATTICE_V2_GZIP,
            "HTTP_CONTENT_ENCODING",
            "gzip",
        ),
    ]);
}

#[test]
fn environ_server_name_and_port() {
    let (n, p) = ("SERVER_NAME", "SERVER_PORT");
    check(vec![
        // The Host header wins over requestContext.domainName (here in another region).
        row(
            "REST",
            REST,
            n,
            "gy415nuibc.execute-api.us-east-1.amazonaws.com",
        ),
        row("REST, X-Forwarded-Port", REST, p, "443"),
        row("REST, custom domain", REST_CUSTOM, n, "api.example.com"),
        row("REST, port in Host wins", REST_CUSTOM, n, "api.example.com").with(set(
            "/multiValueHeaders/Host",
            json!(["api.example.com:8443"]),
        )),
        row("REST, port in Host wins", REST_CUSTOM, p, "8443").with(set(
            "/multiValueHeaders/Host",
            json!(["api.example.com:8443"]),
        )),
        row("REST, IPv6 Host", REST_CUSTOM, n, "[2001:db8::1]").with(set(
            "/multiValueHeaders/Host",
            json!(["[2001:db8::1]:8443"]),
        )),
        row("REST, IPv6 Host", REST_CUSTOM, p, "8443").with(set(
            "/multiValueHeaders/Host",
            json!(["[2001:db8::1]:8443"]),
        )),
        row("SAM local", SAM_REST, n, "127.0.0.1"),
        row("SAM local", SAM_REST, p, "3000"),
        row("cargo-lambda", CARGO_LAMBDA, n, "127.0.0.1"),
        row("cargo-lambda", CARGO_LAMBDA, p, "9000"),
        // No Host header: the API's domain.
        row(
            "HTTP 2.0, no Host",
            HTTP_V2_IAM,
            n,
            "id.execute-api.us-east-1.amazonaws.com",
        ),
        row("HTTP 2.0, no Host, https", HTTP_V2_IAM, p, "443"),
        row("REST, empty Host", REST_CUSTOM, n, "api.example.com")
            .with(set("/multiValueHeaders/Host", json!([""]))),
        row(
            "function URL",
            URL,
            n,
            "k2pq5x7rzv3nwb4e6tyh8ujm0a1sdf9g.lambda-url.us-west-2.on.aws",
        ),
        row("function URL", URL, p, "443"),
        // Neither: localhost, never empty.
        row("Lattice v1, no Host", LATTICE_V1, n, "localhost"),
        row("Lattice v1, no Host, http", LATTICE_V1, p, "80"),
        row("empty domainName, no Host", HTTP_V2_IAM, n, "localhost")
            .with(set("/requestContext/domainName", json!(""))),
        row("null domainName, no Host", HTTP_V2_IAM, n, "localhost")
            .with(set("/requestContext/domainName", Value::Null)),
        row(
            "ALB",
            ALB_SINGLE,
            n,
            "lambda-test-alb-1334523864.us-east-1.elb.amazonaws.com",
        ),
        row("ALB, X-Forwarded-Port", ALB_SINGLE, p, "80"),
        row("ALB, X-Forwarded-Port", ALB_SINGLE_BINARY, p, "443"),
        row("ALB, no X-Forwarded-*", ALB_SINGLE, p, "80")
            .with(remove("/headers/x-forwarded-port"))
            .with(remove("/headers/x-forwarded-proto")),
        row("ALB, https, no X-Forwarded-Port", ALB_SINGLE, p, "443")
            .with(remove("/headers/x-forwarded-port"))
            .with(set("/headers/x-forwarded-proto", json!("https"))),
        row("HTTP 2.0, no X-Forwarded-Port", HTTP_V2, p, "443")
            .with(remove("/headers/x-forwarded-port")),
        row("HTTP 2.0, X-Forwarded-Port not a number", HTTP_V2, p, "443")
            .with(set("/headers/x-forwarded-port", json!("https"))),
        row("HTTP 2.0, X-Forwarded-Port 8443", HTTP_V2, p, "8443")
            .with(set("/headers/x-forwarded-port", json!("8443"))),
        row(
            "Lattice v2",
            LATTICE_V2_COOKIES,
            n,
            "orders-0a40eebed65f8d69c.7d67968.vpc-lattice-svcs.eu-west-1.on.aws",
        ),
        row("Lattice v2", LATTICE_V2_COOKIES, p, "80"),
    ]);
}

#[test]
fn environ_url_scheme() {
    let k = "wsgi.url_scheme";
    check(vec![
        row("REST, X-Forwarded-Proto https", REST, k, "https"),
        row("SAM local, X-Forwarded-Proto http", SAM_REST, k, "http"),
        row("REST, X-Forwarded-Proto http", REST_CUSTOM, k, "http")
            .with(set("/multiValueHeaders/X-Forwarded-Proto", json!(["http"]))),
        row("HTTP 2.0, none: https", HTTP_V2_IAM, k, "https"),
        row("function URL", URL, k, "https"),
        row("function URL, X-Forwarded-Proto http", URL, k, "http")
            .with(set("/headers/x-forwarded-proto", json!("http"))),
        // cargo-lambda's function URLs are plain HTTP, and its events say so with `http`
        // where AWS says `HTTP/1.1`.
        row("cargo-lambda, protocol http", CARGO_LAMBDA, k, "http"),
        row(
            "cargo-lambda, X-Forwarded-Proto https",
            CARGO_LAMBDA,
            k,
            "https",
        )
        .with(set("/headers/x-forwarded-proto", json!("https"))),
        row("HTTP 2.0, protocol http", HTTP_V2_IAM, k, "http")
            .with(set("/requestContext/http/protocol", json!("http"))),
        row("function URL, protocol HTTP/1.1", URL, k, "https")
            .with(set("/requestContext/http/protocol", json!("HTTP/1.1"))),
        row("REST, protocol http", REST_IAM, k, "http")
            .with(remove("/multiValueHeaders/X-Forwarded-Proto"))
            .with(remove("/headers/X-Forwarded-Proto"))
            .with(set("/requestContext/protocol", json!("http"))),
        row("REST IAM, X-Forwarded-Proto https", REST_IAM, k, "https"),
        row("ALB, http", ALB_SINGLE, k, "http"),
        row("ALB, https", ALB_SINGLE_BINARY, k, "https"),
        row("ALB, none: http", ALB_SINGLE, k, "http").with(remove("/headers/x-forwarded-proto")),
        row("Lattice v1, none: http", LATTICE_V1, k, "http"),
        row("Lattice v2, none: http", LATTICE_V2, k, "http"),
        row(
            "Lattice v2, X-Forwarded-Proto https",
            LATTICE_V2,
            k,
            "https",
        )
        .with(set("/headers/x-forwarded-proto", json!(["https"]))),
    ]);
}

#[test]
fn environ_remote_addr() {
    let k = "REMOTE_ADDR";
    check(vec![
        // API Gateway's own record of the peer, not X-Forwarded-For.
        row("REST", REST, k, "192.168.196.186"),
        row("REST, custom domain", REST_CUSTOM, k, "198.51.100.23"),
        row("REST, no identity", REST, k, "127.0.0.1").with(remove("/requestContext/identity")),
        row("HTTP 1.0", HTTP_V1, k, "203.0.113.50"),
        row("HTTP 2.0", HTTP_V2, k, "203.0.113.50"),
        row("HTTP 2.0, as AWS's example has it", HTTP_V2_IAM, k, "IP"),
        row("function URL", URL, k, "198.51.100.77"),
        row("cargo-lambda", CARGO_LAMBDA, k, "127.0.0.1"),
        // ALB and Lattice: the last X-Forwarded-For entry, the one the load balancer added.
        row("ALB, client-sent entry first", ALB_MULTI, k, "198.51.100.4"),
        row("ALB single", ALB_SINGLE_BINARY, k, "203.0.113.9"),
        row("ALB single", ALB_SINGLE, k, "25.12.198.67"),
        row("ALB, two header values", ALB_MULTI, k, "192.0.2.77").with(set(
            "/multiValueHeaders/x-forwarded-for",
            json!(["203.0.113.9", "192.0.2.77"]),
        )),
        row("ALB, no X-Forwarded-For", ALB_SINGLE, k, "127.0.0.1")
            .with(remove("/headers/x-forwarded-for")),
        row("Lattice v1", LATTICE_V1, k, "10.0.2.100"),
        row("Lattice v2", LATTICE_V2_COOKIES, k, "10.0.1.45"),
        row("Lattice v2, no X-Forwarded-For", LATTICE_V2, k, "127.0.0.1")
            .with(remove("/headers/x-forwarded-for")),
    ]);
}

#[test]
fn environ_server_protocol() {
    let k = "SERVER_PROTOCOL";
    check(vec![
        row("REST", REST, k, "HTTP/1.1"),
        row("REST, HTTP/2.0", REST, k, "HTTP/2.0")
            .with(set("/requestContext/protocol", json!("HTTP/2.0"))),
        row("REST, not HTTP/x", REST, k, "HTTP/1.1")
            .with(set("/requestContext/protocol", json!("h2"))),
        row("HTTP 1.0", HTTP_V1, k, "HTTP/1.1"),
        row("HTTP 2.0", HTTP_V2, k, "HTTP/1.1"),
        row("HTTP 2.0, HTTP/2.0", HTTP_V2, k, "HTTP/2.0")
            .with(set("/requestContext/http/protocol", json!("HTTP/2.0"))),
        row("cargo-lambda's \"http\"", CARGO_LAMBDA, k, "HTTP/1.1"),
        row("function URL", URL, k, "HTTP/1.1"),
        row("ALB: no protocol field", ALB_MULTI, k, "HTTP/1.1"),
        row("Lattice: no protocol field", LATTICE_V2, k, "HTTP/1.1"),
    ]);
}

#[test]
fn environ_request_uri_and_raw_uri() {
    let (u, r) = ("REQUEST_URI", "RAW_URI");
    check(vec![
        row(
            "REST, custom domain",
            REST_CUSTOM,
            u,
            "/v1/orders/A%2FB%20C/caf%C3%A9?tag=a%20b&tag=c%2Bd&q=x%3D1%26y&empty=",
        ),
        row(
            "REST, custom domain",
            REST_CUSTOM,
            r,
            "/v1/orders/A%2FB%20C/caf%C3%A9?tag=a%20b&tag=c%2Bd&q=x%3D1%26y&empty=",
        ),
        // The stage API Gateway moved out of `path` is part of the URL the client sent.
        row(
            "REST, execute-api",
            REST,
            u,
            "/testStage/hello/world?name=me",
        ),
        row(
            "REST, execute-api",
            REST,
            r,
            "/testStage/hello/world?name=me",
        ),
        row("REST, no query", REST_BINARY, u, "/staging/upload/logo.png"),
        row("REST, no query", REST_BINARY, r, "/staging/upload/logo.png"),
        row(
            "HTTP 1.0",
            HTTP_V1,
            u,
            "/prod/search/%41 b?q=a%20b&q=a%2Bb&lang=fr",
        ),
        row(
            "HTTP 2.0",
            HTTP_V2,
            u,
            "/prod/search/%41?q=caf%C3%A9&q=a%2Bb&flag",
        ),
        row("HTTP 2.0, empty query", HTTP_V2_PLAIN, u, "/"),
        row(
            "function URL",
            URL,
            u,
            "/files/caf%C3%A9/a%2Fb?v=1&v=2&note=a+b%20c",
        ),
        row(
            "function URL",
            URL,
            r,
            "/files/caf%C3%A9/a%2Fb?v=1&v=2&note=a+b%20c",
        ),
        row("cargo-lambda", CARGO_LAMBDA, u, "/files/a%2Fb%20c"),
        row(
            "ALB",
            ALB_MULTI,
            u,
            "/api/caf%C3%A9/a%2Fb?q=caf%C3%A9&q=a+b&empty=&tag=x%26y",
        ),
        row(
            "Lattice v1, query split off and put back",
            LATTICE_V1_QUERY,
            u,
            "/api/caf%C3%A9%2Fx?color=red%20blue&size=m",
        ),
        row(
            "Lattice v2",
            LATTICE_V2_COOKIES,
            u,
            "/orders/a%2Fb?tag=a&tag=b%20c&limit=10",
        ),
    ]);
}

#[test]
fn environ_remote_user() {
    let k = "REMOTE_USER";
    check(vec![
        row("REST, Lambda authorizer principalId", REST, k, "admin"),
        row(
            "REST, Lambda authorizer principalId",
            REST_CUSTOM,
            k,
            "user|a1b2c3",
        ),
        row("REST, no authorizer", REST_BINARY, k, None),
        row("HTTP 1.0, claims null", HTTP_V1, k, None),
        row(
            "HTTP 2.0, jwt.claims.sub",
            HTTP_V2,
            k,
            "7d9f3e2a-41b8-4c6e-9a0f-2b1c3d4e5f60",
        ),
        row("HTTP 2.0, JWT without sub", HTTP_V2_JWT_NO_SUB, k, None),
        row(
            "HTTP 2.0, iam.userArn",
            HTTP_V2_IAM,
            k,
            "arn:aws:iam::1234567890:user/Admin",
        ),
        row("HTTP 2.0, no authorizer", HTTP_V2_PLAIN, k, None),
        // IAM authorization on a REST API: no authorizer, the caller in `identity`.
        row(
            "REST, IAM identity.userArn",
            REST_IAM,
            k,
            "arn:aws:iam::456789012345:user/report-reader",
        ),
        row(
            "HTTP 1.0, IAM identity.userArn",
            HTTP_V1_HEADERS_ONLY,
            k,
            "arn:aws:sts::567890123456:assumed-role/reader/session-1",
        )
        .with(set(
            "/requestContext/identity/userArn",
            json!("arn:aws:sts::567890123456:assumed-role/reader/session-1"),
        )),
        row(
            "REST, authorizer principal before IAM",
            REST_IAM,
            k,
            "svc-7",
        )
        .with(set(
            "/requestContext/authorizer",
            json!({"principalId": "svc-7"}),
        )),
        row("REST, userArn null", REST_CUSTOM, k, "user|a1b2c3"),
        row(
            "HTTP 2.0: identity is not a payload 2.0 field",
            HTTP_V2_PLAIN,
            k,
            None,
        )
        .with(set(
            "/requestContext/identity/userArn",
            json!("arn:aws:iam::1:user/x"),
        )),
        row(
            "function URL, iam.userArn",
            URL,
            k,
            "arn:aws:iam::111122223333:user/uploader",
        ),
        row("function URL, public", URL, k, None).with(remove("/requestContext/authorizer")),
        row("cargo-lambda", CARGO_LAMBDA, k, None),
        row("ALB", ALB_MULTI, k, None),
        row(
            "Lattice v2: an IAM principal is not an authorizer's",
            LATTICE_V2,
            k,
            None,
        ),
    ]);
}

#[test]
fn request_body_is_decoded() {
    let gzip_upload = unb64("H4sIAAAAAAAAA+3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA");
    let cases: Vec<(&str, &str, Vec<Edit>, Vec<u8>)> = vec![
        ("REST text", REST, vec![], b"{\r\n\t\"a\": 1\r\n}".to_vec()),
        (
            "REST base64",
            REST_BINARY,
            vec![],
            b"\x89PNG\r\n\x1a\n".to_vec(),
        ),
        ("REST body null", REST_CUSTOM, vec![], Vec::new()),
        ("SAM local body null", SAM_REST, vec![], Vec::new()),
        (
            "HTTP 1.0 UTF-8 text",
            HTTP_V1,
            vec![],
            "{\"name\":\"Zo\u{eb}\"}".as_bytes().to_vec(),
        ),
        ("HTTP 2.0, no body key", HTTP_V2, vec![], Vec::new()),
        ("SAM local HTTP, body \"\"", SAM_HTTP, vec![], Vec::new()),
        ("function URL base64", URL, vec![], BINARY.to_vec()),
        ("cargo-lambda text", CARGO_LAMBDA, vec![], b"hello".to_vec()),
        ("ALB, no body key", ALB_SINGLE, vec![], Vec::new()),
        ("ALB text", ALB_MULTI_TEXT, vec![], b"Some text".to_vec()),
        ("ALB base64", ALB_SINGLE_BINARY, vec![], BINARY.to_vec()),
        (
            "base64 text without the flag is text",
            ALB_SINGLE_BINARY,
            vec![set("/isBase64Encoded", json!(false))],
            BINARY_BASE64.as_bytes().to_vec(),
        ),
        (
            "Lattice v1 text",
            LATTICE_V1,
            vec![],
            b"{\"id\": 5, \"description\": \"TV\"}".to_vec(),
        ),
        (
            "Lattice v1 is_base64_encoded",
            LATTICE_V1,
            vec![
                set("/body", json!(BINARY_BASE64)),
                set("/is_base64_encoded", json!(true)),
            ],
            BINARY.to_vec(),
        ),
        ("Lattice v1 body \"\"", LATTICE_V1_QUERY, vec![], Vec::new()),
        ("Lattice v2 body null", LATTICE_V2, vec![], Vec::new()),
        (
            "Lattice v2 gzip upload",
            LATTICE_V2_GZIP,
            vec![],
            gzip_upload.clone(),
        ),
        (
            "Lattice v2 base64",
            LATTICE_V2_COOKIES,
            vec![],
            b"{\"qty\": 2}".to_vec(),
        ),
    ];
    assert_eq!(gzip_upload.len(), 51);
    assert_eq!(gzip_upload[..2], [0x1f, 0x8b]);
    let mut failures = Vec::new();
    for (what, name, edits, want) in cases {
        let (_, request) = translate(&event(name, &edits), None);
        let got = read_all(request.body).expect("an in-memory body");
        if got != want {
            failures.push(format!("{what} [{name}]: {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn requests_promise_no_threads_processes_or_single_run() {
    for name in HTTP_FIXTURES {
        let (_, request) = translate(&fixture(name), None);
        let t = request.traits;
        assert_eq!(
            (t.multithread, t.multiprocess, t.run_once),
            (false, false, false),
            "{name}"
        );
    }
}

/// The process environment never reaches the environ: only keys derived from the event do.
#[test]
fn environ_keys_come_from_the_event_only() {
    let (_, request) = translate(&fixture(HTTP_V2), None);
    let keys: Vec<String> = environ(&request).into_keys().collect();
    assert_eq!(
        keys,
        [
            "HTTP_ACCEPT",
            "HTTP_AUTHORIZATION",
            "HTTP_COOKIE",
            "HTTP_HOST",
            "HTTP_USER_AGENT",
            "HTTP_X_AMZN_TRACE_ID",
            "HTTP_X_FORWARDED_FOR",
            "HTTP_X_FORWARDED_PORT",
            "HTTP_X_FORWARDED_PROTO",
            "PATH_INFO",
            "QUERY_STRING",
            "RAW_URI",
            "REMOTE_ADDR",
            "REMOTE_USER",
            "REQUEST_METHOD",
            "REQUEST_URI",
            "SCRIPT_NAME",
            "SERVER_NAME",
            "SERVER_PORT",
            "SERVER_PROTOCOL",
            "wsgi.url_scheme",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Section 4: malformed events are refused (the runtime answers them with a 400).

#[test]
fn malformed_events_are_errors() {
    let cases: Vec<(&str, &str, Vec<Edit>, &str)> = vec![
        (
            "bad base64",
            REST_BINARY,
            vec![set("/body", json!("iVBORw0KGgo=!!"))],
            "body is marked isBase64Encoded but is not valid base64",
        ),
        (
            "bad base64, Lattice v1",
            LATTICE_V1,
            vec![set("/is_base64_encoded", json!(true))],
            "body is marked is_base64_encoded but is not valid base64",
        ),
        (
            "body a number",
            REST,
            vec![set("/body", json!(42))],
            "body must be a string, not a number",
        ),
        (
            "body an object",
            HTTP_V2,
            vec![set("/body", json!({"a": 1}))],
            "body must be a string, not an object",
        ),
        (
            "headers a list, HTTP 2.0",
            HTTP_V2,
            vec![set("/headers", json!(["host: x"]))],
            "headers must be an object, not a list",
        ),
        (
            "headers a list, REST without multiValueHeaders",
            REST,
            vec![
                remove("/multiValueHeaders"),
                set("/headers", json!(["Host: x"])),
            ],
            "headers must be an object, not a list",
        ),
        (
            "multiValueHeaders a list, REST",
            REST,
            vec![set("/multiValueHeaders", json!([]))],
            "multiValueHeaders must be an object, not a list",
        ),
        (
            "a header value a number, HTTP 2.0",
            HTTP_V2,
            vec![set("/headers/x-forwarded-port", json!(443))],
            "headers.x-forwarded-port must be a string, not a number",
        ),
        (
            "a header value a number, ALB multi-value",
            ALB_MULTI,
            vec![set("/multiValueHeaders/x-forwarded-port", json!([80]))],
            "multiValueHeaders.x-forwarded-port must hold strings, not a number",
        ),
        (
            "a header value a number, Lattice v2",
            LATTICE_V2,
            vec![set("/headers/accept", json!(7))],
            "headers.accept must be a list of strings, not a number",
        ),
        (
            "cookies not a list",
            HTTP_V2,
            vec![set("/cookies", json!("session=4f2a"))],
            "cookies must be a list, not a string",
        ),
        (
            "a cookie not a string",
            URL,
            vec![set("/cookies", json!([1]))],
            "cookies must hold strings, not a number",
        ),
        (
            "isBase64Encoded a string",
            URL,
            vec![set("/isBase64Encoded", json!("true"))],
            "isBase64Encoded must be true or false, not a string",
        ),
        (
            "is_base64_encoded a string",
            LATTICE_V1,
            vec![set("/is_base64_encoded", json!("false"))],
            "is_base64_encoded must be true or false, not a string",
        ),
        (
            "no method, HTTP 2.0",
            HTTP_V2,
            vec![remove("/requestContext/http/method")],
            "it has no HTTP method",
        ),
        (
            "empty httpMethod, REST",
            REST,
            vec![set("/httpMethod", json!(""))],
            "it has no HTTP method",
        ),
        (
            "empty method, Lattice v2",
            LATTICE_V2,
            vec![set("/method", json!(""))],
            "it has no HTTP method",
        ),
        (
            "a query value not a list, REST",
            REST,
            vec![set("/multiValueQueryStringParameters/name", json!("me"))],
            "multiValueQueryStringParameters.name must be a list of strings, not a string",
        ),
        (
            "rawPath a number",
            HTTP_V2,
            vec![set("/rawPath", json!(7))],
            "rawPath must be a string, not a number",
        ),
        (
            "rawQueryString a list",
            URL,
            vec![set("/rawQueryString", json!(["v=1"]))],
            "rawQueryString must be a string, not a list",
        ),
    ];
    let mut failures = Vec::new();
    for (what, name, edits, want) in &cases {
        let event = event(name, edits);
        let source = detect(&json(&event)).expect("still an HTTP event");
        match to_request(&json(&event), source, &EventOptions::default()) {
            Ok(_) => failures.push(format!("{what} [{name}]: accepted")),
            Err(e) => {
                if e.why != *want || e.source_name != source.name() {
                    failures.push(format!(
                        "{what} [{name}]: {:?} / {:?}, want {:?}",
                        e.source_name, e.why, want
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let event = event(REST, &[set("/body", json!(42))]);
    let err = to_request(&json(&event), Source::RestApi, &EventOptions::default())
        .err()
        .expect("a body that is a number is refused");
    assert_eq!(
        err.to_string(),
        "malformed API Gateway REST API event: body must be a string, not a number"
    );
}

// ---------------------------------------------------------------------------------------------
// Section 3: response -> reply.

const ALL_SOURCES: [Source; 8] = Source::ALL;

const EXPIRING: &str = "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/";

/// A response with everything the reply rules care about: a status with a reason, a header
/// repeated under two letter cases, two cookies (one with the comma of a date), the app's own
/// Content-Length.
fn rich_response() -> Response {
    response(
        "404 Not Found",
        &[
            ("Content-Type", "application/json"),
            ("X-Trace", "a"),
            ("x-trace", "b"),
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", EXPIRING),
            ("Content-Length", "13"),
        ],
        b"{\"error\":\"x\"}",
    )
}

/// The values of the `set-cookie` entries of a header map, whatever their letter case, and the
/// map without them.
fn split_set_cookies(headers: &Value) -> (Vec<String>, Value) {
    let mut cookies = Vec::new();
    let mut rest = serde_json::Map::new();
    for (name, value) in headers.as_object().expect("headers is an object") {
        if name.eq_ignore_ascii_case("set-cookie") {
            cookies.push(value.as_str().expect("a string").to_string());
        } else {
            rest.insert(name.clone(), value.clone());
        }
    }
    (cookies, Value::Object(rest))
}

#[test]
fn reply_shape_per_source() {
    let text = TextTypes::default();
    let r = rich_response();
    let body = "{\"error\":\"x\"}";
    let multi = json!({
        "Content-Type": ["application/json"],
        "X-Trace": ["a"],
        "x-trace": ["b"],
        "Set-Cookie": ["a=1; Path=/", EXPIRING],
        "Content-Length": ["13"],
    });
    let rest = json!({
        "statusCode": 404,
        "multiValueHeaders": multi,
        "body": body,
        "isBase64Encoded": false,
    });
    assert_eq!(to_reply(Source::RestApi, &r, false, &text), rest);
    assert_eq!(to_reply(Source::HttpApiV1, &r, false, &text), rest);

    let v2 = json!({
        "statusCode": 404,
        "headers": {
            "Content-Type": "application/json",
            "X-Trace": "a, b",
            "Content-Length": "13",
        },
        "cookies": ["a=1; Path=/", EXPIRING],
        "body": body,
        "isBase64Encoded": false,
    });
    assert_eq!(to_reply(Source::HttpApiV2, &r, false, &text), v2);
    assert_eq!(to_reply(Source::FunctionUrl, &r, false, &text), v2);

    assert_eq!(
        to_reply(Source::Alb { multi_value: true }, &r, false, &text),
        json!({
            "statusCode": 404,
            "statusDescription": "404 Not Found",
            "multiValueHeaders": multi,
            "body": body,
            "isBase64Encoded": false,
        })
    );

    // Single-value replies (ALB without multi-value headers, Lattice): one value per name, so
    // repeats are joined with ", " (RFC 9110 section 5.3) except Set-Cookie, which must not be
    // folded (RFC 6265 section 3: the Expires date holds a comma). Each extra cookie travels
    // under another letter case of the name instead, which clients treat as the same header
    // (RFC 9110 section 5.1); none is lost.
    for source in [
        Source::Alb { multi_value: false },
        Source::LatticeV1,
        Source::LatticeV2,
    ] {
        let mut reply = to_reply(source, &r, false, &text);
        let (cookies, others) = split_set_cookies(&reply["headers"]);
        assert_eq!(cookies, ["a=1; Path=/", EXPIRING], "{source:?}");
        assert_eq!(
            others,
            json!({
                "Content-Type": "application/json",
                "X-Trace": "a, b",
                "Content-Length": "13",
            }),
            "{source:?}"
        );
        reply.as_object_mut().unwrap().remove("headers");
        let mut want = json!({
            "statusCode": 404,
            "body": body,
            "isBase64Encoded": false,
        });
        if let Source::Alb { .. } = source {
            want["statusDescription"] = json!("404 Not Found");
        }
        assert_eq!(reply, want, "{source:?}");
    }
}

/// Whitespace around a header value is no part of it (RFC 9110 section 5.5): Django's
/// `Set-Cookie` values start with a space (`SimpleCookie.output(header="")`), and no door may
/// pass it on, least of all in a `cookies` array, where the client would get it as a cookie
/// string.
#[test]
fn reply_header_values_lose_surrounding_whitespace() {
    let text = TextTypes::default();
    let django = response(
        "302 Found",
        &[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Location", "/admin/"),
            ("X-Frame-Options", " DENY\t"),
            (
                "Set-Cookie",
                " csrftoken=Xq7; expires=Thu, 04 Dec 2025 21:00:00 GMT; Path=/",
            ),
            (
                "Set-Cookie",
                " sessionid=9f2e; HttpOnly; Path=/; SameSite=Lax",
            ),
        ],
        b"",
    );
    let cookies = [
        "csrftoken=Xq7; expires=Thu, 04 Dec 2025 21:00:00 GMT; Path=/",
        "sessionid=9f2e; HttpOnly; Path=/; SameSite=Lax",
    ];
    for source in Source::ALL {
        let reply = to_reply(source, &django, false, &text);
        let (got_cookies, frame) = match source {
            Source::HttpApiV2 | Source::FunctionUrl => (
                reply["cookies"].clone(),
                reply["headers"]["X-Frame-Options"].clone(),
            ),
            Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true } => (
                reply["multiValueHeaders"]["Set-Cookie"].clone(),
                reply["multiValueHeaders"]["X-Frame-Options"][0].clone(),
            ),
            _ => {
                let (set_cookies, _) = split_set_cookies(&reply["headers"]);
                (
                    json!(set_cookies),
                    reply["headers"]["X-Frame-Options"].clone(),
                )
            }
        };
        assert_eq!(got_cookies, json!(cookies), "{source:?}: {reply}");
        assert_eq!(frame, json!("DENY"), "{source:?}: {reply}");
    }
}

#[test]
fn reply_status_code_and_alb_status_description() {
    let text = TextTypes::default();
    for line in [
        "200 OK",
        "201 Created",
        "302 Found",
        "418 I'm a teapot",
        "503 Service Unavailable",
        "299 ",
    ] {
        let r = response(line, &[], b"");
        let code: u64 = line[..3].parse().unwrap();
        for source in ALL_SOURCES {
            let reply = to_reply(source, &r, false, &text);
            assert_eq!(reply["statusCode"], json!(code), "{source:?} {line}");
            let description = match source {
                Source::Alb { .. } => json!(line),
                _ => Value::Null,
            };
            assert_eq!(reply["statusDescription"], description, "{source:?} {line}");
        }
    }
}

#[test]
fn reply_single_value_headers_keep_every_cookie() {
    let text = TextTypes::default();
    let cookies: Vec<String> = (0..12).map(|i| format!("c{i}=v{i}; Path=/")).collect();
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "text/plain")];
    for (i, c) in cookies.iter().enumerate() {
        // The app's own spellings vary; none may overwrite another.
        headers.push((
            if i % 2 == 0 {
                "Set-Cookie"
            } else {
                "set-cookie"
            },
            c,
        ));
    }
    headers.push(("Vary", "Accept"));
    headers.push(("vary", "Cookie"));
    let r = response("200 OK", &headers, b"ok");
    for source in [
        Source::Alb { multi_value: false },
        Source::LatticeV1,
        Source::LatticeV2,
    ] {
        let reply = to_reply(source, &r, false, &text);
        let (got, others) = split_set_cookies(&reply["headers"]);
        assert_eq!(got, cookies, "{source:?}");
        assert_eq!(
            others,
            json!({"Content-Type": "text/plain", "Vary": "Accept, Cookie"}),
            "{source:?}"
        );
        let set_cookie_names = reply["headers"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|n| n.eq_ignore_ascii_case("set-cookie"))
            .count();
        assert_eq!(set_cookie_names, 12, "{source:?}");
    }
}

#[test]
fn reply_text_or_base64() {
    let extras = TextTypes::parse("application/x-ndjson, Application/Vnd.Custom ,,");
    assert_eq!(
        extras.extra,
        ["application/x-ndjson", "application/vnd.custom"]
    );
    let none = TextTypes::default();
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        &'a [u8],
        &'a TextTypes,
        &'a str,
        bool,
    );
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
    let cases: Vec<Case> = vec![
        (
            "text/html",
            Some("text/html; charset=utf-8"),
            None,
            "<p>h\u{e9}</p>".as_bytes(),
            &none,
            "<p>h\u{e9}</p>",
            false,
        ),
        (
            "text/* in capitals",
            Some("TEXT/CSV"),
            None,
            b"a,b\n",
            &none,
            "a,b\n",
            false,
        ),
        (
            "application/json",
            Some("application/json"),
            None,
            b"{}",
            &none,
            "{}",
            false,
        ),
        (
            "application/json; charset",
            Some("application/json; charset=utf-8"),
            None,
            b"[]",
            &none,
            "[]",
            false,
        ),
        (
            "+json",
            Some("application/problem+json"),
            None,
            b"{}",
            &none,
            "{}",
            false,
        ),
        (
            "+xml",
            Some("application/atom+xml"),
            None,
            b"<feed/>",
            &none,
            "<feed/>",
            false,
        ),
        (
            "+yaml",
            Some("application/vnd.k8s+yaml"),
            None,
            b"a: 1",
            &none,
            "a: 1",
            false,
        ),
        (
            "image/svg+xml",
            Some("image/svg+xml"),
            None,
            svg,
            &none,
            std::str::from_utf8(svg).unwrap(),
            false,
        ),
        (
            "application/graphql",
            Some("application/graphql"),
            None,
            b"{ me }",
            &none,
            "{ me }",
            false,
        ),
        (
            "application/javascript",
            Some("application/javascript"),
            None,
            b"f()",
            &none,
            "f()",
            false,
        ),
        (
            "application/xml",
            Some("application/xml"),
            None,
            b"<a/>",
            &none,
            "<a/>",
            false,
        ),
        (
            "form",
            Some("application/x-www-form-urlencoded"),
            None,
            b"a=1",
            &none,
            "a=1",
            false,
        ),
        (
            "application/yaml",
            Some("application/yaml"),
            None,
            b"a: 1",
            &none,
            "a: 1",
            false,
        ),
        // Compressed bytes are binary even when the type is text.
        (
            "gzip text",
            Some("text/plain"),
            Some("gzip"),
            b"\x1f\x8b\x08\x00",
            &none,
            "H4sIAA==",
            true,
        ),
        (
            "gzip json, ASCII bytes",
            Some("application/json"),
            Some("gzip"),
            b"{}",
            &none,
            "e30=",
            true,
        ),
        (
            "br",
            Some("text/html"),
            Some("br"),
            b"abc",
            &none,
            "YWJj",
            true,
        ),
        (
            "identity encoding is text",
            Some("text/plain"),
            Some("identity"),
            b"abc",
            &none,
            "abc",
            false,
        ),
        (
            "non-UTF-8 text",
            Some("text/plain; charset=latin-1"),
            None,
            b"caf\xe9",
            &none,
            "Y2Fm6Q==",
            true,
        ),
        (
            "no type, a body",
            None,
            None,
            b"hello",
            &none,
            "aGVsbG8=",
            true,
        ),
        ("no type, no body", None, None, b"", &none, "", false),
        (
            "image, no body",
            Some("image/png"),
            None,
            b"",
            &none,
            "",
            false,
        ),
        (
            "gzip, no body",
            Some("text/plain"),
            Some("gzip"),
            b"",
            &none,
            "",
            false,
        ),
        (
            "image/png",
            Some("image/png"),
            None,
            b"\x89PNG",
            &none,
            "iVBORw==",
            true,
        ),
        (
            "octet-stream, ASCII bytes",
            Some("application/octet-stream"),
            None,
            b"abc",
            &none,
            "YWJj",
            true,
        ),
        (
            "multipart",
            Some("multipart/form-data; boundary=x"),
            None,
            b"--x--",
            &none,
            "LS14LS0=",
            true,
        ),
        (
            "application/jsonl is not json",
            Some("application/jsonl"),
            None,
            b"{}",
            &none,
            "e30=",
            true,
        ),
        (
            "ndjson, not listed",
            Some("application/x-ndjson"),
            None,
            b"{}\n",
            &none,
            "e30K",
            true,
        ),
        (
            "ndjson, RWSGI_TEXT_TYPES",
            Some("application/x-ndjson"),
            None,
            b"{}\n",
            &extras,
            "{}\n",
            false,
        ),
        (
            "vnd.custom, RWSGI_TEXT_TYPES",
            Some("application/vnd.custom; charset=utf-8"),
            None,
            b"x",
            &extras,
            "x",
            false,
        ),
        (
            "extras still need UTF-8",
            Some("application/x-ndjson"),
            None,
            b"\xff",
            &extras,
            "/w==",
            true,
        ),
    ];
    let mut failures = Vec::new();
    for (what, content_type, encoding, body, types, want_body, want_b64) in cases {
        let mut headers = Vec::new();
        if let Some(t) = content_type {
            headers.push(("Content-Type", t));
        }
        if let Some(e) = encoding {
            headers.push(("Content-Encoding", e));
        }
        let r = response("200 OK", &headers, body);
        for source in ALL_SOURCES {
            let reply = to_reply(source, &r, false, types);
            let got = (reply["body"].clone(), reply["isBase64Encoded"].clone());
            if got != (json!(want_body), json!(want_b64)) {
                failures.push(format!(
                    "{what} ({source:?}): {got:?}, want {want_body:?} / {want_b64}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn reply_to_head_keeps_headers_and_drops_the_body() {
    let text = TextTypes::default();
    let r = response(
        "200 OK",
        &[
            ("Content-Type", "image/png"),
            ("Content-Length", "4"),
            ("Set-Cookie", "seen=1"),
        ],
        &BINARY,
    );
    for source in ALL_SOURCES {
        let reply = to_reply(source, &r, true, &text);
        assert_eq!(reply["body"], json!(""), "{source:?}");
        assert_eq!(reply["isBase64Encoded"], json!(false), "{source:?}");
        let (length, cookie) = match source {
            Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true } => (
                reply["multiValueHeaders"]["Content-Length"].clone(),
                reply["multiValueHeaders"]["Set-Cookie"].clone(),
            ),
            Source::HttpApiV2 | Source::FunctionUrl => (
                reply["headers"]["Content-Length"].clone(),
                reply["cookies"].clone(),
            ),
            _ => (
                reply["headers"]["Content-Length"].clone(),
                json!(split_set_cookies(&reply["headers"]).0),
            ),
        };
        let want_length = match source {
            Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true } => {
                json!(["4"])
            }
            _ => json!("4"),
        };
        assert_eq!(length, want_length, "{source:?}");
        assert_eq!(cookie, json!(["seen=1"]), "{source:?}");
    }
    // Without HEAD the same response carries its body, and the same Content-Length.
    let reply = to_reply(Source::HttpApiV2, &r, false, &text);
    assert_eq!(reply["body"], json!(BINARY_BASE64));
    assert_eq!(reply["isBase64Encoded"], json!(true));
    assert_eq!(reply["headers"]["Content-Length"], json!("4"));
}

#[test]
fn reply_app_content_length_is_kept_as_given() {
    // The app's header is passed on as it is: rwsgi does not recompute or add one.
    let text = TextTypes::default();
    let with = response(
        "200 OK",
        &[("Content-Type", "text/plain"), ("Content-Length", "5")],
        b"hello",
    );
    let without = response("200 OK", &[("Content-Type", "text/plain")], b"hello");
    assert_eq!(
        to_reply(Source::FunctionUrl, &with, false, &text)["headers"],
        json!({"Content-Type": "text/plain", "Content-Length": "5"})
    );
    assert_eq!(
        to_reply(Source::FunctionUrl, &without, false, &text)["headers"],
        json!({"Content-Type": "text/plain"})
    );
    assert_eq!(
        to_reply(Source::RestApi, &with, false, &text)["multiValueHeaders"],
        json!({"Content-Type": ["text/plain"], "Content-Length": ["5"]})
    );
}

/// `text/plain` of `n` bytes of `a`, with its Content-Length.
fn text_of(n: usize) -> Response {
    let length = n.to_string();
    response(
        "200 OK",
        &[
            ("Content-Type", "text/plain"),
            ("Content-Length", length.as_str()),
        ],
        &vec![b'a'; n],
    )
}

#[test]
fn reply_over_6_mb_becomes_a_500() {
    let text = TextTypes::default();
    let too_large_body = "500 Internal Server Error\n\
        The response is larger than the 6 MB a Lambda function can return.\n";
    // One source per reply shape (multiValueHeaders, headers with cookies, ALB's status line,
    // single-value headers): each full-size reply costs a few hundred milliseconds to encode.
    for source in [
        Source::RestApi,
        Source::FunctionUrl,
        Source::Alb { multi_value: false },
        Source::LatticeV1,
    ] {
        // The body size whose reply is exactly the limit, once JSON-encoded: the reply grows
        // byte for byte with a body of `a`s while its Content-Length keeps seven digits.
        let probe = 1_000_000;
        let probe_len = serde_json::to_vec(&to_reply(source, &text_of(probe), false, &text))
            .unwrap()
            .len();
        let fits = probe + (MAX_REPLY_BYTES - probe_len);

        let (bytes, oversize) = serialize(source, &text_of(fits), false, &text);
        assert_eq!(bytes.len(), MAX_REPLY_BYTES, "{source:?}");
        assert_eq!(oversize, None, "{source:?}");
        let reply: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reply["statusCode"], json!(200), "{source:?}");

        let (bytes, oversize) = serialize(source, &text_of(fits + 1), false, &text);
        assert_eq!(oversize, Some(MAX_REPLY_BYTES + 1), "{source:?}");
        let reply: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reply["statusCode"], json!(500), "{source:?}");
        assert_eq!(reply["body"], json!(too_large_body), "{source:?}");
        assert_eq!(reply["isBase64Encoded"], json!(false), "{source:?}");
        let expected_headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", "93"),
        ];
        let want = to_reply(
            source,
            &response(
                "500 Internal Server Error",
                &expected_headers,
                too_large_body.as_bytes(),
            ),
            false,
            &text,
        );
        assert_eq!(reply, want, "{source:?}");

        // A HEAD response drops the body, so it fits.
        let (bytes, oversize) = serialize(source, &text_of(fits + 1), true, &text);
        assert_eq!(oversize, None, "{source:?}");
        let reply: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(reply["statusCode"], json!(200), "{source:?}");
        assert_eq!(reply["body"], json!(""), "{source:?}");
    }

    // The limit counts the JSON text (Lambda quotas, invocation payload: 6 MB for a synchronous
    // response): 4.8 MB of binary is 6.4 MB of base64.
    let binary = response(
        "200 OK",
        &[("Content-Type", "application/octet-stream")],
        &vec![0xFF; 4_800_000],
    );
    let encoded_len = serde_json::to_vec(&to_reply(Source::RestApi, &binary, false, &text))
        .unwrap()
        .len();
    assert!(encoded_len > 6_400_000);
    let (bytes, oversize) = serialize(Source::RestApi, &binary, false, &text);
    assert_eq!(oversize, Some(encoded_len));
    let reply: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(reply["statusCode"], json!(500));
}

// ---------------------------------------------------------------------------------------------
// Round trips: a fixture's request through an app that echoes it, back to a reply.

/// What an echo app would answer: the request body as `application/octet-stream`, each cookie
/// it was sent set again, and the query string it saw in `X-Query`.
fn echo(request: Request) -> Response {
    let env = environ(&request);
    let query = env["QUERY_STRING"].clone();
    let cookies: Vec<String> = env
        .get("HTTP_COOKIE")
        .map(|c| c.split("; ").map(|c| format!("{c}; Path=/")).collect())
        .unwrap_or_default();
    let body = read_all(request.body).expect("an in-memory body");
    let mut headers: Vec<(&str, &str)> = vec![
        ("Content-Type", "application/octet-stream"),
        ("X-Query", query.as_str()),
    ];
    for c in &cookies {
        headers.push(("Set-Cookie", c.as_str()));
    }
    response("200 OK", &headers, &body)
}

/// `k=v` pairs, percent-decoded, in order (as `urllib.parse.parse_qsl` would give them, but
/// leaving `+` alone).
fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                String::from_utf8(percent_decode(k.as_bytes())).unwrap(),
                String::from_utf8(percent_decode(v.as_bytes())).unwrap(),
            )
        })
        .collect()
}

struct RoundTrip {
    fixture: &'static str,
    edits: Vec<Edit>,
    source: Source,
    query: &'static str,
    pairs: Vec<(&'static str, &'static str)>,
    cookies_in: &'static str,
}

#[test]
fn round_trips_keep_cookies_repeated_keys_and_binary_bodies() {
    // Lattice v1 spells the flag `is_base64_encoded`; everyone else `isBase64Encoded`.
    let binary_body = |flag: &'static str| {
        vec![
            set("/body", json!(BINARY_BASE64)),
            Edit::Set(flag, json!(true)),
        ]
    };
    let with = |mut edits: Vec<Edit>, more: Vec<Edit>| {
        edits.extend(more);
        edits
    };
    let trips = vec![
        RoundTrip {
            fixture: REST_CUSTOM,
            edits: with(
                binary_body("/isBase64Encoded"),
                vec![set("/httpMethod", json!("POST"))],
            ),
            source: Source::RestApi,
            query: "tag=a%20b&tag=c%2Bd&q=x%3D1%26y&empty=",
            pairs: vec![
                ("tag", "a b"),
                ("tag", "c+d"),
                ("q", "x=1&y"),
                ("empty", ""),
            ],
            cookies_in: "session=4f2a; theme=dark",
        },
        RoundTrip {
            fixture: HTTP_V1,
            edits: with(
                binary_body("/isBase64Encoded"),
                vec![set("/multiValueHeaders/cookie", json!(["a=1", "b=2"]))],
            ),
            source: Source::HttpApiV1,
            query: "q=a%20b&q=a%2Bb&lang=fr",
            pairs: vec![("q", "a b"), ("q", "a+b"), ("lang", "fr")],
            cookies_in: "a=1; b=2",
        },
        RoundTrip {
            fixture: HTTP_V2,
            edits: with(
                binary_body("/isBase64Encoded"),
                vec![set("/requestContext/http/method", json!("POST"))],
            ),
            source: Source::HttpApiV2,
            query: "q=caf%C3%A9&q=a%2Bb&flag",
            pairs: vec![("q", "caf\u{e9}"), ("q", "a+b"), ("flag", "")],
            cookies_in: "session=4f2a; theme=dark",
        },
        RoundTrip {
            fixture: URL,
            edits: vec![],
            source: Source::FunctionUrl,
            query: "v=1&v=2&note=a+b%20c",
            pairs: vec![("v", "1"), ("v", "2"), ("note", "a+b c")],
            cookies_in: "session=4f2a",
        },
        RoundTrip {
            fixture: ALB_MULTI,
            edits: binary_body("/isBase64Encoded"),
            source: Source::Alb { multi_value: true },
            query: "q=caf%C3%A9&q=a+b&empty=&tag=x%26y",
            pairs: vec![
                ("q", "caf\u{e9}"),
                ("q", "a+b"),
                ("empty", ""),
                ("tag", "x&y"),
            ],
            cookies_in: "session=4f2a; theme=dark",
        },
        RoundTrip {
            fixture: ALB_SINGLE_BINARY,
            edits: vec![],
            source: Source::Alb { multi_value: false },
            query: "name=r%C3%A9sum%C3%A9&mode=a+b",
            pairs: vec![("name", "r\u{e9}sum\u{e9}"), ("mode", "a+b")],
            cookies_in: "session=4f2a; theme=dark",
        },
        RoundTrip {
            fixture: LATTICE_V1_QUERY,
            edits: with(
                binary_body("/is_base64_encoded"),
                vec![
                    set("/method", json!("POST")),
                    set("/raw_path", json!("/api/items?tag=a&tag=b%20c")),
                    remove("/query_string_parameters"),
                    set("/headers/cookie", json!("a=1; b=2")),
                ],
            ),
            source: Source::LatticeV1,
            query: "tag=a&tag=b%20c",
            pairs: vec![("tag", "a"), ("tag", "b c")],
            cookies_in: "a=1; b=2",
        },
        RoundTrip {
            fixture: LATTICE_V2_COOKIES,
            edits: binary_body("/isBase64Encoded"),
            source: Source::LatticeV2,
            query: "tag=a&tag=b%20c&limit=10",
            pairs: vec![("tag", "a"), ("tag", "b c"), ("limit", "10")],
            cookies_in: "session=4f2a; theme=dark",
        },
    ];
    let text = TextTypes::default();
    for trip in trips {
        let name = trip.fixture;
        let (source, request) = translate(&event(name, &trip.edits), None);
        assert_eq!(source, trip.source, "{name}");
        let env = environ(&request);
        assert_eq!(env["QUERY_STRING"], trip.query, "{name}");
        assert_eq!(env["HTTP_COOKIE"], trip.cookies_in, "{name}");
        let pairs: Vec<(String, String)> = query_pairs(&env["QUERY_STRING"]);
        let want_pairs: Vec<(String, String)> = trip
            .pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, want_pairs, "{name}");

        let reply = to_reply(source, &echo(request), false, &text);
        let set_cookies: Vec<String> = trip
            .cookies_in
            .split("; ")
            .map(|c| format!("{c}; Path=/"))
            .collect();
        assert_eq!(reply["statusCode"], json!(200), "{name}");
        assert_eq!(reply["isBase64Encoded"], json!(true), "{name}");
        assert_eq!(
            unb64(reply["body"].as_str().unwrap()),
            BINARY,
            "{name}: the body"
        );
        match source {
            Source::RestApi | Source::HttpApiV1 | Source::Alb { multi_value: true } => {
                let h = &reply["multiValueHeaders"];
                assert_eq!(h["Set-Cookie"], json!(set_cookies), "{name}");
                assert_eq!(h["X-Query"], json!([trip.query]), "{name}");
            }
            Source::HttpApiV2 | Source::FunctionUrl => {
                assert_eq!(reply["cookies"], json!(set_cookies), "{name}");
                assert_eq!(reply["headers"]["X-Query"], json!(trip.query), "{name}");
                assert_eq!(reply["headers"].get("Set-Cookie"), None, "{name}");
            }
            Source::Alb { multi_value: false } | Source::LatticeV1 | Source::LatticeV2 => {
                let (cookies, others) = split_set_cookies(&reply["headers"]);
                assert_eq!(cookies, set_cookies, "{name}");
                assert_eq!(others["X-Query"], json!(trip.query), "{name}");
            }
        }
    }
}

/// An event as the library reads it, from the `serde_json` value written here.
fn json(event: &Value) -> rwsgi::json::Value {
    rwsgi::json::Value::from(event)
}

// ---------------------------------------------------------------------------------------------
// AWS's own types as the schema oracle (tests/support/aws_oracle.rs).

use crate::support::aws_oracle;

#[test]
fn aws_types_read_every_fixture_and_every_reply_to_it() {
    let replies = [
        response("200 OK", &[("Content-Type", "text/plain")], b"hello"),
        response(
            "302 Found",
            &[
                ("Location", "/x"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ],
            b"",
        ),
        response("500 Internal Server Error", &[], &BINARY),
    ];
    // The oracle can say no: a status that is not a number, a key the door does not know.
    assert!(aws_oracle::reply_fits(Source::HttpApiV2, &json!({"statusCode": "200"})).is_err());
    assert!(
        aws_oracle::reply_fits(Source::RestApi, &json!({"statusCode": 200, "cookies": []}))
            .is_err()
    );
    assert!(aws_oracle::event_fits(Source::HttpApiV2, &json!({"version": "2.0"})).is_err());
    for name in HTTP_FIXTURES {
        let fixture = event(name, &[]);
        let (source, _) = translate(&fixture, None);
        aws_oracle::event_fits(source, &fixture).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (n, r) in replies.iter().enumerate() {
            for head in [false, true] {
                let reply = to_reply(source, r, head, &TextTypes::default());
                aws_oracle::reply_fits(source, &reply)
                    .unwrap_or_else(|e| panic!("{name}, reply {n}, HEAD {head}: {e}"));
            }
        }
    }
}
