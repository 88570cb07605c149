//! Security properties, end to end through the built binary:
//!
//! - the process environment (AWS credentials among it) never enters a Lambda environ
//!   (spec/lambda-events.md section 2), through the runtime and through `rwsgi event`;
//! - a request header never becomes part of the process environment: on Lambda here, and under
//!   CGI in tests/cgi.rs (`httpoxy_proxy_header_does_not_reach_os_environ_or_subprocesses`:
//!   a `Proxy:` header reaches neither `os.environ` nor a subprocess);
//! - no app can split its response: a status, header name or header value holding CR, LF, NUL
//!   or a Unicode line separator is refused with a 500 in every mode, and the latin-1 characters
//!   that other line-splitting code breaks at (NEL U+0085, VT, FF, FS, GS, RS) go out as one byte
//!   inside the one line they were given for, never as a second header or response.

use std::ffi::OsString;

use crate::support::runtime_api::{FakeRuntimeApi, Invocation, PostKind};
use crate::util::{self, Cmd, LIMIT, Output, Running, apps_dir};
use rwsgi::http::latin1_string;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The process environment stays out of the environ

/// What Lambda puts in a function's environment that must stay there ("Defined runtime
/// environment variables", AWS Lambda developer guide), and a variable of the function's own.
const SECRETS: [(&str, &str); 4] = [
    ("AWS_ACCESS_KEY_ID", "ASIAQXEXAMPLEKEY7777"),
    (
        "AWS_SECRET_ACCESS_KEY",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    ),
    (
        "AWS_SESSION_TOKEN",
        "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample=",
    ),
    ("RWSGI_TEST_SECRET_MARKER", "marker-5b1e0c9a-secret"),
];

fn names_query() -> String {
    format!(
        "names={}",
        SECRETS.map(|(name, _)| name).join("%2C") // a comma, encoded
    )
}

fn with_secrets(mut cmd: Cmd) -> Cmd {
    for (name, value) in SECRETS {
        cmd = cmd.env(name, value);
    }
    cmd
}

/// `GET /?query` from each front door: HTTP API 2.0, REST API, single-value ALB, Lattice v2.
fn events(query: &str) -> Vec<(&'static str, Value)> {
    let (key, value) = query.split_once('=').expect("k=v");
    vec![
        (
            "HTTP API 2.0",
            json!({
                "version": "2.0",
                "routeKey": "$default",
                "rawPath": "/",
                "rawQueryString": query,
                "headers": {"host": "a1b2c3.execute-api.us-east-1.amazonaws.com", "user-agent": "curl/8.5.0"},
                "requestContext": {
                    "apiId": "a1b2c3",
                    "domainName": "a1b2c3.execute-api.us-east-1.amazonaws.com",
                    "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7"},
                    "stage": "$default"
                },
                "isBase64Encoded": false
            }),
        ),
        (
            "REST API",
            json!({
                "resource": "/",
                "path": "/",
                "httpMethod": "GET",
                "headers": {"Host": "api.example.com"},
                "multiValueHeaders": {"Host": ["api.example.com"]},
                "queryStringParameters": {key: value.replace("%2C", ",")},
                "multiValueQueryStringParameters": {key: [value.replace("%2C", ",")]},
                "requestContext": {"stage": "prod", "identity": {"sourceIp": "198.51.100.7"}},
                "body": null,
                "isBase64Encoded": false
            }),
        ),
        (
            "ALB",
            json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},
                "httpMethod": "GET",
                "path": "/",
                "queryStringParameters": {key: value},
                "headers": {"host": "lb.example.com", "x-forwarded-for": "198.51.100.7"},
                "body": "",
                "isBase64Encoded": false
            }),
        ),
        (
            "VPC Lattice v2",
            json!({
                "version": "2.0",
                "path": "/",
                "method": "GET",
                "headers": {"host": ["svc.example.on.aws"]},
                "queryStringParameters": {key: [value]},
                "body": "",
                "isBase64Encoded": false,
                "requestContext": {"serviceArn": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0"}
            }),
        ),
    ]
}

