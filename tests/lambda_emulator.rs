//! End-to-end tests of Lambda mode: the built `rwsgi` runs as the custom runtime of a function
//! served by `cargo lambda watch --only-lambda-apis`, cargo-lambda's Runtime API emulator
//! (pinned in tests/requirements.txt; `scripts/test` installs it in `RWSGI_TEST_VENV`).
//!
//! Requests reach the app the two ways a user's do: over HTTP through the emulator's Function
//! URL emulation (`/lambda-url/<function>/...`, which builds a payload 2.0 event and turns the
//! reply back into an HTTP response), and as hand-written API Gateway and ALB events posted to
//! its Invoke endpoint (`POST /2015-03-31/functions/<function>/invocations`), whose answer is
//! the reply JSON exactly as rwsgi posted it to the Runtime API.
//!
//! Each test starts its own emulator and runtime on a free port of 127.0.0.1 and kills both
//! when it ends, whether it passes or not.

use std::fs::{self};
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::util::{self, Running, TempDir, apps_dir, test_venv, wait_for};

/// The function's name. The emulator only routes to functions that are binaries of the Cargo
/// package in its working folder: `template/Cargo.toml`, shipped for this, declares this one.
const FUNCTION: &str = "app";

/// The HTTP client's limit for connecting, sending and receiving. The emulator is started
/// without `--timeout`: its timeout applies to every route, the runtime's long-polling
/// `GET /runtime/invocation/next` included, which it would answer 408 once the runtime had been
/// idle that long (and a runtime stops at a `/next` that fails). The client's limit is what
/// bounds a request that never gets an answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a client waiting for an answer checks that both processes still run, so that a
/// runtime that died fails the test at once rather than at CLIENT_TIMEOUT.
const POLL: Duration = Duration::from_millis(100);

/// How long the emulator may take to start listening (it answers in about 0.1 s).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);

/// The Flask app of `tests/apps/flask_app.py` with a binary download, several cookies and an
/// upload echo added (`tests/apps/flask_lambda.py`).
const FLASK: &str = "flask_lambda:app";

/// The Django project in `tests/apps/djproj`.
const DJANGO: &str = "djproj.wsgi";

fn cargo_lambda(venv: &Path) -> PathBuf {
    let bin = venv.join("bin").join("cargo-lambda");
    assert!(
        bin.is_file(),
        "{} is missing: the test virtualenv was made before cargo-lambda joined \
         tests/requirements.txt. Run scripts/test, which re-creates the virtualenv when that \
         file changes.",
        bin.display()
    );
    bin
}

// ---------------------------------------------------------------------------------------------
// Processes and folders that clean up after themselves

/// A folder of its own under the system's temporary folder (outside this repository, so that
/// `cargo metadata` on the stand-in package finds no workspace above it), removed with
/// everything in it.
fn temp_dir(label: &str) -> TempDir {
    TempDir::new_in(&std::env::temp_dir(), &format!("lambda-emulator-{label}"))
}

/// A port of 127.0.0.1 that nothing listens on at the moment.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}

/// The Cargo package `cargo lambda watch` insists on: the emulator reads its binaries (with
/// `cargo metadata`) to know which function names exist. The starter's `template/Cargo.toml`
/// is that package, as the README tells users to run it; nothing is ever built from it.
fn write_stand_in_package(dir: &Path) {
    fs::create_dir_all(dir).expect("creating the stand-in package");
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("template/Cargo.toml");
    fs::copy(&manifest, dir.join("Cargo.toml")).expect("copying template/Cargo.toml");
}

/// The emulator on a free port of 127.0.0.1. A port that another process takes between
/// `free_port` and the emulator's bind makes the emulator exit; then a new port is tried.
fn start_emulator(bin: &Path, dir: &Path) -> (Running, u16) {
    let package = dir.join("function");
    write_stand_in_package(&package);
    let mut logs = Vec::new();
    for _attempt in 1..=3 {
        let port = free_port();
        let mut command = util::program(bin, ["lambda", "watch", "--only-lambda-apis"])
            .arg("--ignore-changes")
            // The emulator listens on every interface (`::`) unless told otherwise.
            .args(["--invoke-address", "127.0.0.1"])
            .args(["--invoke-port", &port.to_string()])
            .cwd(&package);
        // What it needs to run `cargo metadata` on the stand-in package; nothing else of the
        // caller's environment (AWS settings, CARGO_LAMBDA_* options) reaches it.
        for name in [
            "PATH",
            "HOME",
            "CARGO",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "RUSTUP_TOOLCHAIN",
        ] {
            if let Some(value) = std::env::var_os(name) {
                command = command.env(name, value);
            }
        }
        let emulator = command.spawn();
        // Listening, or gone (then tried again on another port).
        let listening = wait_for(STARTUP_TIMEOUT, || {
            if !emulator.running() {
                return Some(false);
            }
            (emulator.output().contains("starting Runtime server")
                && TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    Duration::from_secs(1),
                )
                .is_ok())
            .then_some(true)
        });
        match listening {
            Some(true) => return (emulator, port),
            Some(false) => logs.push(emulator.output()),
            None => panic!(
                "the emulator did not listen on 127.0.0.1:{port} within {STARTUP_TIMEOUT:?}; \
                 its output:\n{}",
                emulator.output()
            ),
        }
    }
    panic!(
        "the emulator exited before listening, three times; its output:\n{}",
        logs.join("\n---\n")
    );
}

/// One function: the emulator, and rwsgi serving `app` as its runtime.
struct Lambda {
    // Fields drop in this order: the runtime first, then the emulator it talks to, then the
    // folder holding both logs.
    runtime: Running,
    emulator: Running,
    port: u16,
    _dir: TempDir,
}

