//! Integration tests of Lambda without Lambda (spec/cli.md): `rwsgi event` runs one event file
//! as the runtime would and prints the reply, and `rwsgi call --via SOURCE` shows what a client
//! of API Gateway, a function URL, an ALB or VPC Lattice would get from the app
//! (spec/lambda-events.md sections 2 and 3), against the apps of `tests/apps/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::util::{self, LIMIT, Output, apps_dir, test_venv};

/// A file under Cargo's temporary folder for integration tests, unique to this process.
fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
    let path = util::temp_path(&format!("lambda-local-{name}"));
    std::fs::write(&path, contents).expect("write a temporary file");
    path
}

/// `rwsgi ARGS...` in `tests/apps`, with a clean environment plus `env`, `stdin` as its
/// standard input.
fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Output {
    let mut cmd = util::rwsgi(args).env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (key, value) in env {
        cmd = cmd.env(key, value);
    }
    if let Some(data) = stdin {
        cmd = cmd.stdin(data);
    }
    cmd.run()
}

// ---------------------------------------------------------------------------------------------
// rwsgi event

/// An API Gateway HTTP API payload 2.0 event ("Working with AWS Lambda proxy integrations for
/// HTTP APIs", API Gateway developer guide).
fn http_v2(path: &str, query: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": ["session=abc", "theme=dark"],
        "headers": {
            "accept": "*/*",
            "host": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-forwarded-for": "205.255.255.176",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "r3pmxmplak",
            "http": {
                "method": "GET",
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "205.255.255.176",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2020:05:16:23 +0000",
            "timeEpoch": 1_583_817_383_220u64
        },
        "isBase64Encoded": false
    })
}

/// What status.py answers `?code=201` with, as an HTTP API 2.0 reply.
const STATUS_201_REPLY: &str = "{\"statusCode\":201,\"headers\":{\"Content-Type\":\"text/plain\"},\
     \"cookies\":[],\"body\":\"status 201\\n\",\"isBase64Encoded\":false}\n";

#[test]
fn event_file_prints_the_reply() {
    let file = temp_file(
        "status.json",
        http_v2("/", "code=201").to_string().as_bytes(),
    );
    let file = file.display().to_string();
    let out = run(&["event", &file], &[("RWSGI_APP", "status")], None);
    out.assert_code(0);
    assert_eq!(out.stdout_str(), STATUS_201_REPLY, "{}", out.dump());
    assert_eq!(out.stderr, "", "{}", out.dump());
}

#[test]
fn event_from_stdin_with_a_dash() {
    let event = http_v2("/", "code=201").to_string();
    let out = run(
        &["event", "-", "--app", "status"],
        &[],
        Some(event.as_bytes()),
    );
    out.assert_code(0);
    assert_eq!(out.stdout_str(), STATUS_201_REPLY, "{}", out.dump());
}

#[test]
fn event_without_a_file_reads_stdin() {
    let event = http_v2("/", "code=201").to_string();
    let out = run(
        &["event"],
        &[("RWSGI_APP", "status")],
        Some(event.as_bytes()),
    );
    out.assert_code(0);
    assert_eq!(out.stdout_str(), STATUS_201_REPLY, "{}", out.dump());
}

#[test]
fn event_app_option_wins_over_rwsgi_app() {
    let event = http_v2("/", "code=201").to_string();
    let out = run(
        &["event", "--app", "status"],
        &[("RWSGI_APP", "echo")],
        Some(event.as_bytes()),
    );
    out.assert_code(0);
    assert_eq!(out.stdout_str(), STATUS_201_REPLY, "{}", out.dump());
}