/// The environ keys every Lambda request has besides its headers, and the headers of
/// [`events`] for each source.
fn expected_keys(source: &str) -> Vec<String> {
    let mut keys: Vec<&str> = vec![
        "PATH_INFO",
        "QUERY_STRING",
        "RAW_URI",
        "REMOTE_ADDR",
        "REQUEST_METHOD",
        "REQUEST_URI",
        "SCRIPT_NAME",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "rwsgi.context",
        "rwsgi.event",
        "wsgi.errors",
        "wsgi.file_wrapper",
        "wsgi.input",
        "wsgi.input_terminated",
        "wsgi.multiprocess",
        "wsgi.multithread",
        "wsgi.run_once",
        "wsgi.url_scheme",
        "wsgi.version",
        "HTTP_HOST",
    ];
    match source {
        "HTTP API 2.0" => keys.push("HTTP_USER_AGENT"),
        "ALB" => keys.push("HTTP_X_FORWARDED_FOR"),
        _ => {}
    }
    let mut keys: Vec<String> = keys.into_iter().map(str::to_string).collect();
    keys.sort();
    keys
}

/// leak.py's answer for one source: the secrets were visible in os.environ (so the search for
/// them meant something), and none of them, nor any other process variable, is in the environ.
fn check_no_leak(source: &str, reply: &Value, context: &str) {
    assert_eq!(
        reply["statusCode"],
        json!(200),
        "{source}: {reply}\n{context}"
    );
    let body: Value = serde_json::from_str(reply["body"].as_str().expect("a text body"))
        .unwrap_or_else(|e| panic!("{source}: leak.py's JSON: {e}: {reply}"));
    let visible: serde_json::Map<String, Value> = SECRETS
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    assert_eq!(body["os_environ"], Value::Object(visible), "{source}");
    assert_eq!(body["leaks"], json!([]), "{source}: {body}");
    assert_eq!(body["keys"], json!(expected_keys(source)), "{source}");
}

#[test]
fn the_process_environment_never_enters_a_lambda_environ_through_the_runtime() {
    let api = FakeRuntimeApi::start();
    let rwsgi = with_secrets(
        util::rwsgi(Vec::<OsString>::new())
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("LAMBDA_TASK_ROOT", apps_dir())
            .env("RWSGI_APP", "leak")
            .env("AWS_LAMBDA_FUNCTION_NAME", "rwsgi-security")
            .env("AWS_REGION", "us-east-1"),
    )
    .spawn();
    for (n, (source, event)) in events(&names_query()).into_iter().enumerate() {
        let id = format!("0b9f8e7d-6c5b-4a39-8271-{n:012x}");
        api.push(Invocation::new(&id, &event));
        let posted = api
            .wait_for(&id, LIMIT)
            .unwrap_or_else(|| panic!("no answer for {source}\n{}", rwsgi.dump()));
        assert_eq!(posted.kind, PostKind::Response, "{}", rwsgi.dump());
        check_no_leak(source, &posted.json(), &rwsgi.dump());
    }
}

#[test]
fn the_process_environment_never_enters_a_lambda_environ_through_rwsgi_event() {
    for (source, event) in events(&names_query()) {
        let out = with_secrets(util::rwsgi(["event", "--app", "leak", "-"]))
            .stdin(event.to_string())
            .run();
        out.assert_code(0);
        check_no_leak(source, &out.json(), &out.dump());
    }
}