impl Lambda {
    fn start(app: &str) -> Lambda {
        Lambda::start_with(app, &[])
    }

    /// [`Lambda::start`] with more environment variables for the runtime.
    fn start_with(app: &str, env: &[(&str, &str)]) -> Lambda {
        let venv = test_venv();
        let bin = cargo_lambda(&venv);
        let dir = temp_dir(&app.replace([':', '.', '/'], "_"));
        let (emulator, port) = start_emulator(&bin, &dir.0);

        // No subcommand: like a Lambda `bootstrap`, rwsgi finds its mode from
        // AWS_LAMBDA_RUNTIME_API.
        let mut command = util::rwsgi(Vec::<String>::new())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LAMBDA_TASK_ROOT", apps_dir())
            .env("RWSGI_APP", app)
            .env("RWSGI_VENV", &venv)
            // The emulator serves each function's Runtime API under `/.rt/<function>`; with no
            // function in the path it would hand this runtime the invocations of `_`, its
            // default function, instead.
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{port}/.rt/{FUNCTION}"),
            )
            // The variables the emulator tells a runtime it starts by hand to set.
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096");
        for (key, value) in env {
            command = command.env(key, value);
        }
        let runtime = command.spawn();
        Lambda {
            runtime,
            emulator,
            port,
            _dir: dir,
        }
    }

    /// Both processes' output, for failure messages.
    fn logs(&self) -> String {
        format!(
            "--- rwsgi's log:\n{}\n--- the emulator's log:\n{}",
            self.runtime.output(),
            self.emulator.output()
        )
    }

    /// One request to the emulator; a failure to get an answer shows both logs.
    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let gone = || {
            if !self.runtime.running() {
                Some("rwsgi exited".to_string())
            } else if !self.emulator.running() {
                Some("the emulator exited".to_string())
            } else {
                None
            }
        };
        http(self.port, method, target, headers, body, &gone).unwrap_or_else(|e| {
            panic!(
                "{method} {target} got no HTTP answer from the emulator: {e}\n{}",
                self.logs()
            )
        })
    }

    /// A request through the Function URL emulation, `path` being the function's own.
    fn url(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpResponse {
        self.send(
            method,
            &format!("/lambda-url/{FUNCTION}{path}"),
            headers,
            body,
        )
    }

    fn get(&self, path: &str) -> HttpResponse {
        self.url("GET", path, &[], b"")
    }

    /// The Invoke endpoint's answer to `event`: its HTTP status and the JSON rwsgi posted.
    fn invoke_raw(&self, event: &Value) -> (u16, Value) {
        let response = self.send(
            "POST",
            &format!("/2015-03-31/functions/{FUNCTION}/invocations"),
            &[("Content-Type", "application/json")],
            &serde_json::to_vec(event).expect("serializing the event"),
        );
        let reply = serde_json::from_slice(&response.body).unwrap_or_else(|e| {
            panic!(
                "the Invoke endpoint answered {} with a body that is not JSON ({e}): {:?}\n{}",
                response.status,
                String::from_utf8_lossy(&response.body),
                self.logs()
            )
        });
        (response.status, reply)
    }

    /// The reply to an HTTP event, which the Runtime API takes as a successful invocation.
    fn invoke(&self, event: &Value) -> Value {
        let (status, reply) = self.invoke_raw(event);
        self.expect(status == 200, &format!("Invoke answered {status}: {reply}"));
        reply
    }

    fn expect_status(&self, response: &HttpResponse, status: u16) {
        self.expect(
            response.status == status,
            &format!(
                "expected HTTP {status}, got {} with {:?} and body {:?}",
                response.status,
                response.headers,
                String::from_utf8_lossy(&response.body)
            ),
        );
    }

    fn expect(&self, ok: bool, what: &str) {
        if !ok {
            panic!("{what}\n{}", self.logs());
        }
    }

    /// The runtime is still serving: no request along the way made it exit.
    fn assert_still_serving(&self) {
        if !self.runtime.running() {
            panic!("rwsgi exited during the test\n{}", self.logs());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 client

#[derive(Debug)]
struct HttpResponse {
    status: u16,
    /// In the order received, names as sent (the emulator sends them in lower case).
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    /// Every value of the header `name`, in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of the header `name`.
    fn one(&self, name: &str) -> &str {
        match self.all(name)[..] {
            [value] => value,
            ref other => panic!("expected one {name} header, got {other:?}"),
        }
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("a UTF-8 body")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {:?}", self.text()))
    }
}

/// One request on a connection of its own (`Connection: close`: the answer ends where the
/// connection does, and its length is then checked against Content-Length). A `Host` among
/// `headers` replaces the default `127.0.0.1:PORT`. While it waits, `gone` says whether there
/// is still anyone to answer.
fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    gone: &dyn Fn() -> Option<String>,
) -> Result<HttpResponse, String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream =
        TcpStream::connect_timeout(&address, CLIENT_TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(POLL))
        .and_then(|()| stream.set_write_timeout(Some(CLIENT_TIMEOUT)))
        .map_err(|e| e.to_string())?;

    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).map_err(|e| e.to_string())?;

    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let mut raw = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return parse_response(&raw),
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if let Some(why) = gone() {
                    return Err(format!("{why} after {} bytes of the answer", raw.len()));
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "no complete answer within {CLIENT_TIMEOUT:?} ({} bytes came)",
                        raw.len()
                    ));
                }
            }
            Err(e) => return Err(format!("{e} after {} bytes of the answer", raw.len())),
        }
    }
}

