//! Fault injection: apps that break in every way the other tests leave out, Lambda events that
//! are not what a front door sends, CGI requests and pipes that go wrong, and a Runtime API that
//! fails rwsgi. Each case must get its documented answer (docs/cgi.md, docs/cli.md,
//! docs/lambda.md#errors): a 4xx or 500 response, a Lambda error JSON, or a clean exit
//! with one line on stderr saying why; never a panic, never a hang (every wait is bounded).
//!
//! Already covered elsewhere, so not repeated here: an app raising at each stage and its
//! close() raising after a whole response (tests/cli.rs, tests/cgi.rs, tests/lambda_runtime.rs
//! with tests/apps/raising.py), the protocol violations of tests/apps/protocol.py, CGI's short
//! body and negative or non-numeric CONTENT_LENGTH (tests/cgi.rs), an event that is truncated
//! JSON and `/next` answering 500 or closing the connection (tests/lambda_runtime.rs).

use std::ffi::OsString;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use crate::support::runtime_api::{Failure, FakeRuntimeApi, Invocation, PostKind, Posted};
use crate::util::{self, Cmd, LIMIT, Running, apps_dir};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Starting rwsgi in each mode

/// rwsgi as a web server starts it for one CGI request (RFC 3875 section 4.1): the
/// meta-variables of a GET, and `RWSGI_APP` naming the app.
fn cgi(app: &str, query: &str) -> Cmd {
    util::rwsgi(Vec::<OsString>::new())
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "GET")
        .env("SCRIPT_NAME", "/cgi-bin/app")
        .env("PATH_INFO", "/")
        .env("QUERY_STRING", query)
        .env("SERVER_NAME", "localhost")
        .env("SERVER_PORT", "80")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("RWSGI_APP", app)
        .env("RWSGI_PATH", apps_dir())
}

/// `rwsgi call --app APP -i TARGET`: the status line and headers, then the body.
fn call(app: &str, target: &str) -> Cmd {
    util::rwsgi(["call", "--app", app, "-i", target])
}

/// `rwsgi event --app APP -` with `event` on stdin.
fn event(app: &str, event: impl Into<Vec<u8>>) -> Cmd {
    util::rwsgi(["event", "--app", app, "-"]).stdin(event)
}

/// rwsgi as Lambda starts it, against `api`, with the function's code in tests/apps.
fn function(api: &str, app: &str) -> Running {
    util::rwsgi(Vec::<OsString>::new())
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("LAMBDA_TASK_ROOT", apps_dir())
        .env("RWSGI_APP", app)
        .env("AWS_LAMBDA_FUNCTION_NAME", "rwsgi-faults")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .spawn()
}

/// A request id in the UUID form Lambda uses, unique to `n`.
fn request_id(n: u64) -> String {
    format!("3f1c6e2a-0b7d-4c55-9e21-{n:012x}")
}

/// Queues `event` (any bytes) and returns what rwsgi posted for it.
fn invoke(api: &FakeRuntimeApi, rwsgi: &Running, id: &str, event: &[u8]) -> Posted {
    api.push(Invocation::new(id, &json!({})).raw(event));
    api.wait_for(id, LIMIT).unwrap_or_else(|| {
        panic!(
            "rwsgi posted nothing for {id} within {LIMIT:?}\n{}",
            rwsgi.dump()
        )
    })
}

/// The reply JSON rwsgi posted to `/response` for `event`.
fn reply(api: &FakeRuntimeApi, rwsgi: &Running, id: &str, event: &Value) -> Value {
    let posted = invoke(api, rwsgi, id, event.to_string().as_bytes());
    assert_eq!(
        (posted.kind, posted.error_type.as_deref()),
        (PostKind::Response, None),
        "{}\n{}",
        String::from_utf8_lossy(&posted.body),
        rwsgi.dump()
    );
    posted.json()
}

// ---------------------------------------------------------------------------------------------
// What a failed request looks like in each mode

const CGI_500: &[u8] = b"Status: 500 Internal Server Error\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n\r\n\
    500 Internal Server Error\n";

const CALL_500: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n\r\n\
    500 Internal Server Error\n";

const FAILED_BEFORE: &str = "rwsgi: error: the application failed before sending a response; \
                             answering 500 Internal Server Error";

const FAILED_AFTER: &str = "rwsgi: error: the application failed after its response headers \
                            were sent; the body is cut short";

/// The reply to an HTTP API 2.0 event when the app failed (spec section 4).
fn internal_error_v2() -> Value {
    json!({
        "statusCode": 500,
        "headers": {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "26"},
        "cookies": [],
        "body": "500 Internal Server Error\n",
        "isBase64Encoded": false
    })
}

/// An API Gateway HTTP API payload 2.0 event ("Working with AWS Lambda proxy integrations for
/// HTTP APIs", API Gateway developer guide) for `GET /?query`.
fn v2_event(query: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "host": "a1b2c3.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3",
            "domainName": "a1b2c3.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": "GET",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_583_817_383_220u64
        },
        "isBase64Encoded": false
    })
}

// ---------------------------------------------------------------------------------------------
// Apps that break: every mode

/// One way tests/apps/faulty.py breaks, and what the log must say about it.
struct AppFault {
    what: &'static str,
    /// The last line of the traceback rwsgi logs.
    logged: &'static str,
    /// The body the app had sent when it failed after its headers went out; `None` when it
    /// failed before.
    sent: Option<&'static str>,
}

const APP_FAULTS: &[AppFault] = &[
    AppFault {
        what: "sys_exit",
        logged: "\nSystemExit\n",
        sent: None,
    },
    AppFault {
        what: "sys_exit_3",
        logged: "\nSystemExit: 3\n",
        sent: None,
    },
    AppFault {
        what: "sys_exit_mid",
        logged: "\nSystemExit: 4\n",
        sent: Some("first\n"),
    },
    AppFault {
        what: "returns_int",
        logged: "TypeError: the application returned int, which is not an iterable of bytes\n",
        sent: None,
    },
    AppFault {
        what: "returns_dict",
        logged: "TypeError: the application sent str as a body chunk; chunks must be bytes",
        sent: None,
    },
    AppFault {
        what: "returns_none",
        logged: "TypeError: the application returned NoneType, which is not an iterable of \
                 bytes\n",
        sent: None,
    },
    AppFault {
        what: "returns_str",
        logged: "TypeError: the application sent str as a body chunk; chunks must be bytes \
                 (PEP 3333: the body is bytes; encode text first, e.g. text.encode('utf-8'))\n",
        sent: None,
    },
    AppFault {
        what: "returns_ints",
        logged: "TypeError: the application sent int as a body chunk; chunks must be bytes\n",
        sent: None,
    },
    AppFault {
        what: "no_start_response",
        logged: "RuntimeError: the application returned a body without calling start_response() \
                 (PEP 3333)\n",
        sent: None,
    },
    AppFault {
        what: "bad_status",
        logged: "ValueError: invalid status \"OK\": it must be a three-digit code, a space and a \
                 reason phrase, e.g. '200 OK'\n",
        sent: None,
    },
    AppFault {
        what: "status_int",
        logged: "TypeError: the status must be a str such as '200 OK', not int\n",
        sent: None,
    },
    AppFault {
        what: "status_lf",
        logged: "ValueError: invalid status \"200 OK\\nStatus: 302 Found\": it contains a line \
                 feed (LF)\n",
        sent: None,
    },
    AppFault {
        what: "header_cr",
        logged: "ValueError: invalid value for header \"X-Note\": it contains a carriage return \
                 (CR)\n",
        sent: None,
    },
    AppFault {
        what: "header_name_crlf",
        logged: "ValueError: invalid header name \"X-A\\r\\nSet-Cookie\": it must be a token",
        sent: None,
    },
    AppFault {
        what: "header_bytes",
        logged: "TypeError: each response header must be a (name, value) tuple of str, not \
                 (b'X-Bytes', b'1')\n",
        sent: None,
    },
];