#[test]
fn event_runs_the_http_translation() {
    let event = http_v2("/caf\u{e9}/%41", "a=1&a=2&b=x%20y");
    let out = run(
        &["event", "--app", "echo"],
        &[],
        Some(event.to_string().as_bytes()),
    );
    out.assert_code(0);
    let reply = out.json();
    assert_eq!(reply["statusCode"], json!(200), "{}", out.dump());
    assert_eq!(reply["cookies"], json!([]));
    assert_eq!(reply["isBase64Encoded"], json!(false));
    assert_eq!(reply["headers"]["X-Echo-Method"], json!("GET"));
    let environ: Value =
        serde_json::from_str(reply["body"].as_str().expect("a text body")).expect("echo's JSON");
    // HTTP API paths arrive decoded: not decoded again; UTF-8 bytes as latin-1 text.
    assert_eq!(environ["PATH_INFO"], json!("/caf\u{c3}\u{a9}/%41"));
    assert_eq!(environ["SCRIPT_NAME"], json!(""));
    assert_eq!(environ["QUERY_STRING"], json!("a=1&a=2&b=x%20y"));
    assert_eq!(environ["HTTP_COOKIE"], json!("session=abc; theme=dark"));
    assert_eq!(environ["REMOTE_ADDR"], json!("205.255.255.176"));
    assert_eq!(environ["wsgi.url_scheme"], json!("https"));
    assert_eq!(
        environ["SERVER_NAME"],
        json!("r3pmxmplak.execute-api.us-east-1.amazonaws.com")
    );
    assert_eq!(environ["SERVER_PORT"], json!("443"));
    assert_eq!(environ["wsgi.run_once"], json!(false));
}

#[test]
fn event_gives_the_app_a_made_up_context() {
    let event = http_v2("/", "");
    let out = run(
        &["event", "--app", "lambda_context"],
        &[],
        Some(event.to_string().as_bytes()),
    );
    out.assert_code(0);
    let reply = out.json();
    let body: Value =
        serde_json::from_str(reply["body"].as_str().expect("a text body")).expect("JSON body");
    assert_eq!(body["event"], event);
    let context = body["context"].as_object().expect("the context");
    let mut names: Vec<&str> = context.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "aws_request_id",
            "function_name",
            "function_version",
            "invoked_function_arn",
            "log_group_name",
            "log_stream_name",
            "memory_limit_in_mb"
        ]
    );
    let id = context["aws_request_id"].as_str().expect("a request id");
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id:?} is not UUID-shaped");
    assert!(
        body["remaining_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{body}"
    );
}

#[test]
fn event_not_http_without_a_handler_prints_the_lambda_error_and_exits_1() {
    let event = json!({"Records": [{"eventSource": "aws:sqs", "body": "hello"}]});
    let out = run(
        &["event", "--app", "echo"],
        &[],
        Some(event.to_string().as_bytes()),
    );
    out.assert_code(1);
    let error = out.json();
    assert_eq!(
        error,
        json!({
            "errorMessage": "an event with the keys [\"Records\"] is not an HTTP request from \
                API Gateway, a function URL, an ALB or VPC Lattice; set \
                RWSGI_EVENT_HANDLER=module:function to handle it",
            "errorType": "Rwsgi.UnsupportedEvent",
            "stackTrace": []
        }),
        "{}",
        out.dump()
    );
}

#[test]
fn event_not_http_goes_to_the_event_handler() {
    let event = json!({"source": "aws.events", "detail-type": "Scheduled Event", "id": "e-1"});
    let out = run(
        &["event", "--app", "echo"],
        &[("RWSGI_EVENT_HANDLER", "lambda_events:echo_event")],
        Some(event.to_string().as_bytes()),
    );
    out.assert_code(0);
    let reply = out.json();
    assert_eq!(reply["received"], event, "{}", out.dump());
    assert_eq!(reply["function_name"], json!("rwsgi-local"));
    assert!(
        reply["aws_request_id"]
            .as_str()
            .is_some_and(|id| id.len() == 36)
    );
}

#[test]
fn event_handler_raising_prints_the_lambda_error_and_exits_1() {
    let event = json!({"source": "aws.events", "id": "order-9"});
    let out = run(
        &["event", "--app", "echo"],
        &[("RWSGI_EVENT_HANDLER", "lambda_events:fail")],
        Some(event.to_string().as_bytes()),
    );
    out.assert_code(1);
    let error = out.json();
    assert_eq!(error["errorType"], json!("ValueError"), "{}", out.dump());
    assert_eq!(error["errorMessage"], json!("cannot process order-9"));
    let line = std::fs::read_to_string(apps_dir().join("lambda_events.py"))
        .expect("read lambda_events.py")
        .lines()
        .position(|l| l.contains("# the failing line"))
        .expect("the failing line")
        + 1;
    let last = error["stackTrace"]
        .as_array()
        .and_then(|s| s.last())
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no stack: {error}"));
    assert!(
        last.contains(&format!("lambda_events.py\", line {line}, in fail")),
        "{last:?}"
    );
}