/// httpoxy on Lambda: a client's `Proxy:` header is a request header (HTTP_PROXY in the
/// environ) and nothing more; it never becomes the process's proxy setting.
#[test]
fn a_proxy_header_in_a_lambda_event_stays_a_request_header() {
    let mut event = events("a=1").remove(0).1;
    event["headers"]["proxy"] = json!("http://attacker.example:3128");
    let out = util::rwsgi(["event", "--app", "proxy", "-"])
        .stdin(event.to_string())
        .run();
    out.assert_code(0);
    let reply = out.json();
    let body: Value = serde_json::from_str(reply["body"].as_str().expect("a text body"))
        .expect("proxy.py's JSON");
    assert_eq!(
        body,
        json!({
            "environ": "http://attacker.example:3128",
            "os_environ": null,
            "subprocess": null,
        }),
        "{}",
        out.dump()
    );
}

// ---------------------------------------------------------------------------------------------
// Response splitting

/// The characters tests/apps/splitting.py can put in a line, and what each is: `Some(byte)`
/// for a latin-1 character the checks let through as that one byte, `None` for one they refuse.
const CHARS: [(&str, Option<u8>); 12] = [
    ("cr", None),
    ("lf", None),
    ("crlf", None),
    ("nul", None),
    ("u2028", None),
    ("u2029", None),
    ("u0085", Some(0x85)),
    ("vt", Some(0x0B)),
    ("ff", Some(0x0C)),
    ("fs", Some(0x1C)),
    ("gs", Some(0x1D)),
    ("rs", Some(0x1E)),
];

const PLACES: [&str; 3] = ["status", "name", "value"];

const INJECTED: &str = "Set-Cookie: injected=1";

/// One attempt: where, with which character, and the byte that goes out when it is allowed.
struct Attempt {
    at: &'static str,
    char: &'static str,
    /// `None`: the app's response must be refused (a header name is a token, so nothing but
    /// token characters may be in one).
    allowed: Option<u8>,
}

impl Attempt {
    fn query(&self) -> String {
        format!("at={}&char={}", self.at, self.char)
    }

    /// The status line's text and the app's extra header as they must go out.
    fn status_and_header(&self, byte: u8) -> (Vec<u8>, Option<Vec<u8>>) {
        let mut injected = vec![byte];
        injected.extend_from_slice(INJECTED.as_bytes());
        match self.at {
            "status" => ([b"200 OK".as_slice(), &injected].concat(), None),
            _ => (
                b"200 OK".to_vec(),
                Some([b"X-Split: a".as_slice(), &injected].concat()),
            ),
        }
    }
}

fn attempts() -> Vec<Attempt> {
    let mut all = Vec::new();
    for at in PLACES {
        for (char, byte) in CHARS {
            all.push(Attempt {
                at,
                char,
                allowed: if at == "name" { None } else { byte },
            });
        }
    }
    all
}

/// The few attempts that stand for the rest where each run costs a process: CRLF, a Unicode
/// separator, and NEL, in each place.
fn representative() -> Vec<Attempt> {
    attempts()
        .into_iter()
        .filter(|a| matches!(a.char, "crlf" | "u2028" | "u0085"))
        .collect()
}

/// Splits an HTTP or CGI head from its body and checks it is one head: lines ended by CRLF,
/// none holding a CR, LF or NUL of its own, none a header the app did not set on purpose.
fn one_head(raw: &[u8], what: &str) -> (Vec<Vec<u8>>, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{what}: no end of head in {:?}", latin1_string(raw)));
    let lines: Vec<Vec<u8>> = raw[..end]
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .collect();
    for line in &lines {
        assert!(
            !line.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
            "{what}: a line holds CR, LF or NUL: {:?}",
            latin1_string(line)
        );
        assert!(
            !line.to_ascii_lowercase().starts_with(b"set-cookie"),
            "{what}: a Set-Cookie header got out: {:?}",
            latin1_string(raw)
        );
    }
    (lines, raw[end + 4..].to_vec())
}

/// The head lines a refused attempt gets: rwsgi's 500 in place of the app's response.
fn refused_lines(first: &[u8]) -> Vec<Vec<u8>> {
    vec![
        [first, b"500 Internal Server Error"].concat(),
        b"Content-Type: text/plain; charset=utf-8".to_vec(),
        b"Content-Length: 26".to_vec(),
    ]
}