#[test]
fn app_faults_through_rwsgi_call() {
    for fault in APP_FAULTS {
        let out = call("faulty", &format!("/?do={}", fault.what)).run();
        // Exit 1 whatever the app passed to sys.exit(): the app's code is not rwsgi's status.
        out.assert_code(1).assert_stderr_has(fault.logged);
        match fault.sent {
            None => {
                out.assert_stdout(CALL_500)
                    .assert_rwsgi_said(&[FAILED_BEFORE]);
            }
            Some(body) => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
                out.assert_stdout(format!("{head}{body}").as_bytes())
                    .assert_rwsgi_said(&[FAILED_AFTER]);
            }
        }
    }
    // close() is called on a body the app returned without calling start_response.
    call("faulty", "/?do=no_start_response")
        .run()
        .assert_stderr_has("closed:no_start_response\n");
}

#[test]
fn app_faults_under_cgi() {
    for fault in APP_FAULTS {
        let out = cgi("faulty", &format!("do={}", fault.what)).run();
        out.assert_stderr_has(fault.logged);
        match fault.sent {
            // A whole response went out (rwsgi's 500): exit 0, as docs/cgi.md says.
            None => {
                out.assert_code(0)
                    .assert_stdout(CGI_500)
                    .assert_rwsgi_said(&[FAILED_BEFORE]);
            }
            Some(body) => {
                let head = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n";
                out.assert_code(1)
                    .assert_stdout(format!("{head}{body}").as_bytes())
                    .assert_rwsgi_said(&[FAILED_AFTER]);
            }
        }
    }
}

#[test]
fn app_faults_through_rwsgi_event() {
    for fault in APP_FAULTS {
        let query = format!("do={}", fault.what);
        let out = event("faulty", v2_event(&query).to_string()).run();
        out.assert_code(0).assert_stderr_has(fault.logged);
        assert_eq!(out.json(), internal_error_v2(), "{}\n{}", query, out.dump());
        // Nothing reached a client yet, so a failure after the headers is a 500 too.
        let said = if fault.sent.is_some() {
            FAILED_AFTER
        } else {
            FAILED_BEFORE
        };
        out.assert_rwsgi_said(&[said]);
    }
}

#[test]
fn app_faults_through_the_lambda_runtime_keep_it_serving() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api.address(), "faulty");
    for (n, fault) in APP_FAULTS.iter().enumerate() {
        let query = format!("do={}", fault.what);
        let got = reply(&api, &rwsgi, &request_id(n as u64), &v2_event(&query));
        assert_eq!(got, internal_error_v2(), "{query}\n{}", rwsgi.dump());
    }
    // One line of rwsgi's own for each, then its traceback, in the order they came.
    let stderr = rwsgi.wait_stderr("a line for each failure", |text| {
        util::rwsgi_lines(text).len() >= APP_FAULTS.len()
    });
    let said: Vec<&str> = APP_FAULTS
        .iter()
        .map(|f| {
            if f.sent.is_some() {
                FAILED_AFTER
            } else {
                FAILED_BEFORE
            }
        })
        .collect();
    assert_eq!(util::rwsgi_lines(&stderr), said, "{}", rwsgi.dump());
    let mut rest = stderr.as_str();
    for fault in APP_FAULTS {
        let at = rest
            .find(fault.logged)
            .unwrap_or_else(|| panic!("{:?} not logged in order\n{}", fault.logged, rwsgi.dump()));
        rest = &rest[at + fault.logged.len()..];
    }
    let good = reply(&api, &rwsgi, &request_id(100), &v2_event("do=created"));
    assert_eq!(good["statusCode"], json!(201), "{}", rwsgi.dump());
    assert_eq!(good["body"], json!("created\n"));
    assert!(rwsgi.running(), "rwsgi exited\n{}", rwsgi.dump());
    assert!(
        api.posted().iter().all(|p| p.kind == PostKind::Response),
        "an HTTP event got an /error"
    );
    assert!(!rwsgi.stderr().contains("panicked"), "{}", rwsgi.dump());
}

/// faulty.py's good answers are good WSGI: wsgiref.validate, around the app, finds nothing
/// wrong with them, so what the tests above see is each fault's doing alone.
#[test]
fn faulty_apps_good_answers_pass_wsgiref_validate() {
    let validated = "validated:wrap('faulty')";
    call(validated, "/?do=created")
        .run()
        .assert_code(0)
        .assert_stdout(b"HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\n\r\ncreated\n")
        .assert_rwsgi_said(&[])
        .assert_stderr_has("closed:created\n");
    call(validated, "/?do=stream&n=2")
        .run()
        .assert_code(0)
        .assert_stdout(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nchunk 1\nchunk 2\n")
        .assert_rwsgi_said(&[]);
    util::rwsgi([
        "call",
        "--app",
        validated,
        "--data-binary",
        "hello",
        "/?do=digest",
    ])
    .run()
    .assert_code(0)
    .assert_stdout(format!("5 {}\n", adler32(b"hello")).as_bytes())
    .assert_rwsgi_said(&[]);
}

/// KeyboardInterrupt is an exception like any other when the app raises it: under CGI no
/// signal handler is installed, so nothing but the app can raise it, and docs/cgi.md promises a
/// 500 with the traceback on stderr for an app that raises before its headers are out.
#[test]
fn cgi_an_app_raising_keyboard_interrupt_gets_a_500() {
    cgi("faulty", "do=keyboard")
        .run()
        .assert_code(0)
        .assert_stdout(CGI_500)
        .assert_stderr_has("KeyboardInterrupt: raised by the app\n")
        .assert_rwsgi_said(&[FAILED_BEFORE]);
}

/// On Lambda the app's KeyboardInterrupt becomes a 500; spec section 4 wants its traceback in
/// the log too, as for any other exception.
#[test]
fn lambda_an_app_raising_keyboard_interrupt_is_logged() {
    let out = event("faulty", v2_event("do=keyboard").to_string()).run();
    out.assert_code(0);
    assert_eq!(out.json(), internal_error_v2(), "{}", out.dump());
    out.assert_stderr_has("KeyboardInterrupt: raised by the app\n")
        .assert_rwsgi_said(&[FAILED_BEFORE]);
}

/// spec section 3: a reply over Lambda's 6 MB limit becomes a 500 saying so. A body too large
/// for the function's memory (512 MiB under a 400 MB address-space limit, as in a function
/// given little memory) is over that limit as surely as one that fits, and must get the same
/// 500 rather than bring the runtime down: no more than 6 MB of it can ever be sent.
#[test]
fn lambda_a_body_too_large_for_memory_gets_the_same_500() {
    let script = "ulimit -v 400000 && exec \"$0\" event --app faulty -";
    let out = util::program(
        "/bin/sh",
        [
            OsString::from("-c"),
            OsString::from(script),
            util::rwsgi_bin().into_os_string(),
        ],
    )
    .stdin(v2_event("do=huge&n=512").to_string())
    .run();
    out.assert_code(0);
    let text = "500 Internal Server Error\n\
                The response is larger than the 6 MB a Lambda function can return.\n";
    assert_eq!(
        out.json(),
        json!({
            "statusCode": 500,
            "headers": {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": text.len().to_string()
            },
            "cookies": [],
            "body": text,
            "isBase64Encoded": false
        }),
        "{}",
        out.dump()
    );
    let said = out.rwsgi_lines();
    assert!(
        said.len() == 1 && said[0].contains("over the 6291556 bytes"),
        "{}",
        out.dump()
    );
}

// os._exit ends the process at once, inside the app: no Python or Rust code runs after it, so
// rwsgi can neither answer nor log. What is left is to end with the app's status and leave the
// answer to what started it: a web server answers the client itself (lighttpd and Apache "500,
// premature end of script headers", nginx with fcgiwrap a 502); on Lambda the runtime's exit is
// a Runtime.ExitError for that invocation and the next one gets a fresh environment.

#[test]
fn os_exit_in_the_app_ends_rwsgi_call_with_its_status() {
    call("faulty", "/?do=os_exit")
        .run()
        .assert_code(7)
        .assert_stdout(b"")
        .assert_rwsgi_said(&[]);
}

#[test]
fn os_exit_in_the_app_ends_a_cgi_request_with_no_output() {
    let out = cgi("faulty", "do=os_exit").run();
    out.assert_code(7).assert_stdout(b"").assert_rwsgi_said(&[]);
    assert_eq!(out.stderr, "about to os._exit\n", "{}", out.dump());
}

#[test]
fn os_exit_in_the_app_ends_the_lambda_runtime_without_an_answer() {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api.address(), "faulty");
    let first = reply(&api, &rwsgi, &request_id(1), &v2_event(""));
    assert_eq!(first["statusCode"], json!(200));
    api.push(Invocation::new(&request_id(2), &v2_event("do=os_exit")));
    assert_eq!(rwsgi.wait_exit(LIMIT), Some(7), "{}", rwsgi.dump());
    assert_eq!(api.handed_out(), [request_id(1), request_id(2)]);
    let posted: Vec<Option<String>> = api.posted().into_iter().map(|p| p.request_id).collect();
    assert_eq!(posted, [Some(request_id(1))], "{}", rwsgi.dump());
    assert!(!rwsgi.stderr().contains("panicked"), "{}", rwsgi.dump());
}