#[test]
fn event_without_an_app_is_bad_usage() {
    let out = run(&["event"], &[], Some(b"{}"));
    out.assert_code(2);
    assert_eq!(out.stdout, b"");
    assert!(out.stderr.contains("--app"), "{}", out.dump());
}

#[test]
fn event_file_that_does_not_exist() {
    let missing = apps_dir().join("no-such-event.json");
    let missing = missing.display().to_string();
    let out = run(&["event", &missing, "--app", "echo"], &[], None);
    assert_ne!(out.code, Some(0), "{}", out.dump());
    assert_eq!(out.stdout, b"", "{}", out.dump());
    assert!(
        out.stderr
            .contains(&format!("rwsgi: error: cannot read {missing}")),
        "{}",
        out.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// rwsgi call --via

const SOURCES: [&str; 5] = ["v1", "v2", "url", "alb", "lattice"];

/// `rwsgi call --via SOURCE --app APP ARGS...` in tests/apps.
fn via(source: &str, app: &str, args: &[&str]) -> Output {
    let mut all = vec!["call", "--via", source, "--app", app];
    all.extend_from_slice(args);
    run(&all, &[], None)
}

/// The environ echo.py saw through `source`.
fn environ_via(source: &str, args: &[&str]) -> Value {
    let out = via(source, "echo", args);
    out.assert_code(0);
    out.json()
}

const COOKIES: [&str; 5] = [
    "c1=one; Path=/",
    "c2=two; Path=/; HttpOnly",
    "c3=three; Path=/; Secure; SameSite=Lax",
    "c4=four; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
    "c5=five; Max-Age=60",
];

#[test]
fn via_the_environ_the_app_sees() {
    // `%2F` is decoded once into `/`, and `%2541` once into `%41` (never twice into `A`).
    let target = "/a%2Fb/%2541?x=1&x=2&y=a%20b";
    for source in SOURCES {
        let environ = environ_via(source, &["-H", "X-Custom: v", target]);
        let front_door = matches!(source, "v1" | "v2" | "url");
        let expected_query = if source == "alb" {
            // An ALB in single-value mode passes only the last value of a repeated key
            // ("Lambda functions as targets", Elastic Load Balancing guide).
            "x=2&y=a%20b"
        } else {
            "x=1&x=2&y=a%20b"
        };
        let expected = [
            ("REQUEST_METHOD", json!("GET")),
            ("SCRIPT_NAME", json!("")),
            ("PATH_INFO", json!("/a/b/%41")),
            ("QUERY_STRING", json!(expected_query)),
            ("REMOTE_ADDR", json!("203.0.113.10")),
            (
                "wsgi.url_scheme",
                json!(if front_door { "https" } else { "http" }),
            ),
            ("SERVER_PORT", json!(if front_door { "443" } else { "80" })),
            ("SERVER_PROTOCOL", json!("HTTP/1.1")),
            ("HTTP_X_CUSTOM", json!("v")),
            ("wsgi.run_once", json!(false)),
            ("body", json!("")),
        ];
        for (key, value) in expected {
            assert_eq!(environ[key], value, "--via {source}: {key} in {environ}");
        }
    }
}

#[test]
fn via_v1_on_the_default_domain_mounts_the_stage() {
    let environ = environ_via(
        "v1",
        &[
            "-H",
            "Host: abc123.execute-api.us-east-1.amazonaws.com",
            // A REST API's execute-api URL starts with the stage.
            "/prod/x/y?q=%2B",
        ],
    );
    assert_eq!(environ["SCRIPT_NAME"], json!("/prod"));
    assert_eq!(environ["PATH_INFO"], json!("/x/y"));
    assert_eq!(environ["QUERY_STRING"], json!("q=%2B"));
    assert_eq!(
        environ["SERVER_NAME"],
        json!("abc123.execute-api.us-east-1.amazonaws.com")
    );
}

#[test]
fn via_a_request_body_reaches_the_app_byte_exact() {
    let file = temp_file("body.bin", b"\x00\xff\x01 text");
    let data = format!("@{}", file.display());
    for source in SOURCES {
        let environ = environ_via(source, &["-d", &data, "/submit"]);
        assert_eq!(environ["REQUEST_METHOD"], json!("POST"), "--via {source}");
        assert_eq!(
            environ["body"],
            json!("\u{0}\u{ff}\u{1} text"),
            "--via {source}"
        );
        assert_eq!(environ["CONTENT_LENGTH"], json!("8"), "--via {source}");
        assert_eq!(
            environ["CONTENT_TYPE"],
            json!("application/x-www-form-urlencoded"),
            "--via {source}"
        );
    }
}

#[test]
fn via_every_set_cookie_reaches_the_client() {
    for source in ["v1", "v2", "url", "lattice"] {
        let out = via(source, "cookies", &["-i", "-H", "Cookie: a=1; b=2", "/"]);
        out.assert_code(0);
        let response = out.included();
        assert_eq!(response.status_line, "HTTP/1.1 200 OK", "--via {source}");
        let cookies: Vec<&str> = response
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(cookies, COOKIES, "--via {source}\n{}", out.dump());
        assert_eq!(response.body, b"cookie: a=1; b=2\n", "--via {source}");
    }
}

#[test]
fn via_alb_single_value_mode_keeps_every_cookie_under_another_letter_case() {
    let out = via("alb", "cookies", &["-i", "-H", "Cookie: a=1; b=2", "/"]);
    out.assert_code(0);
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    let set_cookie: Vec<&(String, String)> = response
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
        .collect();
    let values: Vec<&str> = set_cookie.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(values, COOKIES, "{}", out.dump());
    // One value per name in single-value mode: each spelling is used once.
    let mut names: Vec<&str> = set_cookie.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), COOKIES.len(), "{}", out.dump());
    assert_eq!(response.body, b"cookie: a=1; b=2\n");
}