fn parse_response(raw: &[u8]) -> Result<HttpResponse, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {:?}", String::from_utf8_lossy(raw)))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("not a header line: {line:?}"))?;
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = &raw[end + 4..];
    response.body = if response
        .all("transfer-encoding")
        .iter()
        .any(|v| v.eq_ignore_ascii_case("chunked"))
    {
        dechunk(rest)?
    } else if let Some(length) = response.all("content-length").first() {
        let length: usize = length.parse().map_err(|_| "a bad Content-Length")?;
        if rest.len() != length {
            return Err(format!(
                "Content-Length says {length} bytes, the connection carried {}",
                rest.len()
            ));
        }
        rest.to_vec()
    } else {
        rest.to_vec()
    };
    Ok(response)
}

/// A chunked body (RFC 9112, section 7.1), without trailers.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line without its end")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|e| e.to_string())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("a bad chunk size {size_text:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err("a chunk cut short".into());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies

const BOUNDARY: &str = "----rwsgi-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body (RFC 7578): text fields, then files as (field, file name,
/// content type, bytes).
fn multipart(fields: &[(&str, &str)], files: &[(&str, &str, &str, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for (name, filename, content_type, data) in files {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn multipart_type() -> String {
    format!("multipart/form-data; boundary={BOUNDARY}")
}

/// What `/download?size=N` sends: byte i is ((i * 131) ^ (i >> 8)) & 0xFF.
fn download_bytes(size: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 131) ^ (i >> 8)) as u8).collect()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn report() -> Vec<u8> {
    fs::read(apps_dir().join("files").join("report.txt")).expect("tests/apps/files/report.txt")
}

const FORM: &str = "name=Ann&name=Bob&city=S%C3%A3o+Paulo";

// ---------------------------------------------------------------------------------------------
// Flask through the Function URL emulation

#[test]
fn flask_json_in_and_out() {
    let lambda = Lambda::start(FLASK);
    let response = lambda.url(
        "POST",
        "/json",
        &[("Content-Type", "application/json")],
        r#"{"n": [1, 2], "s": "é"}"#.as_bytes(),
    );
    lambda.expect_status(&response, 200);
    assert_eq!(response.one("content-type"), "application/json");
    assert_eq!(
        response.text(),
        "{\"method\":\"POST\",\"received\":{\"n\":[1,2],\"s\":\"\\u00e9\"}}\n"
    );
    assert_eq!(response.one("content-length"), "54");
    lambda.assert_still_serving();
}

#[test]
fn flask_query_string_present_and_absent() {
    let lambda = Lambda::start(FLASK);
    let response = lambda.get("/args?tag=a&tag=b&q=x%20y");
    lambda.expect_status(&response, 200);
    assert_eq!(response.json(), json!({"tags": ["a", "b"], "q": "x y"}));

    // No query at all: the emulator sends `"rawQueryString": null`.
    let response = lambda.get("/args");
    lambda.expect_status(&response, 200);
    assert_eq!(response.json(), json!({"tags": [], "q": null}));

    let response = lambda.get("/");
    lambda.expect_status(&response, 200);
    assert_eq!(response.one("content-type"), "text/html; charset=utf-8");
    assert_eq!(response.text(), "flask index\n");
    lambda.assert_still_serving();
}

#[test]
fn flask_form_post() {
    // The emulator base64-encodes every body that is not text/* or JSON, forms included.
    let lambda = Lambda::start(FLASK);
    let response = lambda.url(
        "POST",
        "/form",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        FORM.as_bytes(),
    );
    lambda.expect_status(&response, 200);
    assert_eq!(
        response.text(),
        "{\"form\":{\"city\":[\"S\\u00e3o Paulo\"],\"name\":[\"Ann\",\"Bob\"]}}\n"
    );
    lambda.assert_still_serving();
}

#[test]
fn flask_multipart_upload() {
    let lambda = Lambda::start(FLASK);
    let text = report();
    let body = multipart(
        &[("note", "quarterly")],
        &[("file", "report.txt", "text/plain", &text)],
    );
    let response = lambda.url(
        "POST",
        "/upload",
        &[("Content-Type", &multipart_type())],
        &body,
    );
    lambda.expect_status(&response, 200);
    assert_eq!(
        response.json(),
        json!({
            "filename": "report.txt",
            "size": 8760,
            "content_type": "text/plain",
            "text": String::from_utf8(text).unwrap(),
            "fields": {"note": "quarterly"},
        })
    );

    // Binary both ways: every byte value up, the same bytes back.
    let picture: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let body = multipart(
        &[("note", "holiday")],
        &[("file", "picture.png", "image/png", &picture)],
    );
    let response = lambda.url(
        "POST",
        "/upload-echo",
        &[("Content-Type", &multipart_type())],
        &body,
    );
    lambda.expect_status(&response, 200);
    assert_eq!(response.one("content-type"), "image/png");
    assert_eq!(response.one("x-filename"), "picture.png");
    assert_eq!(response.one("x-note"), "holiday");
    assert_eq!(response.one("content-length"), "5000");
    assert!(response.body == picture, "the echoed upload differs");
    lambda.assert_still_serving();
}

#[test]
fn flask_several_cookies_all_arrive() {
    let lambda = Lambda::start(FLASK);
    let response = lambda.url("GET", "/cookies", &[("Cookie", "a=1; b=two")], b"");
    lambda.expect_status(&response, 200);
    assert_eq!(response.json(), json!({"cookies": {"a": "1", "b": "two"}}));
    assert_eq!(
        response.all("set-cookie"),
        ["session=abc123; HttpOnly; Path=/", "theme=dark; Path=/"]
    );

    let response = lambda.get("/many-cookies");
    lambda.expect_status(&response, 200);
    assert_eq!(response.text(), "four cookies\n");
    assert_eq!(
        response.all("set-cookie"),
        [
            "a=1; Path=/",
            "b=2; HttpOnly; Path=/",
            "c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure; Path=/; SameSite=Lax",
            "d=4; Path=/; SameSite=Strict",
        ]
    );
    lambda.assert_still_serving();
}

#[test]
fn flask_binary_download_is_byte_exact() {
    let lambda = Lambda::start(FLASK);
    let response = lambda.get("/download?size=300000");
    lambda.expect_status(&response, 200);
    assert_eq!(response.one("content-type"), "application/octet-stream");
    assert_eq!(
        response.one("content-disposition"),
        "attachment; filename=data.bin"
    );
    assert_eq!(response.one("content-length"), "300000");
    let expected = download_bytes(300_000);
    assert_eq!(response.body.len(), expected.len());
    let first_difference = response
        .body
        .iter()
        .zip(&expected)
        .position(|(a, b)| a != b);
    assert_eq!(
        first_difference, None,
        "the download differs from byte {first_difference:?}"
    );
    lambda.assert_still_serving();
}

#[test]
fn flask_two_hundred_requests_in_a_row() {
    let lambda = Lambda::start(FLASK);
    for i in 0..200 {
        let response = lambda.get(&format!("/hello/user{i}"));
        lambda.expect_status(&response, 200);
        assert_eq!(response.text(), format!("{{\"hello\":\"user{i}\"}}\n"));
    }
    lambda.assert_still_serving();
}

#[test]
fn flask_view_error_is_a_500_and_the_runtime_goes_on() {
    let lambda = Lambda::start(FLASK);
    let response = lambda.get("/boom");
    lambda.expect_status(&response, 500);
    assert_eq!(response.one("content-type"), "text/html; charset=utf-8");
    assert_eq!(
        response.text(),
        "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n\
         <h1>Internal Server Error</h1>\n<p>The server encountered an internal error and was \
         unable to complete your request. Either the server is overloaded or there is an error \
         in the application.</p>\n"
    );
    // Flask logs the traceback, which reaches the function's log.
    let log = lambda.runtime.output();
    lambda.expect(
        log.contains("RuntimeError: flask view failed"),
        "the traceback is not in rwsgi's log",
    );

    let response = lambda.get("/hello/again");
    lambda.expect_status(&response, 200);
    assert_eq!(response.text(), "{\"hello\":\"again\"}\n");
    lambda.assert_still_serving();
}

// ---------------------------------------------------------------------------------------------
// Django through the Function URL emulation

/// Django answers only for its ALLOWED_HOSTS, `localhost` among them: the Host header a browser
/// sends for `http://localhost:PORT/`.
fn django_host(lambda: &Lambda) -> String {
    format!("localhost:{}", lambda.port)
}

#[test]
fn django_views_see_host_scheme_and_paths() {
    let lambda = Lambda::start(DJANGO);
    let host = django_host(&lambda);

    let response = lambda.url("GET", "/plain/", &[("Host", &host)], b"");
    lambda.expect_status(&response, 200);
    assert_eq!(response.one("content-type"), "text/plain");
    // From SecurityMiddleware.
    assert_eq!(response.one("x-content-type-options"), "nosniff");
    assert_eq!(response.one("referrer-policy"), "same-origin");
    assert_eq!(response.text(), "django plain\n");

    // The emulator's function URLs are plain HTTP, and its events say so (`http` in
    // `requestContext.http.protocol`): the app builds http links, as a browser reached it.
    let response = lambda.url("GET", "/where/", &[("Host", &host)], b"");
    lambda.expect_status(&response, 200);
    assert_eq!(
        response.json(),
        json!({
            "script_name": "",
            "path": "/where/",
            "path_info": "/where/",
            "absolute": format!("http://{host}/where/"),
            "reverse": "/plain/",
            "secure": false,
        })
    );
    // Behind a TLS proxy that says so, https.
    let response = lambda.url(
        "GET",
        "/where/",
        &[("Host", &host), ("X-Forwarded-Proto", "https")],
        b"",
    );
    lambda.expect_status(&response, 200);
    assert_eq!(
        response.json()["absolute"],
        format!("https://{host}/where/")
    );
    assert_eq!(response.json()["secure"], true);

    // APPEND_SLASH.
    let response = lambda.url("GET", "/plain", &[("Host", &host)], b"");
    lambda.expect_status(&response, 301);
    assert_eq!(response.one("location"), "/plain/");

    // A Host outside ALLOWED_HOSTS.
    let response = lambda.get("/plain/");
    lambda.expect_status(&response, 400);
    lambda.assert_still_serving();
}

#[test]
fn django_form_post_and_csrf() {
    let lambda = Lambda::start(DJANGO);
    let host = django_host(&lambda);
    let form_type = ("Content-Type", "application/x-www-form-urlencoded");

    let response = lambda.url(
        "POST",
        "/form/",
        &[("Host", &host), form_type],
        FORM.as_bytes(),
    );
    lambda.expect_status(&response, 200);
    assert_eq!(response.one("content-type"), "application/json");
    assert_eq!(
        response.json(),
        json!({"method": "POST", "form": {"name": ["Ann", "Bob"], "city": ["São Paulo"]}})
    );

    // A view without csrf_exempt refuses a POST without a token.
    let response = lambda.url("POST", "/protected/", &[("Host", &host), form_type], b"a=1");
    lambda.expect_status(&response, 403);

    // A browser's form POST with its token: Django compares the Origin the browser sends
    // (`http://`, as the emulator is reached) with the scheme the request was told it has.
    let token = "q8W2e4R6t1Y3u5I7o9P0a2S4d6F8g1H3";
    let origin = format!("http://{host}");
    let cookie = format!("csrftoken={token}");
    let response = lambda.url(
        "POST",
        "/protected/",
        &[
            ("Host", &host),
            form_type,
            ("Origin", &origin),
            ("Cookie", &cookie),
        ],
        format!("csrfmiddlewaretoken={token}&a=1").as_bytes(),
    );
    lambda.expect_status(&response, 200);
    lambda.assert_still_serving();
}

#[test]
fn django_multipart_upload() {
    let lambda = Lambda::start(DJANGO);
    let host = django_host(&lambda);
    let data: Vec<u8> = (0..=255u8).rev().cycle().take(70_000).collect();
    let body = multipart(
        &[("note", "quarterly"), ("who", "Zoë")],
        &[("file", "blob.bin", "application/octet-stream", &data)],
    );
    let response = lambda.url(
        "POST",
        "/upload/",
        &[("Host", &host), ("Content-Type", &multipart_type())],
        &body,
    );
    lambda.expect_status(&response, 200);
    assert_eq!(
        response.json(),
        json!({
            "name": "blob.bin",
            "size": 70000,
            "content_type": "application/octet-stream",
            "fields": {"note": "quarterly", "who": "Zoë"},
        })
    );
    lambda.assert_still_serving();
}

#[test]
fn django_non_ascii_path() {
    // The emulator passes the path as the client sent it, percent-encoded, in `rawPath`, as a
    // function URL does; its `requestContext.domainName` is `localhost`, though, not a
    // `*.lambda-url.<region>.on.aws` name.
    let lambda = Lambda::start(DJANGO);
    let host = django_host(&lambda);
    let response = lambda.url("GET", "/caf%C3%A9/", &[("Host", &host)], b"");
    lambda.expect_status(&response, 200);
    assert_eq!(response.text(), "{\"path\": \"/caf\\u00e9/\"}");
    lambda.assert_still_serving();
}

#[test]
fn django_file_response() {
    let lambda = Lambda::start(DJANGO);
    let host = django_host(&lambda);
    let response = lambda.url("GET", "/report/", &[("Host", &host)], b"");
    lambda.expect_status(&response, 200);
    assert_eq!(response.one("content-type"), "text/plain");
    assert_eq!(response.one("content-length"), "8760");
    assert!(response.body == report(), "the file arrived changed");
    lambda.assert_still_serving();
}

// ---------------------------------------------------------------------------------------------
// Events through the Invoke endpoint

/// The `headers` and `multiValueHeaders` of a REST API or ALB event: the last value of each
/// name, and every value of each name, in the order given.
fn header_maps(headers: &[(&str, &str)]) -> (Value, Value) {
    let mut single = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in headers {
        single.insert(name.to_string(), json!(value));
        match multi.get_mut(*name) {
            Some(Value::Array(values)) => values.push(json!(value)),
            _ => {
                multi.insert(name.to_string(), json!([value]));
            }
        }
    }
    (Value::Object(single), Value::Object(multi))
}

/// The same for query parameters; `null` for both when there are none, as API Gateway sends.
fn query_maps(query: &[(&str, &str)]) -> (Value, Value) {
    if query.is_empty() {
        return (Value::Null, Value::Null);
    }
    header_maps(query)
}

const REST_DOMAIN: &str = "abc123defg.execute-api.eu-west-1.amazonaws.com";

/// An API Gateway REST API proxy event (Lambda proxy integration, `/{proxy+}` on stage
/// `prod`), as the API's own execute-api domain delivers it. `query` holds decoded values.
fn rest_event(
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    extra_headers: &[(&str, &str)],
    body: Option<(&str, bool)>,
) -> Value {
    let mut headers = vec![
        ("Accept", "*/*"),
        ("CloudFront-Forwarded-Proto", "https"),
        ("CloudFront-Viewer-Country", "IE"),
        ("Host", REST_DOMAIN),
        ("User-Agent", "curl/8.5.0"),
        ("Via", "2.0 9d1b5c8e3a4f6b7c.cloudfront.net (CloudFront)"),
        (
            "X-Amz-Cf-Id",
            "p6dTbXYmQfKj0LlnEw0cD1nhJc6Pjf7xwBTQoGXrF2XmZcJQ2kq1-A==",
        ),
        (
            "X-Amzn-Trace-Id",
            "Root=1-6740ce28-2c5d1f3b7a9e4d6c8b0a1f2e",
        ),
        ("X-Forwarded-For", "203.0.113.7, 130.176.96.140"),
        ("X-Forwarded-Port", "443"),
        ("X-Forwarded-Proto", "https"),
    ];
    headers.extend_from_slice(extra_headers);
    let (headers, multi_headers) = header_maps(&headers);
    let (query, multi_query) = query_maps(query);
    let (body, is_base64) = match body {
        Some((text, encoded)) => (json!(text), encoded),
        None => (Value::Null, false),
    };
    json!({
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "stageVariables": null,
        "requestContext": {
            "resourceId": "x1y2z3",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "extendedRequestId": "BqkYgHrODoEFsQw=",
            "requestTime": "21/Nov/2026:06:10:00 +0000",
            "path": format!("/prod{path}"),
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "domainPrefix": "abc123defg",
            "requestTimeEpoch": 1795241400000u64,
            "requestId": "8a4e2f0c-1b3d-4e5f-9a7b-6c8d0e2f4a6b",
            "identity": {
                "cognitoIdentityPoolId": null,
                "accountId": null,
                "cognitoIdentityId": null,
                "caller": null,
                "sourceIp": "203.0.113.7",
                "principalOrgId": null,
                "accessKey": null,
                "cognitoAuthenticationType": null,
                "cognitoAuthenticationProvider": null,
                "userArn": null,
                "userAgent": "curl/8.5.0",
                "user": null
            },
            "domainName": REST_DOMAIN,
            "deploymentId": "q1w2e3",
            "apiId": "abc123defg"
        },
        "body": body,
        "isBase64Encoded": is_base64
    })
}

#[test]
fn invoke_rest_api_events() {
    let lambda = Lambda::start(FLASK);

    // The stage is in the URL on the execute-api domain: SCRIPT_NAME is /prod.
    let reply = lambda.invoke(&rest_event("GET", "/urls", &[], &[], None));
    let body = format!(
        "{{\"external\":\"https://{REST_DOMAIN}/prod/hello/x\",\"path\":\"/urls\",\
         \"relative\":\"/prod/hello/x\",\"script_root\":\"/prod\"}}\n"
    );
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "multiValueHeaders": {
                "Content-Type": ["application/json"],
                "Content-Length": [body.len().to_string()],
            },
            "body": body,
            "isBase64Encoded": false,
        })
    );

    // Cookies in, several Set-Cookie out, each its own list item.
    let reply = lambda.invoke(&rest_event(
        "GET",
        "/cookies",
        &[],
        &[("Cookie", "a=1"), ("Cookie", "b=two")],
        None,
    ));
    let body = "{\"cookies\":{\"a\":\"1\",\"b\":\"two\"}}\n";
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "multiValueHeaders": {
                "Content-Type": ["application/json"],
                "Content-Length": [body.len().to_string()],
                "Set-Cookie": ["session=abc123; HttpOnly; Path=/", "theme=dark; Path=/"],
            },
            "body": body,
            "isBase64Encoded": false,
        })
    );

    // A repeated query key, a JSON body in, binary out.
    let reply = lambda.invoke(&rest_event(
        "GET",
        "/args",
        &[("tag", "a b"), ("tag", "c&d"), ("q", "100%")],
        &[],
        None,
    ));
    assert_eq!(reply["statusCode"], 200);
    assert_eq!(
        reply["body"],
        "{\"q\":\"100%\",\"tags\":[\"a b\",\"c&d\"]}\n"
    );
    let reply = lambda.invoke(&rest_event(
        "POST",
        "/json",
        &[],
        &[("Content-Type", "application/json")],
        Some((r#"{"s": "naïve"}"#, false)),
    ));
    assert_eq!(reply["statusCode"], 200);
    assert_eq!(
        reply["body"],
        "{\"method\":\"POST\",\"received\":{\"s\":\"na\\u00efve\"}}\n"
    );
    let reply = lambda.invoke(&rest_event(
        "GET",
        "/download",
        &[("size", "1000")],
        &[],
        None,
    ));
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "multiValueHeaders": {
                "Content-Disposition": ["attachment; filename=data.bin"],
                "Content-Type": ["application/octet-stream"],
                "Content-Length": ["1000"],
                "Cache-Control": ["no-cache"],
            },
            "body": b64(&download_bytes(1000)),
            "isBase64Encoded": true,
        })
    );
    lambda.assert_still_serving();
}