// ---------------------------------------------------------------------------------------------
// Readers that go away

/// Reads from `pipe` until at least `at_least` bytes arrived, within `limit`; returns them.
fn read_some(mut pipe: impl Read + Send + 'static, at_least: usize, limit: Duration) -> Vec<u8> {
    // On a thread, so that a writer that stops writing cannot hold the test: when the wait
    // ends, the caller kills the process, which ends the read.
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while got.len() < at_least {
            match pipe.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = send.send(got);
    });
    let got = receive
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("fewer than {at_least} bytes of output within {limit:?}"));
    assert!(
        got.len() >= at_least,
        "the output ended after {} bytes",
        got.len()
    );
    got
}

/// How long rwsgi may take to notice that its reader left: the next write fails with EPIPE.
const PROMPTLY: Duration = Duration::from_secs(5);

/// An app that streams for ever keeps rwsgi writing; when the reader closes the pipe (the web
/// server's client went away), the next write fails and rwsgi ends the request at once rather
/// than running the app on.
#[test]
fn cgi_streaming_for_ever_stops_when_the_reader_closes_the_pipe() {
    let mut process = cgi("faulty", "do=forever&chunk=4096").spawn_piped();
    drop(process.child.stdin.take());
    let stdout = process.child.stdout.take().expect("piped stdout");
    // The thread that read them drops its end of the pipe when it has them.
    let got = read_some(stdout, 256 * 1024, LIMIT);
    assert!(got.starts_with(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nxxxx"));
    let (status, took) = process.wait_bounded(PROMPTLY);
    let mut stderr = String::new();
    let _ = process
        .child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr);
    assert_eq!(status.code(), Some(1), "after {took:?}; stderr:\n{stderr}");
    assert_eq!(
        util::rwsgi_lines(&stderr),
        [
            "rwsgi: error: cannot write the response (did the client go away?): Broken pipe (os \
          error 32)"
        ],
        "{stderr}"
    );
}

#[test]
fn rwsgi_call_streaming_for_ever_stops_when_the_reader_closes_the_pipe() {
    let mut process =
        util::rwsgi(["call", "--app", "faulty", "/?do=forever&chunk=4096"]).spawn_piped();
    drop(process.child.stdin.take());
    let stdout = process.child.stdout.take().expect("piped stdout");
    let got = read_some(stdout, 256 * 1024, LIMIT);
    assert!(got.iter().all(|&b| b == b'x'), "not the app's body");
    let (status, took) = process.wait_bounded(PROMPTLY);
    let mut stderr = String::new();
    let _ = process
        .child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr);
    // curl's exit 23 and its one line, "Failure writing output to destination".
    assert_eq!(status.code(), Some(23), "after {took:?}; stderr:\n{stderr}");
    assert_eq!(
        util::rwsgi_lines(&stderr),
        ["rwsgi: (23) Failure writing output to destination (Broken pipe (os error 32))"],
        "{stderr}"
    );
}

/// The server's end of stdout is gone before rwsgi writes a byte: the write fails with EPIPE
/// and rwsgi exits 1 with one line saying so. rwsgi reads the whole body before it writes, so
/// closing the pipe before sending the body makes the order certain.
#[test]
fn cgi_stdout_closed_before_the_response_is_one_line_and_exit_1() {
    let mut process = cgi("faulty", "do=digest")
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_TYPE", "text/plain")
        .env("CONTENT_LENGTH", "5")
        .spawn_piped();
    drop(process.child.stdout.take());
    let mut stdin = process.child.stdin.take().expect("piped stdin");
    stdin.write_all(b"hello").expect("write the body");
    drop(stdin);
    let (status, _) = process.wait_bounded(LIMIT);
    let mut stderr = String::new();
    let _ = process
        .child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        util::rwsgi_lines(&stderr),
        [
            "rwsgi: error: cannot write the response (did the client go away?): Broken pipe (os \
          error 32)"
        ],
        "{stderr}"
    );
    assert!(
        stderr.contains("closed:digest\n"),
        "close() was not called\n{stderr}"
    );
}

/// With no stdout at all (the descriptor closed when rwsgi starts), Rust's start-up code opens
/// /dev/null in its place, as it does for any closed standard descriptor: the response goes
/// nowhere and the request ends normally. No server starts a CGI program that way; what
/// matters is that rwsgi neither hangs nor panics.
#[test]
fn cgi_started_with_stdout_closed_ends_cleanly() {
    let rwsgi = util::rwsgi_bin();
    util::program(
        "/bin/sh",
        [
            OsString::from("-c"),
            OsString::from("exec \"$0\" >&-"),
            rwsgi.into_os_string(),
        ],
    )
    .env("GATEWAY_INTERFACE", "CGI/1.1")
    .env("REQUEST_METHOD", "GET")
    .env("QUERY_STRING", "do=created")
    .env("RWSGI_APP", "faulty")
    .env("RWSGI_PATH", apps_dir())
    .run()
    .assert_code(0)
    .assert_stdout(b"")
    .assert_rwsgi_said(&[]);
}

// ---------------------------------------------------------------------------------------------
// CGI requests that are not what RFC 3875 promises

const BAD_REQUEST: &[u8] = b"Status: 400 Bad Request\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\r\n\
    400 Bad Request\n";

const TOO_LARGE: &[u8] = b"Status: 413 Content Too Large\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\n\r\n\
    413 Content Too Large\n";

fn post(length: &str, body: &[u8]) -> Cmd {
    cgi("faulty", "do=digest")
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_TYPE", "application/octet-stream")
        .env("CONTENT_LENGTH", length)
        .stdin(body)
}

