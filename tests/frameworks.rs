//! Integration tests of `rwsgi call` with real frameworks (Flask, Django, Bottle), installed in
//! the virtualenv that `RWSGI_TEST_VENV` names (tests/requirements.txt; `scripts/test` makes
//! it). What is checked is what a user of each framework would see.

use crate::util::{Output, apps_dir, call, temp_dir, test_venv, write_file};
use serde_json::{Value, json};

/// `rwsgi call --venv $RWSGI_TEST_VENV --app APP ARGS...`, run in `tests/apps`.
fn run(app: &str, args: &[&str]) -> Output {
    let venv = test_venv().display().to_string();
    let mut all = vec!["--venv", venv.as_str(), "--app", app];
    all.extend_from_slice(args);
    call(all).run()
}

/// The same, expecting exit 0 and a JSON body.
fn run_json(app: &str, args: &[&str]) -> Value {
    let out = run(app, args);
    out.assert_ok();
    out.json()
}

fn report() -> Vec<u8> {
    std::fs::read(apps_dir().join("files").join("report.txt")).expect("tests/apps/files/report.txt")
}

fn report_path() -> String {
    apps_dir()
        .join("files")
        .join("report.txt")
        .display()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Flask

const FLASK: &str = "flask_app";

#[test]
fn flask_index() {
    let out = run(FLASK, &["-i", "/"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "text/html; charset=utf-8");
    assert_eq!(response.one("Content-Length"), "12");
    assert_eq!(response.body, b"flask index\n");
}

#[test]
fn flask_route_with_a_variable() {
    assert_eq!(run_json(FLASK, &["/hello/bob"]), json!({"hello": "bob"}));
}

#[test]
fn flask_repeated_query_keys() {
    assert_eq!(
        run_json(FLASK, &["/args?tag=a&tag=b&q=x%20y"]),
        json!({"tags": ["a", "b"], "q": "x y"})
    );
}

#[test]
fn flask_json_in_and_out() {
    assert_eq!(
        run_json(FLASK, &["--json", r#"{"n": [1, 2], "s": "é"}"#, "/json"]),
        json!({"received": {"n": [1, 2], "s": "é"}, "method": "POST"})
    );
}

#[test]
fn flask_form_post() {
    assert_eq!(
        run_json(
            FLASK,
            &[
                "-d",
                "name=Ann",
                "-d",
                "name=Bob",
                "-d",
                "city=S%C3%A3o+Paulo",
                "/form"
            ]
        ),
        json!({"form": {"name": ["Ann", "Bob"], "city": ["São Paulo"]}})
    );
}

#[test]
fn flask_file_upload() {
    let text = String::from_utf8(report()).unwrap();
    assert_eq!(
        run_json(
            FLASK,
            &[
                "-F",
                &format!("file=@{}", report_path()),
                "-F",
                "note=quarterly",
                "/upload"
            ]
        ),
        json!({
            "filename": "report.txt",
            "size": 8760,
            "content_type": "text/plain",
            "text": text,
            "fields": {"note": "quarterly"},
        })
    );
}

#[test]
fn flask_binary_upload_with_a_guessed_type() {
    let dir = temp_dir("flask-png");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let png = write_file(&dir, "picture.png", &bytes);
    let reply = run_json(
        FLASK,
        &["-F", &format!("file=@{}", png.display()), "/upload"],
    );
    assert_eq!(reply["filename"], "picture.png");
    assert_eq!(reply["size"], 5000);
    assert_eq!(reply["content_type"], "image/png");
}

#[test]
fn flask_reads_and_sets_cookies() {
    let out = run(
        FLASK,
        &["-i", "-H", "Cookie: a=1", "-H", "Cookie: b=two", "/cookies"],
    );
    out.assert_ok();
    let response = out.included();
    assert_eq!(
        response.all("Set-Cookie"),
        ["session=abc123; HttpOnly; Path=/", "theme=dark; Path=/"]
    );
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body, json!({"cookies": {"a": "1", "b": "two"}}));
}

#[test]
fn flask_url_for_sees_the_script_name() {
    assert_eq!(
        run_json(FLASK, &["--script-name", "/prefix", "/prefix/urls"]),
        json!({
            "relative": "/prefix/hello/x",
            "external": "http://localhost/prefix/hello/x",
            "script_root": "/prefix",
            "path": "/urls",
        })
    );
}

#[test]
fn flask_external_urls_follow_the_target_url() {
    let reply = run_json(
        FLASK,
        &["--script-name", "/app", "https://example.com:8443/app/urls"],
    );
    assert_eq!(reply["external"], "https://example.com:8443/app/hello/x");
    assert_eq!(reply["relative"], "/app/hello/x");
}

#[test]
fn flask_send_file() {
    let out = run(FLASK, &["-i", "/report"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "text/plain; charset=utf-8");
    assert_eq!(response.one("Content-Length"), "8760");
    assert_eq!(response.body, report());
}

#[test]
fn flask_send_file_range() {
    let out = run(FLASK, &["-i", "-H", "Range: bytes=10-19", "/report"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 206 PARTIAL CONTENT");
    assert_eq!(response.one("Content-Range"), "bytes 10-19/8760");
    assert_eq!(response.body, report()[10..20]);
}

#[test]
fn flask_send_file_not_modified() {
    let first = run(FLASK, &["-i", "/report"]);
    first.assert_ok();
    let etag = first.included().one("ETag").to_string();
    let out = run(
        FLASK,
        &["-i", "-H", &format!("If-None-Match: {etag}"), "/report"],
    );
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 304 NOT MODIFIED");
    assert!(response.body.is_empty(), "{}", out.dump());
}

#[test]
fn flask_streamed_response() {
    run(FLASK, &["/stream"])
        .assert_ok()
        .assert_stdout("part 0\npart 1\npart 2\n");
}

#[test]
fn flask_unknown_route_is_a_404() {
    let out = run(FLASK, &["-i", "/nowhere"]);
    out.assert_ok();
    assert_eq!(out.included().status_line, "HTTP/1.1 404 NOT FOUND");
    run(FLASK, &["-f", "/nowhere"]).assert_code(22);
}

#[test]
fn flask_view_error_is_flasks_500_page() {
    // Flask catches the view's exception itself, logs it to wsgi.errors and answers 500: for
    // rwsgi the app answered normally.
    let out = run(FLASK, &["-i", "/boom"]);
    out.assert_ok()
        .assert_stderr_has("RuntimeError: flask view failed");
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 500 INTERNAL SERVER ERROR");
    assert_eq!(response.one("Content-Type"), "text/html; charset=utf-8");
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.contains("<h1>Internal Server Error</h1>"), "{body}");
    run(FLASK, &["-f", "/boom"]).assert_code(22);
}

#[test]
fn flask_head_request() {
    let out = run(FLASK, &["-I", "/"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Length"), "12");
    assert!(response.body.is_empty());
}

#[test]
fn flask_validated() {
    // wsgiref's validator accepts only read(size) on wsgi.input, which Werkzeug does not
    // always use, so only requests without a body go through it.
    let spec = "validated:wrap('flask_app', 'app')";
    assert_eq!(run_json(spec, &["/hello/v"]), json!({"hello": "v"}));
    let out = run(spec, &["/report"]);
    out.assert_ok()
        .assert_stdout(report())
        .assert_stderr_lacks("AssertionError")
        .assert_stderr_lacks("WSGIWarning");
    run(spec, &["/stream"])
        .assert_ok()
        .assert_stdout("part 0\npart 1\npart 2\n");
}

// ---------------------------------------------------------------------------------------------
// Bottle

const BOTTLE: &str = "bottle_app";

#[test]
fn bottle_route() {
    let out = run(BOTTLE, &["-i", "/hello/x"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "application/json");
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body, json!({"hello": "x", "method": "GET"}));
}

#[test]
fn bottle_form_post() {
    assert_eq!(
        run_json(BOTTLE, &["-d", "name=Zo%C3%AB", "/form"]),
        json!({"name": "Zoë"})
    );
}

#[test]
fn bottle_route_error_is_bottles_500_page() {
    // Bottle (catchall on) writes the traceback to wsgi.errors, renders its error page and
    // passes sys.exc_info() to start_response before anything was sent. PEP 3333 lets that
    // replace the response, so the user gets Bottle's 500 page and rwsgi exits 0.
    let out = run(BOTTLE, &["-i", "/boom"]);
    out.assert_ok()
        .assert_stderr_has("RuntimeError: bottle route failed")
        .assert_stderr_lacks("rwsgi: error:");
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 500 Internal Server Error");
    assert_eq!(response.one("Content-Type"), "text/html; charset=UTF-8");
    let body = String::from_utf8(response.body).unwrap();
    assert!(
        body.contains("<title>Error: 500 Internal Server Error</title>"),
        "{body}"
    );
    assert!(body.contains("http://localhost/boom"), "{body}");
    run(BOTTLE, &["-f", "/boom"]).assert_code(22);
}

#[test]
fn bottle_unknown_route_is_a_404() {
    let out = run(BOTTLE, &["-i", "/nowhere"]);
    out.assert_ok();
    assert_eq!(out.included().status_line, "HTTP/1.1 404 Not Found");
}

#[test]
fn bottle_validated() {
    let spec = "validated:wrap('bottle_app')";
    assert_eq!(
        run_json(spec, &["/hello/v"]),
        json!({"hello": "v", "method": "GET"})
    );
    let out = run(spec, &["-i", "/boom"]);
    out.assert_ok()
        .assert_stderr_lacks("AssertionError")
        .assert_stderr_lacks("WSGIWarning");
    assert_eq!(
        out.included().status_line,
        "HTTP/1.1 500 Internal Server Error"
    );
}

// ---------------------------------------------------------------------------------------------
// Django

const DJANGO: &str = "djproj.wsgi";

#[test]
fn django_plain_view() {
    let out = run(DJANGO, &["-i", "/plain/"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "text/plain");
    assert_eq!(response.body, b"django plain\n");
}

#[test]
fn django_append_slash_redirect_keeps_the_script_name() {
    let out = run(DJANGO, &["-i", "/plain"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 301 Moved Permanently");
    assert_eq!(response.one("Location"), "/plain/");

    let out = run(DJANGO, &["-i", "--script-name", "/prefix", "/prefix/plain"]);
    out.assert_ok();
    assert_eq!(out.included().one("Location"), "/prefix/plain/");
}

#[test]
fn django_csrf_exempt_form_post() {
    assert_eq!(
        run_json(
            DJANGO,
            &["-d", "a=1", "-d", "a=2", "-d", "b=x%20y", "/form/"]
        ),
        json!({"method": "POST", "form": {"a": ["1", "2"], "b": ["x y"]}})
    );
}

#[test]
fn django_csrf_protected_post_is_refused() {
    let out = run(DJANGO, &["-i", "-d", "a=1", "/protected/"]);
    out.assert_ok();
    assert_eq!(out.included().status_line, "HTTP/1.1 403 Forbidden");
    run(DJANGO, &["-f", "-d", "a=1", "/protected/"]).assert_code(22);
}

#[test]
fn django_file_upload() {
    assert_eq!(
        run_json(
            DJANGO,
            &[
                "-F",
                &format!("file=@{}", report_path()),
                "-F",
                "kind=report",
                "/upload/"
            ]
        ),
        json!({
            "name": "report.txt",
            "size": 8760,
            "content_type": "text/plain",
            "fields": {"kind": "report"},
        })
    );
}

#[test]
fn django_streaming_response() {
    run(DJANGO, &["/stream/"])
        .assert_ok()
        .assert_stdout("row 0\nrow 1\nrow 2\nrow 3\n");
}

#[test]
fn django_file_response() {
    let out = run(DJANGO, &["-i", "/report/"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 200 OK");
    assert_eq!(response.one("Content-Type"), "text/plain");
    assert_eq!(response.one("Content-Length"), "8760");
    assert_eq!(
        response.one("Content-Disposition"),
        "inline; filename=\"report.txt\""
    );
    assert_eq!(response.body, report());
}

#[test]
fn django_non_ascii_path() {
    assert_eq!(
        run_json(DJANGO, &["/caf%C3%A9/"]),
        json!({"path": "/café/"})
    );
}

#[test]
fn django_sees_script_name_scheme_and_host() {
    assert_eq!(
        run_json(
            DJANGO,
            &[
                "--script-name",
                "/prefix",
                "https://example.com/prefix/where/"
            ]
        ),
        json!({
            "script_name": "/prefix",
            "path": "/prefix/where/",
            "path_info": "/where/",
            "absolute": "https://example.com/prefix/where/",
            "reverse": "/prefix/plain/",
            "secure": true,
        })
    );
}

#[test]
fn django_refuses_a_host_not_in_allowed_hosts() {
    let out = run(DJANGO, &["-i", "-H", "Host: evil.test", "/plain/"]);
    out.assert_ok();
    assert_eq!(out.included().status_line, "HTTP/1.1 400 Bad Request");
}

#[test]
fn django_view_error_is_djangos_500_page() {
    let out = run(DJANGO, &["-i", "/boom/"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 500 Internal Server Error");
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.contains("<h1>Server Error (500)</h1>"), "{body}");
    run(DJANGO, &["-f", "/boom/"]).assert_code(22);
}

#[test]
fn django_unknown_path_is_a_404() {
    let out = run(DJANGO, &["-i", "/nowhere/"]);
    out.assert_ok();
    assert_eq!(out.included().status_line, "HTTP/1.1 404 Not Found");
}

#[test]
fn django_validated() {
    let spec = "validated:wrap('djproj.wsgi')";
    let out = run(spec, &["/report/"]);
    out.assert_ok()
        .assert_stdout(report())
        .assert_stderr_lacks("AssertionError")
        .assert_stderr_lacks("WSGIWarning");
    assert_eq!(
        run_json(spec, &["-d", "a=1", "/form/"]),
        json!({"method": "POST", "form": {"a": ["1"]}})
    );
    run(spec, &["/stream/"])
        .assert_ok()
        .assert_stdout("row 0\nrow 1\nrow 2\nrow 3\n");
}

#[test]
fn django_cookie_on_a_204_has_no_leading_space_and_no_content_length() {
    // Django writes Set-Cookie as SimpleCookie's output, with a leading space, and gives a 204
    // `Content-Length: 0`; RFC 9110 sections 5.5 and 8.6 want neither on the wire.
    let out = run(DJANGO, &["-i", "/cookie/"]);
    out.assert_ok();
    let response = out.included();
    assert_eq!(response.status_line, "HTTP/1.1 204 No Content");
    assert_eq!(response.one("Set-Cookie"), "seen=1; Path=/");
    assert!(response.all("Content-Length").is_empty(), "{}", out.dump());
    assert!(response.body.is_empty(), "{}", out.dump());

    // The same through a Lambda function URL's reply: its `cookies` array.
    let dir = temp_dir("django-cookie-event");
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/cookie/",
        "rawQueryString": "",
        "headers": {"host": "example.com", "user-agent": "curl/8.5.0"},
        "requestContext": {
            "accountId": "anonymous",
            "domainName": "example.com",
            "domainPrefix": "example",
            "http": {
                "method": "GET",
                "path": "/cookie/",
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "curl/8.5.0"
            },
            "requestId": "6a1b8a5e-3f0c-4a8e-9c4f-7d2b1e0a9f11",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Apr/2024:15:08:21 +0000",
            "timeEpoch": 1713712101067_u64
        },
        "isBase64Encoded": false
    });
    let path = write_file(&dir, "event.json", event.to_string());
    let venv = test_venv().display().to_string();
    let out = crate::util::rwsgi([
        "event",
        "--venv",
        venv.as_str(),
        "--app",
        DJANGO,
        &path.display().to_string(),
    ])
    .run();
    out.assert_ok();
    let reply = out.json();
    assert_eq!(reply["statusCode"], json!(204), "{}", out.dump());
    assert_eq!(
        reply["cookies"],
        json!(["seen=1; Path=/"]),
        "{}",
        out.dump()
    );
    assert_eq!(
        reply["headers"].get("Content-Length"),
        None,
        "{}",
        out.dump()
    );
    assert_eq!(reply["body"], json!(""), "{}", out.dump());
}