const HTTP_API_DOMAIN: &str = "r3pmxmplak.execute-api.us-east-2.amazonaws.com";

/// An API Gateway HTTP API event, payload format 2.0, on the named stage `prod` (which is in
/// the URL, so in `rawPath`), route `ANY /{proxy+}`.
fn http_api_event(
    method: &str,
    path: &str,
    raw_query: &str,
    cookies: &[&str],
    extra_headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let length = body.map(|b| b.len().to_string());
    let mut headers = serde_json::Map::new();
    for (name, value) in [
        ("accept", "*/*"),
        ("content-length", length.as_deref().unwrap_or("")),
        ("host", HTTP_API_DOMAIN),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101",
        ),
        (
            "x-amzn-trace-id",
            "Root=1-6740ce28-0a1b2c3d4e5f60718293a4b5",
        ),
        ("x-forwarded-for", "198.51.100.23"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-proto", "https"),
    ]
    .into_iter()
    .chain(extra_headers.iter().copied())
    .filter(|(_, value)| !value.is_empty())
    {
        headers.insert(name.to_string(), json!(value));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": format!("/prod{path}"),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": HTTP_API_DOMAIN,
            "domainPrefix": "r3pmxmplak",
            "http": {
                "method": method,
                "path": format!("/prod{path}"),
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.23",
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101"
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "ANY /{proxy+}",
            "stage": "prod",
            "time": "21/Nov/2026:06:10:00 +0000",
            "timeEpoch": 1795241400000u64
        },
        "pathParameters": {"proxy": path.trim_start_matches('/')},
        "isBase64Encoded": false
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

#[test]
fn invoke_http_api_events() {
    let lambda = Lambda::start(FLASK);

    // The `cookies` array becomes the Cookie header; every Set-Cookie goes to `cookies`.
    let reply = lambda.invoke(&http_api_event(
        "GET",
        "/cookies",
        "",
        &["a=1", "b=two"],
        &[],
        None,
    ));
    let body = "{\"cookies\":{\"a\":\"1\",\"b\":\"two\"}}\n";
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "headers": {
                "Content-Type": "application/json",
                "Content-Length": body.len().to_string(),
            },
            "cookies": ["session=abc123; HttpOnly; Path=/", "theme=dark; Path=/"],
            "body": body,
            "isBase64Encoded": false,
        })
    );

    let reply = lambda.invoke(&http_api_event("GET", "/many-cookies", "", &[], &[], None));
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "headers": {"Content-Type": "text/plain; charset=utf-8", "Content-Length": "13"},
            "cookies": [
                "a=1; Path=/",
                "b=2; HttpOnly; Path=/",
                "c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure; Path=/; SameSite=Lax",
                "d=4; Path=/; SameSite=Strict",
            ],
            "body": "four cookies\n",
            "isBase64Encoded": false,
        })
    );

    // A named stage leads the path: SCRIPT_NAME is /prod.
    let reply = lambda.invoke(&http_api_event("GET", "/urls", "", &[], &[], None));
    let body = format!(
        "{{\"external\":\"https://{HTTP_API_DOMAIN}/prod/hello/x\",\"path\":\"/urls\",\
         \"relative\":\"/prod/hello/x\",\"script_root\":\"/prod\"}}\n"
    );
    assert_eq!(reply["statusCode"], 200);
    assert_eq!(reply["body"], body);

    let reply = lambda.invoke(&http_api_event(
        "POST",
        "/json",
        "",
        &[],
        &[("content-type", "application/json")],
        Some(r#"{"list": [true, null]}"#),
    ));
    assert_eq!(reply["statusCode"], 200);
    assert_eq!(
        reply["body"],
        "{\"method\":\"POST\",\"received\":{\"list\":[true,null]}}\n"
    );
    assert_eq!(reply["isBase64Encoded"], false);

    let reply = lambda.invoke(&http_api_event(
        "GET",
        "/download",
        "size=300",
        &[],
        &[],
        None,
    ));
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "headers": {
                "Content-Disposition": "attachment; filename=data.bin",
                "Content-Type": "application/octet-stream",
                "Content-Length": "300",
                "Cache-Control": "no-cache",
            },
            "cookies": [],
            "body": b64(&download_bytes(300)),
            "isBase64Encoded": true,
        })
    );
    lambda.assert_still_serving();
}