#[test]
fn cgi_content_length_too_large_for_any_integer_is_413() {
    for huge in ["99999999999999999999999", "18446744073709551616"] {
        post(huge, b"hello")
            .run()
            .assert_code(0)
            .assert_stdout(TOO_LARGE)
            .assert_rwsgi_said(&[&format!(
                "rwsgi: error: answering 413 Content Too Large: the request body ({huge} bytes) \
                 is larger than RWSGI_MAX_BODY (104857600 bytes)"
            )]);
    }
}

#[test]
fn cgi_content_length_that_is_not_a_plain_decimal_is_400() {
    for bad in ["1e3", "+5", "0x10", "5 5", "5.0", "five"] {
        post(bad, b"hello")
            .run()
            .assert_code(0)
            .assert_stdout(BAD_REQUEST)
            .assert_rwsgi_said(&[&format!(
                "rwsgi: error: answering 400 Bad Request: CONTENT_LENGTH {bad:?} is not a \
                 non-negative whole number"
            )]);
    }
    // Blanks around the number are a server's formatting, not a different number.
    let out = post(" 5 ", b"helloEXTRA").run();
    out.assert_code(0).assert_rwsgi_said(&[]);
    let adler = adler32(b"hello");
    assert!(
        out.stdout
            .ends_with(format!("\r\n\r\n5 {adler}\n").as_bytes()),
        "{}",
        out.dump()
    );
}

/// Environment names and values that are not UTF-8 reach the app as latin-1 text, one
/// character per byte (docs/cgi.md#the-environ), and nothing fails on the way.
#[test]
fn cgi_environment_that_is_not_utf8_reaches_the_environ_byte_for_byte() {
    let os = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());
    let out = cgi("echo", "")
        .env("PATH_INFO", os(b"/caf\xe9/\xff\xfe"))
        .env("QUERY_STRING", os(b"q=\xc3\x28&r=\x80"))
        .env("SCRIPT_NAME", os(b"/cgi-bin/\xf0\x28\x8c\x28"))
        .env("HTTP_X_RAW", os(b"\xfe\xff"))
        .env("HTTP_COOKIE", os(b"name=\xe9t\xe9"))
        .env(os(b"X_NAME_\xff\xfe"), os(b"\x80\x81 value"))
        .env(os(b"\xc0\xc1"), os(b"\xc2"))
        .run();
    out.assert_code(0).assert_rwsgi_said(&[]);
    let body_at = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let environ: Value = serde_json::from_slice(&out.stdout[body_at..]).expect("echo's JSON");
    let latin1 = |bytes: &[u8]| -> String { bytes.iter().map(|&b| char::from(b)).collect() };
    for (key, value) in [
        (latin1(b"PATH_INFO"), latin1(b"/caf\xe9/\xff\xfe")),
        (latin1(b"QUERY_STRING"), latin1(b"q=\xc3\x28&r=\x80")),
        (latin1(b"SCRIPT_NAME"), latin1(b"/cgi-bin/\xf0\x28\x8c\x28")),
        (latin1(b"HTTP_X_RAW"), latin1(b"\xfe\xff")),
        (latin1(b"HTTP_COOKIE"), latin1(b"name=\xe9t\xe9")),
        (latin1(b"X_NAME_\xff\xfe"), latin1(b"\x80\x81 value")),
        (latin1(b"\xc0\xc1"), latin1(b"\xc2")),
    ] {
        assert_eq!(environ[&key], json!(value), "{key:?}\n{}", out.dump());
    }
}

/// The variables rwsgi reads for itself are no exception to docs/cgi.md#the-environ's rule: their bytes
/// become latin-1 text one for one, as every other variable's do.
#[test]
fn cgi_server_variables_that_are_not_ascii_reach_the_environ_byte_for_byte() {
    let os = |bytes: &[u8]| OsString::from_vec(bytes.to_vec());
    let out = cgi("echo", "")
        .env("SERVER_NAME", os(b"caf\xe9.example"))
        .env("REMOTE_ADDR", os(b"\xff"))
        .env("SERVER_PROTOCOL", os(b"HTTP/1.1\xa0"))
        .run();
    out.assert_code(0);
    let body_at = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let environ: Value = serde_json::from_slice(&out.stdout[body_at..]).expect("echo's JSON");
    assert_eq!(
        (
            &environ["SERVER_NAME"],
            &environ["REMOTE_ADDR"],
            &environ["SERVER_PROTOCOL"]
        ),
        (
            &json!("caf\u{e9}.example"),
            &json!("\u{ff}"),
            &json!("HTTP/1.1\u{a0}")
        ),
        "{}",
        out.dump()
    );
}

/// zlib's Adler-32 (RFC 1950 section 8.2), what faulty.py's `digest` answers with.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

// ---------------------------------------------------------------------------------------------
// Lambda events that are not what a front door sends

/// An event that is not JSON, or JSON that is not an HTTP event, and the Lambda error it gets.
struct OddEvent {
    what: &'static str,
    bytes: Vec<u8>,
    error_type: &'static str,
    message: &'static str,
}

fn odd_events() -> Vec<OddEvent> {
    let unsupported = |kind: &'static str| -> &'static str {
        match kind {
            "array" => {
                "a JSON array event is not an HTTP request from API Gateway, a function URL, an \
                 ALB or VPC Lattice; set RWSGI_EVENT_HANDLER=module:function to handle it"
            }
            "string" => {
                "a JSON string event is not an HTTP request from API Gateway, a function URL, an \
                 ALB or VPC Lattice; set RWSGI_EVENT_HANDLER=module:function to handle it"
            }
            "number" => {
                "a JSON number event is not an HTTP request from API Gateway, a function URL, an \
                 ALB or VPC Lattice; set RWSGI_EVENT_HANDLER=module:function to handle it"
            }
            "null" => {
                "a JSON null event is not an HTTP request from API Gateway, a function URL, an \
                 ALB or VPC Lattice; set RWSGI_EVENT_HANDLER=module:function to handle it"
            }
            _ => {
                "a JSON boolean event is not an HTTP request from API Gateway, a function URL, \
                 an ALB or VPC Lattice; set RWSGI_EVENT_HANDLER=module:function to handle it"
            }
        }
    };
    let deep_arrays = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let odd = |what, bytes: &[u8], error_type, message| OddEvent {
        what,
        bytes: bytes.to_vec(),
        error_type,
        message,
    };
    const UNSUPPORTED: &str = "Rwsgi.UnsupportedEvent";
    const INVALID: &str = "Rwsgi.InvalidEvent";
    vec![
        odd("an array", b"[1, 2]", UNSUPPORTED, unsupported("array")),
        odd(
            "an array of an event",
            format!("[{}]", v2_event("")).as_bytes(),
            UNSUPPORTED,
            unsupported("array"),
        ),
        odd("a string", b"\"GET /\"", UNSUPPORTED, unsupported("string")),
        odd("a number", b"42", UNSUPPORTED, unsupported("number")),
        odd(
            "a huge number",
            b"-1.5e308",
            UNSUPPORTED,
            unsupported("number"),
        ),
        odd("null", b"null", UNSUPPORTED, unsupported("null")),
        odd("true", b"true", UNSUPPORTED, unsupported("boolean")),
        odd(
            "nothing",
            b"",
            INVALID,
            "the event is not valid JSON: EOF while parsing a value at line 1 column 0",
        ),
        odd(
            "plain text",
            b"not json",
            INVALID,
            "the event is not valid JSON: expected ident at line 1 column 2",
        ),
        odd(
            "NaN",
            b"NaN",
            INVALID,
            "the event is not valid JSON: expected value at line 1 column 1",
        ),
        odd(
            "trailing text",
            b"{} trailing",
            INVALID,
            "the event is not valid JSON: trailing characters at line 1 column 4",
        ),
        odd(
            "not UTF-8",
            b"\xff\xfe",
            INVALID,
            "the event is not valid JSON: expected value at line 1 column 1",
        ),
        odd(
            "arrays 100,000 deep",
            deep_arrays.as_bytes(),
            INVALID,
            "the event is not valid JSON: recursion limit exceeded at line 1 column 128",
        ),
        odd(
            "objects 100,000 deep",
            deep_objects.as_bytes(),
            INVALID,
            "the event is not valid JSON: recursion limit exceeded at line 1 column 636",
        ),
    ]
}