#[test]
fn via_a_binary_body_is_byte_exact() {
    let pattern: Vec<u8> = (0..100_000usize)
        .map(|i| (((i * 131) ^ (i >> 8)) & 0xFF) as u8)
        .collect();
    for source in SOURCES {
        let out = via(source, "binary", &["/"]);
        out.assert_code(0);
        assert_eq!(out.stdout, (0..=255).collect::<Vec<u8>>(), "--via {source}");
        let out = via(source, "binary", &["/?size=100000"]);
        out.assert_code(0);
        assert!(out.stdout == pattern, "--via {source}: the body differs");
    }
}

#[test]
fn via_include_shows_the_status_line_and_headers() {
    for source in SOURCES {
        let out = via(source, "status", &["-i", "/?code=404"]);
        out.assert_code(0);
        let response = out.included();
        assert_eq!(
            response.status_line, "HTTP/1.1 404 Not Found",
            "--via {source}"
        );
        assert_eq!(
            response.headers,
            [("Content-Type".to_string(), "text/plain".to_string())],
            "--via {source}"
        );
        assert_eq!(response.body, b"status 404\n", "--via {source}");
    }
}

#[test]
fn via_head_keeps_the_headers_without_a_body() {
    for source in SOURCES {
        let out = via(source, "binary", &["-I", "/"]);
        out.assert_code(0);
        let response = out.included();
        assert_eq!(response.status_line, "HTTP/1.1 200 OK", "--via {source}");
        assert_eq!(
            response.headers,
            [
                (
                    "Content-Type".to_string(),
                    "application/octet-stream".to_string()
                ),
                ("Content-Length".to_string(), "256".to_string())
            ],
            "--via {source}"
        );
        assert_eq!(response.body, b"", "--via {source}");
    }
}

#[test]
fn via_format_json() {
    for source in SOURCES {
        let out = via(source, "status", &["--format", "json", "/?code=404"]);
        out.assert_code(0);
        assert_eq!(
            out.json(),
            json!({
                "status": 404,
                "reason": "Not Found",
                "headers": [["Content-Type", "text/plain"]],
                "body": "status 404\n",
                "body_base64": "c3RhdHVzIDQwNAo="
            }),
            "--via {source}"
        );
    }
}