/// An Application Load Balancer event; `multi_value` as when the target group has
/// multi-value headers turned on. ALB passes the query string still encoded.
fn alb_event(
    multi_value: bool,
    method: &str,
    path: &str,
    query: &[(&str, &str)],
    extra_headers: &[(&str, &str)],
    body: (&str, bool),
) -> Value {
    let mut headers = vec![
        ("accept", "text/html,application/xhtml+xml"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("host", "lambda-alb-123578498.us-east-2.elb.amazonaws.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101",
        ),
        (
            "x-amzn-trace-id",
            "Root=1-6740ce28-5f4e3d2c1b0a998877665544",
        ),
        ("x-forwarded-for", "72.12.164.125"),
        ("x-forwarded-port", "80"),
        ("x-forwarded-proto", "http"),
    ];
    headers.extend_from_slice(extra_headers);
    let (headers, multi_headers) = header_maps(&headers);
    let (query, multi_query) = header_maps(query);
    let mut event = json!({
        "requestContext": {
            "elb": {
                "targetGroupArn": "arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a"
            }
        },
        "httpMethod": method,
        "path": path,
        "body": body.0,
        "isBase64Encoded": body.1
    });
    if multi_value {
        event["multiValueQueryStringParameters"] = multi_query;
        event["multiValueHeaders"] = multi_headers;
    } else {
        event["queryStringParameters"] = query;
        event["headers"] = headers;
    }
    event
}

#[test]
fn invoke_alb_events() {
    let lambda = Lambda::start(FLASK);

    // Single-value headers: the first Set-Cookie under the app's spelling, each further one
    // under another letter case of the name, since a name may appear only once.
    let reply = lambda.invoke(&alb_event(
        false,
        "GET",
        "/many-cookies",
        &[],
        &[],
        ("", false),
    ));
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "statusDescription": "200 OK",
            "headers": {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": "13",
                "Set-Cookie": "a=1; Path=/",
                "set-cookie": "b=2; HttpOnly; Path=/",
                "Set-cookie": "c=3; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure; Path=/; SameSite=Lax",
                "sEt-cookie": "d=4; Path=/; SameSite=Strict",
            },
            "body": "four cookies\n",
            "isBase64Encoded": false,
        })
    );

    // The query arrives still encoded and is passed on as it is.
    let reply = lambda.invoke(&alb_event(
        false,
        "GET",
        "/args",
        &[("tag", "a%20b"), ("q", "x%2By")],
        &[],
        ("", false),
    ));
    assert_eq!(reply["statusCode"], 200);
    assert_eq!(reply["body"], "{\"q\":\"x+y\",\"tags\":[\"a b\"]}\n");

    // Multi-value mode: repeated query keys and headers, a base64 form body, and the reply's
    // headers as lists.
    let reply = lambda.invoke(&alb_event(
        true,
        "GET",
        "/cookies",
        &[],
        &[("cookie", "a=1"), ("cookie", "b=two")],
        ("", false),
    ));
    let body = "{\"cookies\":{\"a\":\"1\",\"b\":\"two\"}}\n";
    assert_eq!(
        reply,
        json!({
            "statusCode": 200,
            "statusDescription": "200 OK",
            "multiValueHeaders": {
                "Content-Type": ["application/json"],
                "Content-Length": [body.len().to_string()],
                "Set-Cookie": ["session=abc123; HttpOnly; Path=/", "theme=dark; Path=/"],
            },
            "body": body,
            "isBase64Encoded": false,
        })
    );
    let reply = lambda.invoke(&alb_event(
        true,
        "GET",
        "/args",
        &[("tag", "a"), ("tag", "b"), ("q", "x%20y")],
        &[],
        ("", false),
    ));
    assert_eq!(reply["body"], "{\"q\":\"x y\",\"tags\":[\"a\",\"b\"]}\n");
    let reply = lambda.invoke(&alb_event(
        true,
        "POST",
        "/form",
        &[],
        &[("content-type", "application/x-www-form-urlencoded")],
        (&b64(FORM.as_bytes()), true),
    ));
    assert_eq!(reply["statusCode"], 200);
    assert_eq!(reply["statusDescription"], "200 OK");
    assert_eq!(
        reply["body"],
        "{\"form\":{\"city\":[\"S\\u00e3o Paulo\"],\"name\":[\"Ann\",\"Bob\"]}}\n"
    );
    let reply = lambda.invoke(&alb_event(true, "GET", "/nowhere", &[], &[], ("", false)));
    assert_eq!(reply["statusCode"], 404);
    assert_eq!(reply["statusDescription"], "404 NOT FOUND");
    lambda.assert_still_serving();
}