fn lambda_error(error_type: &str, message: &str) -> Value {
    json!({"errorMessage": message, "errorType": error_type, "stackTrace": []})
}

#[test]
fn odd_events_through_rwsgi_event_are_lambda_errors() {
    for odd in odd_events() {
        let out = event("faulty", odd.bytes).run();
        out.assert_code(1);
        assert_eq!(
            out.json(),
            lambda_error(odd.error_type, odd.message),
            "{}\n{}",
            odd.what,
            out.dump()
        );
    }
}

#[test]
fn odd_events_through_the_runtime_are_invocation_errors_and_it_keeps_serving() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api.address(), "faulty");
    for (n, odd) in odd_events().into_iter().enumerate() {
        let id = request_id(n as u64);
        let posted = invoke(&api, &rwsgi, &id, &odd.bytes);
        assert_eq!(
            (posted.kind, posted.error_type.as_deref()),
            (PostKind::Error, Some(odd.error_type)),
            "{}\n{}",
            odd.what,
            rwsgi.dump()
        );
        assert_eq!(
            posted.json(),
            lambda_error(odd.error_type, odd.message),
            "{}",
            odd.what
        );
    }
    let good = reply(&api, &rwsgi, &request_id(100), &v2_event("do=created"));
    assert_eq!(good["statusCode"], json!(201));
    assert!(rwsgi.running(), "rwsgi exited\n{}", rwsgi.dump());
    assert!(!rwsgi.stderr().contains("panicked"), "{}", rwsgi.dump());
}

/// An event over Lambda's 6 MB (here 7,000,000 bytes of body) is read whole: Lambda's limit
/// is on what it accepts from callers, and rwsgi must not fail on one that got through.
#[test]
fn an_event_over_6_mb_arrives_whole() {
    let body: String = (0..7_000_000u32)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let mut event_json = v2_event("do=digest");
    event_json["requestContext"]["http"]["method"] = json!("POST");
    event_json["headers"]["content-type"] = json!("text/plain");
    event_json["body"] = json!(body);
    let bytes = event_json.to_string().into_bytes();
    assert!(bytes.len() > 7_000_000);
    let want = format!("7000000 {}\n", adler32(body.as_bytes()));

    let out = event("faulty", bytes.clone()).run();
    out.assert_code(0).assert_rwsgi_said(&[]);
    assert_eq!(out.json()["body"], json!(want), "{}", out.dump());

    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api.address(), "faulty");
    let posted = invoke(&api, &rwsgi, &request_id(1), &bytes);
    assert_eq!(posted.kind, PostKind::Response, "{}", rwsgi.dump());
    let got = posted.json();
    assert_eq!(
        (&got["statusCode"], &got["body"]),
        (&json!(200), &json!(want)),
        "{}",
        rwsgi.dump()
    );
}

/// The front doors, with the names rwsgi's log gives them and the shape of their replies.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Door {
    Rest,
    HttpV1,
    HttpV2,
    Url,
    AlbMulti,
    AlbSingle,
    LatticeV1,
    LatticeV2,
}

impl Door {
    fn name(self) -> &'static str {
        match self {
            Door::Rest => "API Gateway REST API",
            Door::HttpV1 => "API Gateway HTTP API (payload 1.0)",
            Door::HttpV2 => "API Gateway HTTP API (payload 2.0)",
            Door::Url => "Lambda function URL",
            Door::AlbMulti => "Application Load Balancer (multi-value headers)",
            Door::AlbSingle => "Application Load Balancer",
            Door::LatticeV1 => "VPC Lattice (v1)",
            Door::LatticeV2 => "VPC Lattice (v2)",
        }
    }

    /// A realistic event of this door, with repeated headers and query keys.
    fn event(self) -> Value {
        match self {
            Door::Rest | Door::HttpV1 => {
                let mut e = json!({
                    "resource": "/{proxy+}",
                    "path": "/items",
                    "httpMethod": "POST",
                    "headers": {"accept": "*/*", "host": "api.example.com"},
                    "multiValueHeaders": {"accept": ["*/*"], "host": ["api.example.com"]},
                    "queryStringParameters": {"q": "2"},
                    "multiValueQueryStringParameters": {"q": ["1", "2"]},
                    "pathParameters": {"proxy": "items"},
                    "stageVariables": null,
                    "requestContext": {
                        "accountId": "123456789012",
                        "apiId": "a1b2c3",
                        "domainName": "api.example.com",
                        "identity": {"sourceIp": "198.51.100.7"},
                        "protocol": "HTTP/1.1",
                        "stage": "prod"
                    },
                    "body": "hello",
                    "isBase64Encoded": false
                });
                if self == Door::HttpV1 {
                    e["version"] = json!("1.0");
                    e["requestContext"]["stage"] = json!("$default");
                }
                e
            }
            Door::HttpV2 | Door::Url => {
                let mut e = v2_event("q=1&q=2");
                e["requestContext"]["http"]["method"] = json!("POST");
                e["cookies"] = json!(["a=1", "b=2"]);
                e["body"] = json!("hello");
                if self == Door::Url {
                    let domain = "abcdefghij0123456789abcdefghij01.lambda-url.us-east-1.on.aws";
                    e["requestContext"]["domainName"] = json!(domain);
                    e["headers"]["host"] = json!(domain);
                }
                e
            }
            Door::AlbMulti => json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},
                "httpMethod": "POST",
                "path": "/items",
                "multiValueQueryStringParameters": {"q": ["1", "2"]},
                "multiValueHeaders": {"accept": ["*/*"], "host": ["lb.example.com"]},
                "body": "hello",
                "isBase64Encoded": false
            }),
            Door::AlbSingle => json!({
                "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/0123456789abcdef"}},
                "httpMethod": "POST",
                "path": "/items",
                "queryStringParameters": {"q": "2"},
                "headers": {"accept": "*/*", "host": "lb.example.com"},
                "body": "hello",
                "isBase64Encoded": false
            }),
            Door::LatticeV1 => json!({
                "raw_path": "/items",
                "method": "POST",
                "headers": {"accept": "*/*", "x-forwarded-for": "10.0.2.100"},
                "query_string_parameters": {"q": "2"},
                "body": "hello",
                "is_base64_encoded": false
            }),
            Door::LatticeV2 => json!({
                "version": "2.0",
                "path": "/items",
                "method": "POST",
                "headers": {"accept": ["*/*"], "x-forwarded-for": ["10.0.2.100"]},
                "queryStringParameters": {"q": ["1", "2"]},
                "body": "hello",
                "isBase64Encoded": false,
                "requestContext": {
                    "serviceNetworkArn": "arn:aws:vpc-lattice:us-east-1:123456789012:servicenetwork/sn-0123456789abcdef0",
                    "serviceArn": "arn:aws:vpc-lattice:us-east-1:123456789012:service/svc-0123456789abcdef0",
                    "region": "us-east-1",
                    "timeEpoch": "1705228011000000"
                }
            }),
        }
    }

    /// rwsgi's 400 in this door's reply shape (spec section 3).
    fn bad_request(self) -> Value {
        let single = json!({"Content-Type": "text/plain; charset=utf-8", "Content-Length": "16"});
        let multi =
            json!({"Content-Type": ["text/plain; charset=utf-8"], "Content-Length": ["16"]});
        let mut reply =
            json!({"statusCode": 400, "body": "400 Bad Request\n", "isBase64Encoded": false});
        match self {
            Door::Rest | Door::HttpV1 => reply["multiValueHeaders"] = multi,
            Door::HttpV2 | Door::Url => {
                reply["headers"] = single;
                reply["cookies"] = json!([]);
            }
            Door::AlbMulti => {
                reply["statusDescription"] = json!("400 Bad Request");
                reply["multiValueHeaders"] = multi;
            }
            Door::AlbSingle => {
                reply["statusDescription"] = json!("400 Bad Request");
                reply["headers"] = single;
            }
            Door::LatticeV1 | Door::LatticeV2 => reply["headers"] = single,
        }
        reply
    }
}