#[test]
fn cgi_responses_cannot_be_split() {
    for attempt in attempts() {
        let out = util::rwsgi(Vec::<OsString>::new())
            .env("GATEWAY_INTERFACE", "CGI/1.1")
            .env("REQUEST_METHOD", "GET")
            .env("QUERY_STRING", attempt.query())
            .env("RWSGI_APP", "splitting")
            .env("RWSGI_PATH", apps_dir())
            .run();
        let what = format!("CGI {}", attempt.query());
        out.assert_code(0);
        let (lines, body) = one_head(&out.stdout, &what);
        match attempt.allowed {
            None => {
                assert_eq!(lines, refused_lines(b"Status: "), "{what}");
                assert_eq!(body, b"500 Internal Server Error\n", "{what}");
            }
            Some(byte) => {
                let (status, header) = attempt.status_and_header(byte);
                let mut want = vec![
                    [b"Status: ".as_slice(), &status].concat(),
                    b"Content-Type: text/plain".to_vec(),
                ];
                want.extend(header);
                want.push(b"Content-Length: 5".to_vec());
                assert_eq!(lines, want, "{what}\n{}", out.dump());
                assert_eq!(body, b"body\n", "{what}");
            }
        }
    }
}

#[test]
fn rwsgi_call_responses_cannot_be_split() {
    for attempt in attempts() {
        let out = util::rwsgi([
            "call",
            "--app",
            "splitting",
            "-i",
            &format!("/?{}", attempt.query()),
        ])
        .run();
        let what = format!("rwsgi call {}", attempt.query());
        let (lines, body) = one_head(&out.stdout, &what);
        match attempt.allowed {
            None => {
                out.assert_code(1);
                assert_eq!(lines, refused_lines(b"HTTP/1.1 "), "{what}");
                assert_eq!(body, b"500 Internal Server Error\n", "{what}");
            }
            Some(byte) => {
                out.assert_code(0);
                let (status, header) = attempt.status_and_header(byte);
                let mut want = vec![
                    [b"HTTP/1.1 ".as_slice(), &status].concat(),
                    b"Content-Type: text/plain".to_vec(),
                ];
                want.extend(header);
                assert_eq!(lines, want, "{what}\n{}", out.dump());
                assert_eq!(body, b"body\n", "{what}");
            }
        }
    }
}

/// The reply a Lambda front door gets for `attempt`: for HTTP API 2.0 (`statusDescription`
/// absent) or a single-value ALB (the status line in `statusDescription`).
fn lambda_reply_wanted(attempt: &Attempt, alb: bool) -> Value {
    let Some(byte) = attempt.allowed else {
        let mut reply = json!({
            "statusCode": 500,
            "headers": {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "26"},
            "body": "500 Internal Server Error\n",
            "isBase64Encoded": false
        });
        if alb {
            reply["statusDescription"] = json!("500 Internal Server Error");
        } else {
            reply["cookies"] = json!([]);
        }
        return reply;
    };
    let (status, header) = attempt.status_and_header(byte);
    let mut headers = json!({"Content-Type": "text/plain"});
    if let Some(header) = header {
        headers["X-Split"] = json!(latin1_string(&header["X-Split: ".len()..]));
    }
    let mut reply = json!({
        "statusCode": 200,
        "headers": headers,
        "body": "body\n",
        "isBase64Encoded": false
    });
    if alb {
        reply["statusDescription"] = json!(latin1_string(&status));
    } else {
        reply["cookies"] = json!([]);
    }
    reply
}

fn http_v2_event(query: &str) -> Value {
    events(query).remove(0).1
}

fn alb_event(query: &str) -> Value {
    let mut event = events("a=1").remove(2).1;
    let pairs: serde_json::Map<String, Value> = query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    event["queryStringParameters"] = Value::Object(pairs);
    event
}