#[test]
fn invoke_non_http_event_is_an_invocation_error() {
    let lambda = Lambda::start(FLASK);
    let scheduled = json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-21T06:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-schedule"],
        "detail": {}
    });
    let (status, reply) = lambda.invoke_raw(&scheduled);
    assert_eq!(status, 500, "{reply}");
    assert_eq!(
        reply,
        json!({
            "errorMessage": "an event with the keys [\"version\", \"id\", \"detail-type\", \
                             \"source\", \"account\", \"time\", \"region\", \"resources\", \
                             \"detail\"] is not an HTTP request from API Gateway, a function \
                             URL, an ALB or VPC Lattice; set RWSGI_EVENT_HANDLER=module:function \
                             to handle it",
            "errorType": "Rwsgi.UnsupportedEvent",
            "stackTrace": [],
        })
    );

    // The next invocation is served as usual.
    let reply = lambda.invoke(&http_api_event("GET", "/hello/next", "", &[], &[], None));
    assert_eq!(reply["body"], "{\"hello\":\"next\"}\n");
    lambda.assert_still_serving();
}

/// API Gateway calls a function that is its own Lambda authorizer twice per request: first with
/// the authorizer input (which goes to RWSGI_EVENT_HANDLER, never to the app), then, once
/// allowed, with the request (which goes to the app).
#[test]
fn invoke_one_function_as_the_app_and_its_own_authorizer() {
    let lambda = Lambda::start_with(
        "self_authorized",
        &[("RWSGI_EVENT_HANDLER", "self_authorized:authorize")],
    );
    let fixture = |name: &str| -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/lambda")
            .join(name);
        serde_json::from_slice(&fs::read(&path).expect("reading a fixture")).expect("JSON")
    };

    let mut input = fixture("rest-authorizer-request.json");
    input["headers"]["Authorization"] = json!("Bearer letmein");
    input["multiValueHeaders"]["Authorization"] = json!(["Bearer letmein"]);
    let policy = lambda.invoke(&input);
    assert_eq!(policy["principalId"], json!("letmein-user"), "{policy}");
    assert_eq!(
        policy["policyDocument"]["Statement"][0]["Effect"],
        json!("Allow")
    );

    let simple = lambda.invoke(&fixture("httpapi-authorizer-v2.json"));
    assert_eq!(
        simple,
        json!({"isAuthorized": false, "context": {"checkedBy": FUNCTION}})
    );

    // The request the REST authorizer allowed, with the principal API Gateway adds.
    let mut request = fixture("rest-iam.json");
    request["requestContext"]["authorizer"] = json!({"principalId": "letmein-user"});
    let reply = lambda.invoke(&request);
    assert_eq!(reply["statusCode"], json!(200), "{reply}");
    let seen: Value =
        serde_json::from_str(reply["body"].as_str().expect("a text body")).expect("the app's JSON");
    assert_eq!(seen["REMOTE_USER"], json!("letmein-user"));
    assert_eq!(seen["SCRIPT_NAME"], json!("/staging"));
    assert_eq!(seen["PATH_INFO"], json!("/reports/2024"));
    lambda.assert_still_serving();
}