/// One field of a door's event set to a value of the wrong type (or to something else a front
/// door never sends), and the reason rwsgi's log must give for its 400.
struct Malformed {
    door: Door,
    /// A JSON pointer; `None` as the value removes the field.
    pointer: &'static str,
    value: Option<Value>,
    why: &'static str,
}

impl Malformed {
    fn event(&self) -> Value {
        let mut event = self.door.event();
        let (parent, key) = self.pointer.rsplit_once('/').expect("a pointer");
        let parent = event
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{}: no object at {parent}", self.pointer));
        match &self.value {
            Some(v) => {
                parent.insert(key.to_string(), v.clone());
            }
            None => {
                parent.shift_remove(key);
            }
        }
        event
    }

    fn logged(&self) -> String {
        format!(
            "rwsgi: error: answering 400 Bad Request: malformed {} event: {}",
            self.door.name(),
            self.why
        )
    }
}

fn malformed_events() -> Vec<Malformed> {
    use Door::*;
    let m = |door, pointer, value: Value, why| Malformed {
        door,
        pointer,
        value: Some(value),
        why,
    };
    let gone = |door, pointer, why| Malformed {
        door,
        pointer,
        value: None,
        why,
    };
    const NOT_BASE64: &str = "body is marked isBase64Encoded but is not valid base64";
    vec![
        m(
            Rest,
            "/httpMethod",
            json!(7),
            "httpMethod must be a string, not a number",
        ),
        m(
            Rest,
            "/path",
            json!(["/x"]),
            "path must be a string, not a list",
        ),
        m(
            Rest,
            "/multiValueHeaders",
            json!("accept: */*"),
            "multiValueHeaders must be an object, not a string",
        ),
        m(
            Rest,
            "/multiValueHeaders/accept",
            json!("*/*"),
            "multiValueHeaders.accept must be a list of strings, not a string",
        ),
        m(
            Rest,
            "/multiValueHeaders/accept",
            json!([1]),
            "multiValueHeaders.accept must hold strings, not a number",
        ),
        m(
            Rest,
            "/multiValueQueryStringParameters",
            json!([]),
            "multiValueQueryStringParameters must be an object, not a list",
        ),
        m(
            Rest,
            "/multiValueQueryStringParameters/q",
            json!({"a": 1}),
            "multiValueQueryStringParameters.q must be a list of strings, not an object",
        ),
        m(
            Rest,
            "/requestContext/stage",
            json!(1),
            "requestContext.stage must be a string, not a number",
        ),
        m(
            Rest,
            "/requestContext/domainName",
            json!(true),
            "requestContext.domainName must be a string, not a boolean",
        ),
        m(
            Rest,
            "/requestContext/identity/sourceIp",
            json!(["198.51.100.7"]),
            "requestContext.identity.sourceIp must be a string, not a list",
        ),
        m(
            Rest,
            "/requestContext/protocol",
            json!(1.1),
            "requestContext.protocol must be a string, not a number",
        ),
        m(
            Rest,
            "/isBase64Encoded",
            json!("false"),
            "isBase64Encoded must be true or false, not a string",
        ),
        m(
            Rest,
            "/body",
            json!({"a": 1}),
            "body must be a string, not an object",
        ),
        m(Rest, "/isBase64Encoded", json!(true), NOT_BASE64),
        m(
            HttpV1,
            "/httpMethod",
            json!(false),
            "httpMethod must be a string, not a boolean",
        ),
        m(
            HttpV1,
            "/requestContext/identity/sourceIp",
            json!(7),
            "requestContext.identity.sourceIp must be a string, not a number",
        ),
        m(
            HttpV1,
            "/multiValueHeaders/host",
            json!([null, {}]),
            "multiValueHeaders.host must hold strings, not an object",
        ),
        m(
            HttpV2,
            "/requestContext/http/method",
            json!(7),
            "requestContext.http.method must be a string, not a number",
        ),
        m(
            HttpV2,
            "/rawPath",
            json!(7),
            "rawPath must be a string, not a number",
        ),
        m(
            HttpV2,
            "/rawQueryString",
            json!({}),
            "rawQueryString must be a string, not an object",
        ),
        m(
            HttpV2,
            "/headers",
            json!("accept: */*"),
            "headers must be an object, not a string",
        ),
        m(
            HttpV2,
            "/headers/accept",
            json!(1),
            "headers.accept must be a string, not a number",
        ),
        m(
            HttpV2,
            "/cookies",
            json!("a=1"),
            "cookies must be a list, not a string",
        ),
        m(
            HttpV2,
            "/cookies",
            json!(["a=1", true]),
            "cookies must hold strings, not a boolean",
        ),
        m(
            HttpV2,
            "/requestContext/http/sourceIp",
            json!(1),
            "requestContext.http.sourceIp must be a string, not a number",
        ),
        m(
            HttpV2,
            "/requestContext/http/protocol",
            json!([]),
            "requestContext.http.protocol must be a string, not a list",
        ),
        m(
            HttpV2,
            "/requestContext/stage",
            json!(2),
            "requestContext.stage must be a string, not a number",
        ),
        m(
            HttpV2,
            "/requestContext/domainName",
            json!({}),
            "requestContext.domainName must be a string, not an object",
        ),
        m(
            HttpV2,
            "/isBase64Encoded",
            json!(1),
            "isBase64Encoded must be true or false, not a number",
        ),
        m(
            HttpV2,
            "/body",
            json!([]),
            "body must be a string, not a list",
        ),
        m(
            HttpV2,
            "/requestContext/http",
            json!("POST"),
            "requestContext.http must be an object, not a string",
        ),
        gone(Url, "/requestContext/http/method", "it has no HTTP method"),
        m(
            Url,
            "/body",
            json!(1),
            "body must be a string, not a number",
        ),
        m(Url, "/isBase64Encoded", json!(true), NOT_BASE64),
        m(
            AlbSingle,
            "/httpMethod",
            json!({}),
            "httpMethod must be a string, not an object",
        ),
        m(AlbSingle, "/httpMethod", json!(""), "it has no HTTP method"),
        m(
            AlbSingle,
            "/path",
            json!(1),
            "path must be a string, not a number",
        ),
        m(
            AlbSingle,
            "/headers/host",
            json!(7),
            "headers.host must be a string, not a number",
        ),
        m(
            AlbSingle,
            "/queryStringParameters/q",
            json!(["1"]),
            "queryStringParameters.q must be a string, not a list",
        ),
        m(
            AlbSingle,
            "/isBase64Encoded",
            json!("yes"),
            "isBase64Encoded must be true or false, not a string",
        ),
        m(
            AlbSingle,
            "/body",
            json!(true),
            "body must be a string, not a boolean",
        ),
        m(AlbSingle, "/isBase64Encoded", json!(true), NOT_BASE64),
        m(
            AlbMulti,
            "/multiValueHeaders/host",
            json!("lb.example.com"),
            "multiValueHeaders.host must be a list of strings, not a string",
        ),
        m(
            AlbMulti,
            "/multiValueQueryStringParameters",
            json!("q=1"),
            "multiValueQueryStringParameters must be an object, not a string",
        ),
        m(
            LatticeV1,
            "/method",
            json!(7),
            "method must be a string, not a number",
        ),
        m(
            LatticeV1,
            "/raw_path",
            json!([]),
            "raw_path must be a string, not a list",
        ),
        m(
            LatticeV1,
            "/headers/accept",
            json!(["*/*"]),
            "headers.accept must be a string, not a list",
        ),
        m(
            LatticeV1,
            "/query_string_parameters/q",
            json!(1),
            "query_string_parameters.q must be a string, not a number",
        ),
        m(
            LatticeV1,
            "/is_base64_encoded",
            json!("true"),
            "is_base64_encoded must be true or false, not a string",
        ),
        m(
            LatticeV1,
            "/body",
            json!(5),
            "body must be a string, not a number",
        ),
        m(
            LatticeV1,
            "/is_base64_encoded",
            json!(true),
            "body is marked is_base64_encoded but is not valid base64",
        ),
        m(
            LatticeV2,
            "/method",
            json!([]),
            "method must be a string, not a list",
        ),
        m(
            LatticeV2,
            "/path",
            json!(1),
            "path must be a string, not a number",
        ),
        m(
            LatticeV2,
            "/headers/accept",
            json!(5),
            "headers.accept must be a list of strings, not a number",
        ),
        m(
            LatticeV2,
            "/queryStringParameters/q",
            json!(1),
            "queryStringParameters.q must be a list of strings, not a number",
        ),
        m(
            LatticeV2,
            "/isBase64Encoded",
            json!("true"),
            "isBase64Encoded must be true or false, not a string",
        ),
        m(
            LatticeV2,
            "/body",
            json!({}),
            "body must be a string, not an object",
        ),
        m(LatticeV2, "/isBase64Encoded", json!(true), NOT_BASE64),
    ]
}