#[test]
fn via_fail_with_a_404_exits_22_and_prints_nothing() {
    for source in SOURCES {
        let out = via(source, "status", &["-f", "/?code=404"]);
        out.assert_code(22);
        assert_eq!(out.stdout, b"", "--via {source}");
        assert!(out.stderr.contains("404"), "{}", out.dump());
        // Below 400, -f changes nothing.
        let out = via(source, "status", &["-f", "/?code=302"]);
        out.assert_code(0);
        assert_eq!(out.stdout, b"status 302\n", "--via {source}");
    }
}

#[test]
fn via_an_app_failure_is_a_500_and_exit_1() {
    // The client gets the 500 the Lambda translation makes; the exit status is that of any
    // `rwsgi call` whose app crashed before a response (spec/cli.md): 1.
    for source in SOURCES {
        let out = via(source, "raising", &["-i", "/?at=call"]);
        let response = out.included();
        assert_eq!(
            response.status_line, "HTTP/1.1 500 Internal Server Error",
            "--via {source}"
        );
        assert_eq!(
            response.headers,
            [
                (
                    "Content-Type".to_string(),
                    "text/plain; charset=utf-8".to_string()
                ),
                ("Content-Length".to_string(), "26".to_string())
            ],
            "--via {source}"
        );
        assert_eq!(
            response.body, b"500 Internal Server Error\n",
            "--via {source}"
        );
        assert!(
            out.stderr.contains("RuntimeError: raised at call"),
            "{}",
            out.dump()
        );
        out.assert_code(1);
    }
}

// ---------------------------------------------------------------------------------------------
// The event each door builds for the URL and host given, as AWS builds it

/// What `self_authorized.py` answered through `source` for `args`: the environ keys the front
/// door decides, and the event rwsgi built.
fn door(source: &str, args: &[&str]) -> Value {
    let out = via(source, "self_authorized", args);
    out.assert_code(0);
    out.json()
}

#[test]
fn via_v1_takes_the_stage_from_an_execute_api_url() {
    // A REST API client on its execute-api URL sends `/STAGE/path`: API Gateway puts the stage
    // in `requestContext.stage` and the rest in `path`, keeping the whole in
    // `requestContext.path`.
    let host = "abc123.execute-api.us-east-1.amazonaws.com";
    for (stage, url_path, path, proxy) in [
        ("prod", "/prod/get", "/get", json!({"proxy": "get"})),
        ("dev", "/dev/a%2Fb/c", "/a%2Fb/c", json!({"proxy": "a/b/c"})),
        ("v2_beta", "/v2_beta", "/", Value::Null),
        ("prod", "/prod/", "/", Value::Null),
    ] {
        let got = door("v1", &[&format!("https://{host}{url_path}?x=1")]);
        let event = &got["event"];
        assert_eq!(event["path"], json!(path), "{url_path}: {event}");
        assert_eq!(event["pathParameters"], proxy, "{url_path}: {event}");
        assert_eq!(event["requestContext"]["path"], json!(url_path), "{event}");
        assert_eq!(event["requestContext"]["stage"], json!(stage), "{event}");
        assert_eq!(
            event["requestContext"]["domainName"],
            json!(host),
            "{event}"
        );
        assert_eq!(event["requestContext"]["domainPrefix"], json!("abc123"));
        assert_eq!(event["headers"]["Host"], json!(host), "{event}");
        assert_eq!(got["SCRIPT_NAME"], json!(format!("/{stage}")), "{url_path}");
        let path_info = if path == "/a%2Fb/c" { "/a/b/c" } else { path };
        assert_eq!(got["PATH_INFO"], json!(path_info), "{url_path}");
        assert_eq!(got["QUERY_STRING"], json!("x=1"), "{url_path}");
    }

    // Behind a custom domain the URL names no stage: the path is the app's, whole.
    let got = door("v1", &["https://api.example.com/prod/get"]);
    assert_eq!(got["event"]["path"], json!("/prod/get"));
    assert_eq!(got["event"]["requestContext"]["path"], json!("/prod/get"));
    assert_eq!(
        got["event"]["requestContext"]["domainName"],
        json!("api.example.com")
    );
    assert_eq!(got["SCRIPT_NAME"], json!(""));
    assert_eq!(got["PATH_INFO"], json!("/prod/get"));

    // An execute-api URL without a stage reaches no API.
    let out = via("v1", "self_authorized", &[&format!("https://{host}/")]);
    assert_ne!(out.code, Some(0), "{}", out.dump());
    assert!(
        out.stderr.contains("starts with the stage"),
        "{}",
        out.dump()
    );
}