// ---------------------------------------------------------------------------------------------
// Response streaming through the Function URL emulation, which streams a reply posted with
// `Lambda-Runtime-Function-Response-Mode: streaming` to its client as it arrives

#[test]
fn a_streamed_reply_reaches_the_function_url_client_as_the_app_makes_it() {
    let lambda = Lambda::start_with(
        "streaming:application",
        &[("RWSGI_INVOKE_MODE", "response_stream")],
    );
    // A first request, so the runtime is up and polling before the timed one.
    let warm = lambda.get("/cookies");
    lambda.expect_status(&warm, 200);
    assert_eq!(warm.text(), "with cookies\n");
    assert_eq!(warm.all("set-cookie").len(), 2, "{:?}", warm.headers);

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, lambda.port));
    let mut stream = TcpStream::connect_timeout(&address, CLIENT_TIMEOUT).unwrap();
    stream.set_read_timeout(Some(POLL)).unwrap();
    write!(
        stream,
        "GET /lambda-url/{FUNCTION}/slow?n=3&gap=0.3 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    // The bytes as they came, each read with its time.
    let mut raw = Vec::new();
    let mut reads: Vec<(f64, usize)> = Vec::new();
    let mut buffer = vec![0; 64 * 1024];
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buffer[..n]);
                reads.push((now(), raw.len()));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                lambda.expect(Instant::now() < deadline, "no end to the streamed answer");
            }
            Err(e) => panic!("{e}\n{}", lambda.logs()),
        }
    }
    let response = parse_response(&raw).unwrap_or_else(|e| panic!("{e}\n{}", lambda.logs()));
    lambda.expect_status(&response, 200);
    let text = response.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text:?}");
    let made: Vec<f64> = lines
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    for i in 0..3 {
        let needle = format!("{}\n", lines[i]);
        let end = raw
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap()
            + needle.len();
        let arrived = reads.iter().find(|(_, got)| *got >= end).unwrap().0;
        assert!(
            arrived < made[i + 1],
            "line {i} reached the client at {arrived:.6}, after the app made line {} at {:.6}\n{}",
            i + 1,
            made[i + 1],
            lambda.logs()
        );
    }
    lambda.assert_still_serving();
}