/// Each door's event as given reaches the app (so that a 400 below is the malformed field's
/// doing, not the rest of the event's).
#[test]
fn the_events_the_malformed_ones_start_from_are_served() {
    for door in [
        Door::Rest,
        Door::HttpV1,
        Door::HttpV2,
        Door::Url,
        Door::AlbMulti,
        Door::AlbSingle,
        Door::LatticeV1,
        Door::LatticeV2,
    ] {
        let mut e = door.event();
        match door {
            Door::HttpV2 | Door::Url => e["rawQueryString"] = json!("do=digest"),
            Door::Rest | Door::HttpV1 => {
                e["multiValueQueryStringParameters"] = json!({"do": ["digest"]})
            }
            Door::AlbMulti => e["multiValueQueryStringParameters"] = json!({"do": ["digest"]}),
            Door::AlbSingle => e["queryStringParameters"] = json!({"do": "digest"}),
            Door::LatticeV1 => e["query_string_parameters"] = json!({"do": "digest"}),
            Door::LatticeV2 => e["queryStringParameters"] = json!({"do": ["digest"]}),
        }
        let out = event("faulty", e.to_string()).run();
        out.assert_code(0).assert_rwsgi_said(&[]);
        let reply = out.json();
        assert_eq!(reply["statusCode"], json!(200), "{door:?}\n{}", out.dump());
        assert_eq!(
            reply["body"],
            json!(format!("5 {}\n", adler32(b"hello"))),
            "{door:?}"
        );
    }
}

#[test]
fn malformed_events_through_rwsgi_event_get_400() {
    for bad in malformed_events() {
        let out = event("faulty", bad.event().to_string()).run();
        out.assert_code(0).assert_rwsgi_said(&[&bad.logged()]);
        assert_eq!(
            out.json(),
            bad.door.bad_request(),
            "{:?} {}\n{}",
            bad.door,
            bad.pointer,
            out.dump()
        );
    }
}

#[test]
fn malformed_events_through_the_runtime_get_400_and_it_keeps_serving() {
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api.address(), "faulty");
    let cases = malformed_events();
    for (n, bad) in cases.iter().enumerate() {
        let got = reply(&api, &rwsgi, &request_id(n as u64), &bad.event());
        assert_eq!(
            got,
            bad.door.bad_request(),
            "{:?} {}\n{}",
            bad.door,
            bad.pointer,
            rwsgi.dump()
        );
    }
    let stderr = rwsgi.wait_stderr("a line for every malformed event", |text| {
        util::rwsgi_lines(text).len() >= cases.len()
    });
    let want: Vec<String> = cases.iter().map(Malformed::logged).collect();
    assert_eq!(util::rwsgi_lines(&stderr), want);
    let good = reply(&api, &rwsgi, &request_id(1000), &v2_event("do=created"));
    assert_eq!(good["statusCode"], json!(201));
    assert!(rwsgi.running(), "rwsgi exited\n{}", rwsgi.dump());
}