#[test]
fn via_url_on_its_own_domain_names_it() {
    let host = "k7c2x9v4b1n8m3q6w5e0r2t4y6u8i1o3.lambda-url.eu-west-1.on.aws";
    let got = door("url", &[&format!("https://{host}/x")]);
    let context = &got["event"]["requestContext"];
    assert_eq!(context["domainName"], json!(host), "{context}");
    assert_eq!(
        context["domainPrefix"],
        json!("k7c2x9v4b1n8m3q6w5e0r2t4y6u8i1o3")
    );
    assert_eq!(got["event"]["headers"]["host"], json!(host));
    assert_eq!(got["SERVER_NAME"], json!(host));
}

#[test]
fn via_v2_and_url_keep_the_path_as_sent() {
    // An HTTP API's `$default` stage is not in its URLs; a function URL has no stage at all.
    for source in ["v2", "url"] {
        let got = door(
            source,
            &["https://h5t8r1n4zq.execute-api.us-west-2.amazonaws.com/prod/get"],
        );
        let event = &got["event"];
        assert_eq!(
            event["rawPath"],
            json!("/prod/get"),
            "--via {source}: {event}"
        );
        assert_eq!(event["requestContext"]["stage"], json!("$default"));
        assert_eq!(got["SCRIPT_NAME"], json!(""), "--via {source}");
        assert_eq!(got["PATH_INFO"], json!("/prod/get"), "--via {source}");
    }
}

#[test]
fn via_every_door_carries_the_host_given() {
    for source in SOURCES {
        for (args, host, name, port) in [
            (
                vec!["-H", "Host: www.example.org", "/x"],
                "www.example.org",
                "www.example.org",
                None,
            ),
            (
                vec!["http://shop.example.com:8080/x"],
                "shop.example.com:8080",
                "shop.example.com",
                Some("8080"),
            ),
            (vec!["/x"], "localhost", "localhost", None),
        ] {
            let got = door(source, &args);
            let what = format!("--via {source} {args:?}");
            assert_eq!(got["HTTP_HOST"], json!(host), "{what}: {got}");
            assert_eq!(got["SERVER_NAME"], json!(name), "{what}: {got}");
            if let Some(port) = port {
                assert_eq!(got["SERVER_PORT"], json!(port), "{what}");
            }
            let context = &got["event"]["requestContext"];
            if source == "url" {
                // The domain of the function URL, which is all a function URL answers on.
                let domain = context["domainName"].as_str().unwrap_or_default();
                assert!(
                    domain.ends_with(".lambda-url.us-east-1.on.aws"),
                    "{what}: {context}"
                );
            } else if matches!(source, "v1" | "v2") {
                assert_eq!(context["domainName"], json!(name), "{what}: {context}");
                assert_eq!(
                    context["domainPrefix"],
                    json!(name.split('.').next().unwrap()),
                    "{what}: {context}"
                );
            }
        }
    }
}

#[test]
fn via_url_a_django_project_answers_for_its_allowed_host() {
    // ALLOWED_HOSTS is ["localhost", "example.com"]: a made-up `*.lambda-url.*.on.aws` Host
    // would get 400 DisallowedHost.
    let venv = test_venv().display().to_string();
    for source in SOURCES {
        for target in ["/plain/", "http://example.com/plain/"] {
            let out = via(source, "djproj.wsgi", &["--venv", &venv, "-i", target]);
            out.assert_code(0);
            let response = out.included();
            assert_eq!(
                response.status_line,
                "HTTP/1.1 200 OK",
                "--via {source} {target}\n{}",
                out.dump()
            );
            assert_eq!(response.body, b"django plain\n", "--via {source} {target}");
        }
    }
}

#[test]
fn via_over_6_mb_of_binary_says_why_and_what_to_do() {
    // 5,000,000 bytes are 6,666,668 in base64: over the 6,291,556 bytes a reply may hold.
    let out = via("url", "lambda_router", &["-i", "/binary?size=5000000"]);
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 500 Internal Server Error");
    for said in [
        "its body is 5000000 bytes of binary",
        "base64, which makes it a third larger",
        "RWSGI_INVOKE_MODE=response_stream",
        "S3 presigned URL",
    ] {
        assert!(out.stderr.contains(said), "{said:?} not in\n{}", out.dump());
    }
}