#[test]
fn lambda_replies_cannot_be_split_through_the_runtime() {
    let api = FakeRuntimeApi::start();
    let rwsgi: Running = util::rwsgi(Vec::<OsString>::new())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", apps_dir())
        .env("RWSGI_APP", "splitting")
        .spawn();
    let mut n = 0u64;
    for attempt in attempts() {
        for alb in [false, true] {
            n += 1;
            let id = format!("7e6d5c4b-3a29-4817-a6f5-{n:012x}");
            let event = if alb {
                alb_event(&attempt.query())
            } else {
                http_v2_event(&attempt.query())
            };
            api.push(Invocation::new(&id, &event));
            let posted = api
                .wait_for(&id, LIMIT)
                .unwrap_or_else(|| panic!("no answer for {id}\n{}", rwsgi.dump()));
            assert_eq!(posted.kind, PostKind::Response, "{}", rwsgi.dump());
            assert_eq!(
                posted.json(),
                lambda_reply_wanted(&attempt, alb),
                "{} (ALB: {alb})",
                attempt.query()
            );
        }
    }
}

#[test]
fn lambda_replies_cannot_be_split_through_rwsgi_event() {
    for attempt in representative() {
        for alb in [false, true] {
            let event = if alb {
                alb_event(&attempt.query())
            } else {
                http_v2_event(&attempt.query())
            };
            let out = util::rwsgi(["event", "--app", "splitting", "-"])
                .stdin(event.to_string())
                .run();
            out.assert_code(0);
            assert_eq!(
                out.json(),
                lambda_reply_wanted(&attempt, alb),
                "{} (ALB: {alb})",
                attempt.query()
            );
        }
    }
}

/// `rwsgi call --via` prints what the front door's client would get: the same one head.
#[test]
fn what_a_front_door_client_gets_cannot_be_split() {
    for attempt in representative() {
        for via in ["v2", "alb"] {
            let target = format!("/?{}", attempt.query());
            let out: Output =
                util::rwsgi(["call", "--app", "splitting", "--via", via, "-i", &target]).run();
            let what = format!("--via {via} {}", attempt.query());
            let (lines, body) = one_head(&out.stdout, &what);
            match attempt.allowed {
                None => {
                    out.assert_code(1);
                    assert_eq!(lines[0], b"HTTP/1.1 500 Internal Server Error", "{what}");
                    assert_eq!(body, b"500 Internal Server Error\n", "{what}");
                }
                Some(byte) => {
                    out.assert_code(0);
                    let (status, header) = attempt.status_and_header(byte);
                    // Only the ALB carries the app's status line; the others send a code.
                    let status_line = if via == "alb" {
                        [b"HTTP/1.1 ".as_slice(), &status].concat()
                    } else {
                        b"HTTP/1.1 200 OK".to_vec()
                    };
                    let mut want = vec![status_line, b"Content-Type: text/plain".to_vec()];
                    want.extend(header);
                    assert_eq!(lines, want, "{what}\n{}", out.dump());
                    assert_eq!(body, b"body\n", "{what}");
                }
            }
        }
    }
}

/// leak.py and splitting.py (with a character it is allowed to send) are good WSGI:
/// wsgiref.validate, around them, finds nothing wrong.
#[test]
fn the_security_apps_pass_wsgiref_validate() {
    let out = util::rwsgi([
        "call",
        "--app",
        "validated:wrap('leak')",
        "/?names=RWSGI_TEST_SECRET_MARKER",
    ])
    .env("RWSGI_TEST_SECRET_MARKER", "marker")
    .run();
    out.assert_code(0).assert_rwsgi_said(&[]);
    assert_eq!(out.json()["leaks"], json!([]), "{}", out.dump());
    let out = util::rwsgi([
        "call",
        "--app",
        "validated:wrap('splitting')",
        "-i",
        "/?at=value&char=u0085",
    ])
    .run();
    out.assert_code(0)
        .assert_stdout(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
              X-Split: a\x85Set-Cookie: injected=1\r\n\r\nbody\n",
        )
        .assert_rwsgi_said(&[]);
}