/// spec section 4 makes no exception for the objects on the way to a field: a requestContext
/// (or its identity) that is not an object is as malformed as a sourceIp that is not a string,
/// and must get the same 400 rather than a request built from defaults.
#[test]
fn an_object_of_the_wrong_type_on_the_way_to_a_field_is_a_400_too() {
    let cases = [
        (Door::Rest, "/requestContext", json!("prod")),
        (Door::Rest, "/requestContext", json!(7)),
        (
            Door::Rest,
            "/requestContext/identity",
            json!("198.51.100.7"),
        ),
        (
            Door::HttpV1,
            "/requestContext/identity",
            json!(["198.51.100.7"]),
        ),
    ];
    let mut wrong = Vec::new();
    for (door, pointer, value) in cases {
        let bad = Malformed {
            door,
            pointer,
            value: Some(value.clone()),
            why: "",
        };
        let out = event("faulty", bad.event().to_string()).run();
        out.assert_code(0);
        let got = out.json();
        if got != door.bad_request() {
            wrong.push(format!(
                "{} = {value} ({}): answered {} {:?}",
                pointer,
                door.name(),
                got["statusCode"],
                got["body"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "served instead of refused:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// A Runtime API that fails rwsgi on /response

/// Runs two invocations against the fake Runtime API, the first one's `/response` failing as
/// `failure` says; returns the rwsgi lines logged for it.
fn response_failure(failure: Failure) -> Vec<String> {
    // Without the Extensions API, as a local emulator: the calls below are all there is.
    let api = FakeRuntimeApi::start_without_extensions();
    let rwsgi = function(&api.address(), "faulty");
    api.fail_response(&request_id(1), failure);
    api.push(Invocation::new(&request_id(1), &v2_event("do=created")));
    api.push(Invocation::new(&request_id(2), &v2_event("")));
    let posted = api
        .wait_posted(2, LIMIT)
        .unwrap_or_else(|| panic!("only {:?}\n{}", api.posted(), rwsgi.dump()));
    let answered = match failure {
        Failure::Status500 => 500,
        Failure::Close => 0,
    };
    let got: Vec<(PostKind, Option<String>, u16)> = posted
        .iter()
        .map(|p| (p.kind, p.request_id.clone(), p.answered))
        .collect();
    assert_eq!(
        got,
        [
            (PostKind::Response, Some(request_id(1)), answered),
            (PostKind::Response, Some(request_id(2)), 202),
        ],
        "{}",
        rwsgi.dump()
    );
    assert_eq!(api.handed_out(), [request_id(1), request_id(2)]);
    let post = |n: u64| {
        format!(
            "POST /2018-06-01/runtime/invocation/{}/response",
            request_id(n)
        )
    };
    let next = "GET /2018-06-01/runtime/invocation/next".to_string();
    // The calls in order; after the second result, at most the `/next` that now waits.
    let requests = api.requests();
    assert_eq!(
        requests[..requests.len().min(4)],
        [next.clone(), post(1), next.clone(), post(2)],
        "{}",
        rwsgi.dump()
    );
    assert!(
        requests[4..].iter().all(|r| *r == next) && requests.len() <= 5,
        "{requests:?}"
    );
    assert!(rwsgi.running(), "rwsgi exited\n{}", rwsgi.dump());
    let stderr = rwsgi.wait_stderr("an error line", |t| !util::rwsgi_lines(t).is_empty());
    assert!(!stderr.contains("panicked"), "{}", rwsgi.dump());
    util::rwsgi_lines(&stderr)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// A `/response` answered 500 is logged in one line and rwsgi goes back to `/next`, where the
/// Runtime API decides what follows (a broken environment answers `/next` with a 500 too, and
/// rwsgi then stops: tests/lambda_runtime.rs).
#[test]
fn a_response_answered_500_is_one_line_and_the_next_invocation_is_served() {
    let lines = response_failure(Failure::Status500);
    assert_eq!(
        lines,
        [format!(
            "rwsgi: error: POST /runtime/invocation/{}/response was answered 500: \
             {{\"errorMessage\":\"Container error. Non-recoverable state. Runtime should exit \
             promptly.\",\"errorType\":\"InternalError\"}}",
            request_id(1)
        )]
    );
}

#[test]
fn a_response_whose_connection_closes_is_one_line_and_the_next_invocation_is_served() {
    let lines = response_failure(Failure::Close);
    // Posted once: the Runtime API may have taken the result before the connection ended.
    assert_eq!(
        lines,
        [format!(
            "rwsgi: error: POST /runtime/invocation/{}/response: connection closed before \
             message completed",
            request_id(1)
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// Load failures: each mode's hint names what can be changed there

/// Fails unless `stderr` holds every one of `wanted` and none of `unwanted`.
fn says(stderr: &str, wanted: &[&str], unwanted: &[&str]) {
    for w in wanted {
        assert!(stderr.contains(w), "lacks {w:?}:\n{stderr}");
    }
    for u in unwanted {
        assert!(!stderr.contains(u), "has {u:?}:\n{stderr}");
    }
}

/// The message of the init error a function posts for `app`.
fn init_error_message(app: &str) -> String {
    let api = FakeRuntimeApi::start();
    let mut rwsgi = function(&api.address(), app);
    let posted = api
        .wait_init_error(LIMIT)
        .unwrap_or_else(|| panic!("no init error within {LIMIT:?}\n{}", rwsgi.dump()));
    assert_eq!(rwsgi.wait_exit(LIMIT), Some(1), "{}", rwsgi.dump());
    posted.json()["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_missing_callable_is_explained_in_the_modes_terms() {
    let out = call("nameless", "/").run();
    out.assert_code(1);
    says(
        &out.stderr,
        &["defines neither 'application' nor 'app' (name the app as SPEC:name)"],
        &[],
    );

    // A CGI drop-in: the fix is in the script.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-nameless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("nameless.wsgi");
    std::fs::write(&script, "#!/usr/bin/env rwsgi\nGREETING = 'hello'\n").unwrap();
    let out = util::rwsgi([OsString::from("cgi"), script.clone().into_os_string()])
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("REQUEST_METHOD", "GET")
        .run();
    out.assert_code(1).assert_stdout(CGI_500);
    says(
        &out.stderr,
        &["define the WSGI callable as 'application' (or 'app') in the script"],
        &["SPEC", "--app"],
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A CGI program with RWSGI_APP: the fix is in the server's configuration.
    let out = cgi("nameless", "").run();
    out.assert_code(1).assert_stdout(CGI_500);
    says(
        &out.stderr,
        &["name the callable in RWSGI_APP as module:name in the server's configuration"],
        &["SPEC", "--app"],
    );

    // A Lambda function: RWSGI_APP or its Handler setting.
    says(
        &init_error_message("nameless"),
        &["name the callable as module:name in RWSGI_APP or in the function's Handler setting"],
        &["SPEC", "--app"],
    );
}

#[test]
fn a_missing_package_is_explained_in_the_modes_terms() {
    let out = call("broken_import", "/").run();
    out.assert_code(1);
    says(
        &out.stderr,
        &["no virtualenv is in use: pass --venv DIR, set RWSGI_VENV"],
        &[],
    );
    let out = cgi("broken_import", "").run();
    out.assert_code(1).assert_stdout(CGI_500);
    says(
        &out.stderr,
        &[
            "make a .venv beside the script, or set RWSGI_VENV in the server's configuration",
            "SetEnv",
        ],
        &["--venv"],
    );
    says(
        &init_error_message("broken_import"),
        &[
            "install the requirements into the package's root (pip install -t)",
            "RWSGI_VENV",
        ],
        &["--venv"],
    );
}

#[test]
fn lambda_uses_the_venv_in_its_task_root() {
    // The rule of every mode: with no virtualenv named, the .venv of the app's folder, which
    // on Lambda is LAMBDA_TASK_ROOT.
    let version = util::rwsgi(["--version"]).run();
    let version = String::from_utf8_lossy(&version.stdout);
    let version = version
        .split("(Python ")
        .nth(1)
        .and_then(|v| v.split(')').next())
        .expect("rwsgi --version names its Python")
        .to_string();
    let minor = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    let root = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("faults-task-root-{}", std::process::id()));
    let packages = root.join(format!(".venv/lib/python{minor}/site-packages"));
    std::fs::create_dir_all(&packages).unwrap();
    std::fs::write(
        root.join(".venv/pyvenv.cfg"),
        format!(
            "home = /var/lang/bin\ninclude-system-site-packages = false\nversion = {version}\n"
        ),
    )
    .unwrap();
    std::fs::write(packages.join("venv_mod.py"), "TEXT = 'from the venv'\n").unwrap();
    std::fs::write(
        root.join("venv_app.py"),
        "import venv_mod\n\n\ndef application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [venv_mod.TEXT.encode()]\n",
    )
    .unwrap();
    let api = FakeRuntimeApi::start();
    let rwsgi = util::rwsgi(Vec::<OsString>::new())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", &root)
        .env("RWSGI_APP", "venv_app")
        .env("AWS_LAMBDA_FUNCTION_NAME", "rwsgi-faults")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .spawn();
    let answer = reply(&api, &rwsgi, &request_id(1), &v2_event(""));
    assert_eq!(answer["body"], json!("from the venv"), "{}", rwsgi.dump());
    drop(rwsgi);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn responses_without_content_have_no_body_in_any_mode() {
    // RFC 9110 section 6.4.1: the app's bytes after a 204 or 304 head are dropped, and no
    // Content-Length is made up (section 8.6), on the command line as under CGI.
    for code in ["204", "304"] {
        call("bodiless", &format!("/?code={code}"))
            .run()
            .assert_code(0)
            .assert_stdout(
                format!("HTTP/1.1 {code} Whatever\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
            );
        let reply = event("bodiless", v2_event(&format!("code={code}")).to_string())
            .run()
            .assert_code(0)
            .json();
        assert_eq!(reply["body"], json!(""), "{reply}");
        assert_eq!(
            reply["headers"],
            json!({"Content-Type": "text/plain"}),
            "{reply}"
        );
    }
    // A HEAD: the GET's headers, no body, the body iterated and closed all the same.
    let out = util::rwsgi(["call", "--app", "bodiless", "-i", "HEAD", "/?as=gen"]).run();
    out.assert_code(0)
        .assert_stdout(b"HTTP/1.1 200 Whatever\r\nContent-Type: text/plain\r\n\r\n")
        .assert_stderr_has("closed after 2 chunks");
}