// ---------------------------------------------------------------------------------------------
// API Gateway Lambda authorizers: events for RWSGI_EVENT_HANDLER, never for the app

fn lambda_fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lambda")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

const AUTHORIZER_INPUTS: [&str; 3] = [
    "rest-authorizer-request.json",
    "httpapi-authorizer-v1.json",
    "httpapi-authorizer-v2.json",
];

#[test]
fn authorizer_events_without_a_handler_are_unsupported() {
    for name in AUTHORIZER_INPUTS {
        let out = run(
            &["event", "--app", "self_authorized"],
            &[],
            Some(&lambda_fixture(name)),
        );
        out.assert_code(1);
        assert_eq!(
            out.json()["errorType"],
            json!("Rwsgi.UnsupportedEvent"),
            "{name}\n{}",
            out.dump()
        );
    }
}

#[test]
fn one_function_is_the_app_and_its_own_authorizer() {
    let env = [("RWSGI_EVENT_HANDLER", "self_authorized:authorize")];
    let event_of = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut event: Value = serde_json::from_slice(&lambda_fixture(name)).unwrap();
        edit(&mut event);
        event.to_string().into_bytes()
    };
    let allow = |e: &mut Value| e["headers"]["authorization"] = json!("Bearer letmein");
    let allow_rest = |e: &mut Value| {
        e["headers"]["Authorization"] = json!("Bearer letmein");
        e["multiValueHeaders"]["Authorization"] = json!(["Bearer letmein"]);
    };

    // The REST REQUEST authorizer and HTTP API 1.0: an IAM policy for the methodArn.
    for (name, edit, effect) in [
        (
            AUTHORIZER_INPUTS[0],
            &allow_rest as &dyn Fn(&mut Value),
            "Allow",
        ),
        (AUTHORIZER_INPUTS[0], &|_: &mut Value| {}, "Deny"),
        (AUTHORIZER_INPUTS[1], &allow, "Allow"),
    ] {
        let event = event_of(name, edit);
        let out = run(&["event", "--app", "self_authorized"], &env, Some(&event));
        out.assert_code(0);
        let reply = out.json();
        let statement = &reply["policyDocument"]["Statement"][0];
        assert_eq!(statement["Effect"], json!(effect), "{name}\n{}", out.dump());
        let arn: Value = serde_json::from_slice::<Value>(&event).unwrap()["methodArn"].clone();
        assert_eq!(statement["Resource"], arn, "{name}");
    }

    // HTTP API 2.0: the simple response.
    let out = run(
        &["event", "--app", "self_authorized"],
        &env,
        Some(&event_of(AUTHORIZER_INPUTS[2], &|_| {})),
    );
    out.assert_code(0);
    assert_eq!(
        out.json(),
        json!({"isAuthorized": false, "context": {"checkedBy": "rwsgi-local"}}),
        "{}",
        out.dump()
    );

    // The request it guards, once allowed, goes to the app, with the authorizer's principal.
    let mut request: Value = serde_json::from_slice(&lambda_fixture("rest-iam.json")).unwrap();
    request["requestContext"]["authorizer"] = json!({"principalId": "letmein-user"});
    let out = run(
        &["event", "--app", "self_authorized"],
        &env,
        Some(request.to_string().as_bytes()),
    );
    out.assert_code(0);
    let reply = out.json();
    assert_eq!(reply["statusCode"], json!(200), "{}", out.dump());
    let body: Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["REMOTE_USER"], json!("letmein-user"));
    assert_eq!(body["SCRIPT_NAME"], json!("/staging"));
    assert_eq!(body["PATH_INFO"], json!("/reports/2024"));
}

// ---------------------------------------------------------------------------------------------
// --stream: the reply streamed as RWSGI_INVOKE_MODE=response_stream does

/// Each line rwsgi prints, with when it was read (seconds since the Unix epoch).
fn lines_as_they_come(args: &[&str]) -> (Vec<(f64, String)>, Option<i32>) {
    use std::io::BufRead;
    let mut rwsgi = util::rwsgi(args)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .spawn_piped();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let mut lines = Vec::new();
    let started = Instant::now();
    drop(rwsgi.child.stdin.take());
    for line in std::io::BufReader::new(rwsgi.child.stdout.take().unwrap()).lines() {
        lines.push((now(), line.expect("a line")));
        assert!(started.elapsed() < LIMIT, "{lines:?}");
    }
    let code = rwsgi.wait_bounded(LIMIT).0.code();
    (lines, code)
}

/// Each body line of `streaming.py`'s /slow reaches the output before the app makes the next.
fn assert_each_line_came_before_the_next_was_made(lines: &[(f64, String)]) {
    let made: Vec<(f64, f64)> = lines
        .iter()
        .filter(|(_, l)| l.contains(" at "))
        .map(|(seen, l)| (*seen, l.rsplit(' ').next().unwrap().parse().unwrap()))
        .collect();
    assert_eq!(made.len(), 4, "{lines:?}");
    for i in 0..3 {
        assert!(
            made[i].0 < made[i + 1].1,
            "line {i} was printed at {:.6}, after the app made line {} at {:.6}",
            made[i].0,
            i + 1,
            made[i + 1].1
        );
    }
}

#[test]
fn via_url_stream_shows_the_body_as_it_comes() {
    let (lines, code) = lines_as_they_come(&[
        "call",
        "--app",
        "streaming:application",
        "--via",
        "url",
        "--stream",
        "-i",
        "http://localhost/slow?n=3&gap=0.3",
    ]);
    assert_eq!(code, Some(0), "{lines:?}");
    assert_eq!(lines[0].1, "HTTP/1.1 200 OK");
    assert_each_line_came_before_the_next_was_made(&lines);
}

#[test]
fn event_stream_prints_the_prelude_then_the_body_as_it_comes() {
    let mut event = http_v2("/slow", "n=3&gap=0.3");
    event["requestContext"]["domainName"] = json!("abc123.lambda-url.us-east-1.on.aws");
    let file = temp_file("stream.json", event.to_string().as_bytes());
    let (lines, code) = lines_as_they_come(&[
        "event",
        "--app",
        "streaming:application",
        "--stream",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(0), "{lines:?}");
    let prelude: Value = serde_json::from_str(&lines[0].1).expect("the prelude's JSON");
    assert_eq!(
        prelude,
        json!({"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"}, "cookies": []})
    );
    assert_each_line_came_before_the_next_was_made(&lines);
}

#[test]
fn via_stream_cut_short_exits_1_and_says_so() {
    let out = via(
        "url",
        "streaming:application",
        &["--stream", "http://localhost/error?after=2"],
    );
    out.assert_code(1);
    assert_eq!(out.stdout_str(), "part 0\npart 1\n");
    assert!(out.stderr.contains("cut short"), "{}", out.dump());
    assert!(
        out.stderr.contains("\"errorType\":\"ValueError\""),
        "{}",
        out.dump()
    );
}

#[test]
fn stream_needs_a_door_that_streams() {
    let out = via(
        "v2",
        "streaming:application",
        &["--stream", "http://localhost/"],
    );
    out.assert_code(2);
    assert!(
        out.stderr.contains("--via url or --via v1"),
        "{}",
        out.dump()
    );
}

#[test]
fn via_v1_stream_shows_the_rest_apis_headers_and_cookies() {
    let out = via(
        "v1",
        "streaming:application",
        &["--stream", "-i", "http://localhost/cookies"],
    );
    out.assert_code(0);
    let text = out.stdout_str().replace("\r\n", "\n");
    assert!(text.starts_with("HTTP/1.1 200 OK\n"), "{}", out.dump());
    assert!(
        text.contains("Vary: Accept\nVary: Cookie\n") || text.contains("Vary: Accept, Cookie\n"),
        "{}",
        out.dump()
    );
    assert!(
        text.contains("Set-Cookie: a=1; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT\n"),
        "{}",
        out.dump()
    );
    assert!(
        text.contains("Set-Cookie: b=2; HttpOnly\n"),
        "{}",
        out.dump()
    );
    assert!(text.ends_with("\n\nwith cookies\n"), "{}", out.dump());
}
