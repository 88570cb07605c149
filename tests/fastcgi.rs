//! FastCGI mode from the outside, with a FastCGI client of the test's own that speaks the
//! records of the FastCGI Specification 1.0 byte by byte
//! (<https://fastcgi-archives.github.io/FastCGI_Specification.html>), so that malformed and
//! unusual records can be sent too; and libfcgi's `cgi-fcgi` as a client rwsgi did not write. The contract is
//! docs/cgi.md#fastcgi.
//! The end-to-end tests under real web servers are in tests/cgi_servers.rs.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{
    self, LIMIT, Running, TempDir, apps_dir, rss_kib, rwsgi_bin, sha256_hex, wait_for,
};

const BEGIN_REQUEST: u8 = 1;
const ABORT_REQUEST: u8 = 2;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
const GET_VALUES: u8 = 9;
const GET_VALUES_RESULT: u8 = 10;
const UNKNOWN_TYPE: u8 = 11;

const TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The client

fn record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
    let mut out = vec![1, kind];
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&(content.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(content);
    out
}

fn stream(kind: u8, id: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(40_000) {
        out.extend(record(kind, id, chunk));
    }
    out.extend(record(kind, id, b""));
    out
}

fn pairs(list: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let length = |n: usize, out: &mut Vec<u8>| {
        if n < 128 {
            out.push(n as u8);
        } else {
            out.extend_from_slice(&((n as u32) | 0x8000_0000).to_be_bytes());
        }
    };
    for (name, value) in list {
        length(name.len(), &mut out);
        length(value.len(), &mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value);
    }
    out
}

fn begin(id: u16, role: u16, keep: bool) -> Vec<u8> {
    let [r1, r0] = role.to_be_bytes();
    record(BEGIN_REQUEST, id, &[r1, r0, u8::from(keep), 0, 0, 0, 0, 0])
}

/// What came back for one request.
#[derive(Debug, Default)]
struct Reply {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    app_status: u32,
    protocol_status: u8,
}

impl Reply {
    /// The CGI response in FCGI_STDOUT: status, headers and body.
    fn response(&self) -> (String, Vec<(String, String)>, Vec<u8>) {
        let end = self
            .stdout
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of headers in {self:?}"));
        let head = String::from_utf8_lossy(&self.stdout[..end]).into_owned();
        let mut status = String::new();
        let mut headers = Vec::new();
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(": ").expect("a header line");
            if name == "Status" {
                status = value.to_string();
            } else {
                headers.push((name.to_string(), value.to_string()));
            }
        }
        (status, headers, self.stdout[end + 4..].to_vec())
    }

    fn status(&self) -> String {
        self.response().0
    }

    fn body(&self) -> Vec<u8> {
        self.response().2
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body()).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

struct Client {
    sock: UnixStream,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let sock = UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", path.display()));
        sock.set_read_timeout(Some(TIMEOUT)).unwrap();
        sock.set_write_timeout(Some(TIMEOUT)).unwrap();
        Client { sock }
    }

    fn send(&mut self, data: &[u8]) {
        self.sock.write_all(data).expect("send records");
    }

    /// One record, or `None` when the server closed the connection.
    fn read_record(&mut self) -> Option<(u8, u16, Vec<u8>)> {
        let mut header = [0u8; 8];
        let mut got = 0;
        while got < 8 {
            match self.sock.read(&mut header[got..]) {
                Ok(0) => {
                    assert_eq!(got, 0, "the connection ended inside a record header");
                    return None;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("reading a record: {e}"),
            }
        }
        assert_eq!(header[0], 1, "version");
        let len = u16::from_be_bytes([header[4], header[5]]) as usize;
        let padding = header[6] as usize;
        let mut content = vec![0u8; len + padding];
        self.sock.read_exact(&mut content).expect("record content");
        content.truncate(len);
        Some((
            header[1],
            u16::from_be_bytes([header[2], header[3]]),
            content,
        ))
    }

    /// Reads records until the FCGI_END_REQUEST of `id`.
    fn reply(&mut self, id: u16) -> Reply {
        let mut reply = Reply::default();
        loop {
            let (kind, rid, content) = self
                .read_record()
                .unwrap_or_else(|| panic!("the connection closed before END_REQUEST: {reply:?}"));
            assert_eq!(rid, id, "a record for another request");
            match kind {
                STDOUT => reply.stdout.extend(content),
                STDERR => reply.stderr.extend(content),
                END_REQUEST => {
                    reply.app_status =
                        u32::from_be_bytes([content[0], content[1], content[2], content[3]]);
                    reply.protocol_status = content[4];
                    return reply;
                }
                other => panic!("unexpected record type {other}"),
            }
        }
    }

    fn request(&mut self, id: u16, keep: bool, params: &[(&str, &[u8])], body: &[u8]) -> Reply {
        let mut data = begin(id, 1, keep);
        data.extend(stream(PARAMS, id, &pairs(params)));
        data.extend(stream(STDIN, id, body));
        self.send(&data);
        self.reply(id)
    }

    fn get(&mut self, id: u16, keep: bool, path: &str) -> Reply {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        self.request(
            id,
            keep,
            &[
                ("REQUEST_METHOD", b"GET"),
                ("SCRIPT_NAME", b"/app"),
                ("PATH_INFO", path.as_bytes()),
                ("QUERY_STRING", query.as_bytes()),
                ("SERVER_NAME", b"localhost"),
                ("SERVER_PORT", b"80"),
                ("SERVER_PROTOCOL", b"HTTP/1.1"),
                ("GATEWAY_INTERFACE", b"CGI/1.1"),
            ],
            b"",
        )
    }

    /// True when the server closed the connection (reads end).
    fn closed(&mut self) -> bool {
        self.read_record().is_none()
    }
}

/// One request on a new connection, without FCGI_KEEP_CONN.
fn get(sock: &Path, path: &str) -> Reply {
    Client::connect(sock).get(1, false, path)
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// A folder of its own under the system's temporary folder, removed when dropped: short enough
/// a path for the Unix socket in it (a socket's path is at most 107 bytes, unix(7)).
fn temp_dir(name: &str) -> TempDir {
    TempDir::new_in(&std::env::temp_dir(), &format!("fastcgi-{name}"))
}

/// `rwsgi fastcgi`, its output captured; its process group is killed when dropped, then its
/// folder removed.
struct Server {
    process: Running,
    sock: PathBuf,
    dir: TempDir,
}

impl Server {
    /// `rwsgi fastcgi --bind unix:DIR/app.sock ARGS...`, run in tests/apps.
    fn start(name: &str, args: &[&str]) -> Server {
        Server::start_with(name, args, &[])
    }

    fn start_with(name: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        let dir = temp_dir(name);
        let sock = dir.join("app.sock");
        let bind = format!("unix:{}", sock.display());
        let mut command = Command::new(rwsgi_bin());
        command
            .args(["fastcgi", "--bind", &bind])
            .args(args)
            .stdin(Stdio::null());
        let server = Server::spawn(command, dir, sock, env);
        server.wait_ready();
        server.wait_workers(1);
        server
    }

    /// Waits until at least `n` workers run.
    fn wait_workers(&self, n: usize) {
        wait_for(LIMIT, || (self.workers().len() >= n).then_some(()))
            .unwrap_or_else(|| panic!("{n} workers did not start\n{}", self.log_text()));
    }

    /// Starts `command` (its standard input set by the caller: nothing, or the listening
    /// socket) in tests/apps, in a process group of its own.
    fn spawn(mut command: Command, dir: TempDir, sock: PathBuf, env: &[(&str, &str)]) -> Server {
        command
            .current_dir(apps_dir())
            .env_remove("RWSGI_APP")
            .env_remove("RWSGI_WORKERS")
            .env_remove("RWSGI_MAX_REQUESTS")
            .env_remove("VIRTUAL_ENV")
            .env_remove("RWSGI_VENV")
            .env_remove("GATEWAY_INTERFACE");
        for (k, v) in env {
            command.env(k, v);
        }
        Server {
            process: Running::start("rwsgi fastcgi", command, true),
            sock,
            dir,
        }
    }

    fn wait_ready(&self) {
        wait_for(LIMIT, || UnixStream::connect(&self.sock).ok()).unwrap_or_else(|| {
            panic!(
                "rwsgi fastcgi did not listen on {}\n{}",
                self.sock.display(),
                self.log_text()
            )
        });
    }

    /// Everything it wrote, stdout and stderr.
    fn log_text(&self) -> String {
        self.process.output()
    }

    /// Waits until the log holds `needle`.
    fn assert_logged(&self, needle: &str) {
        wait_for(LIMIT, || self.log_text().contains(needle).then_some(()))
            .unwrap_or_else(|| panic!("the log lacks {needle:?}:\n{}", self.log_text()));
    }

    fn pid(&self) -> i32 {
        self.process.pid() as i32
    }

    /// The worker processes: the parent's children.
    fn workers(&self) -> Vec<i32> {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid()))
            .unwrap_or_default();
        children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    fn signal(&self, signal: i32) {
        // SAFETY: signalling the child this test started.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// Waits for the parent to exit; its status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        self.process
            .wait_status(LIMIT)
            .unwrap_or_else(|| panic!("rwsgi did not exit\n{}", self.log_text()))
    }
}

// ---------------------------------------------------------------------------------------------
// The requests

#[test]
fn a_request_gets_the_cgi_environ_of_a_long_lived_server() {
    let server = Server::start("environ", &["--workers", "1", "--app", "echo.py"]);
    let reply = Client::connect(&server.sock).request(
        1,
        false,
        &[
            ("REQUEST_METHOD", b"POST"),
            ("SCRIPT_NAME", b"/cgi-bin/echo.wsgi"),
            ("PATH_INFO", b"/caf\xc3\xa9"),
            ("QUERY_STRING", b"x=1&x=2"),
            ("CONTENT_TYPE", b"text/plain"),
            ("CONTENT_LENGTH", b"5"),
            ("HTTP_HOST", b"example.org:8080"),
            ("HTTP_X_ODD", b"\x80\xfe"),
            ("HTTP_PROXY", b"http://evil"),
        ],
        b"hello",
    );
    assert_eq!(reply.status(), "200 OK");
    assert_eq!(reply.protocol_status, 0);
    assert_eq!(reply.app_status, 0);
    let environ = reply.json();
    for (key, value) in [
        ("REQUEST_METHOD", "POST"),
        ("PATH_INFO", "/caf\u{c3}\u{a9}"),
        ("QUERY_STRING", "x=1&x=2"),
        ("CONTENT_LENGTH", "5"),
        ("SERVER_NAME", "example.org"),
        ("SERVER_PORT", "8080"),
        ("HTTP_X_ODD", "\u{80}\u{fe}"),
        ("HTTP_PROXY", "http://evil"),
        ("body", "hello"),
    ] {
        assert_eq!(environ[key], value, "{key} in {environ:#}");
    }
    assert_eq!(environ["wsgi.run_once"], false);
    assert_eq!(environ["wsgi.multiprocess"], true);
    assert_eq!(environ["wsgi.multithread"], false);
}

#[test]
fn a_large_body_streams_in_and_a_short_one_is_refused() {
    let server = Server::start("body", &["--workers", "1", "--app", "echo.py"]);
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let len = body.len().to_string();
    let reply = Client::connect(&server.sock).request(
        1,
        false,
        &[
            ("REQUEST_METHOD", b"PUT"),
            ("QUERY_STRING", b"read=n:65536"),
            ("CONTENT_LENGTH", len.as_bytes()),
        ],
        &body,
    );
    let environ = reply.json();
    assert_eq!(environ["CONTENT_LENGTH"], len.as_str());
    let sha = environ["body_sha256"].as_str().unwrap().to_string();
    assert_eq!(sha256_hex(&body), sha);

    // CGI's rules: a body shorter than CONTENT_LENGTH is a 400, and the worker serves on.
    let reply = Client::connect(&server.sock).request(
        1,
        false,
        &[("REQUEST_METHOD", b"POST"), ("CONTENT_LENGTH", b"10")],
        b"short",
    );
    assert_eq!(reply.status(), "400 Bad Request");
    assert!(
        String::from_utf8_lossy(&reply.stderr).contains("ended after 5 of the 10 bytes"),
        "{reply:?}"
    );
    assert_eq!(get(&server.sock, "/").status(), "200 OK");
    // RFC 3875 section 4.3.2: rwsgi's own answer to HEAD has no body either.
    let reply = Client::connect(&server.sock).request(
        1,
        false,
        &[("REQUEST_METHOD", b"HEAD"), ("CONTENT_LENGTH", b"x")],
        b"",
    );
    assert_eq!(reply.status(), "400 Bad Request");
    assert_eq!(reply.body(), b"");
}

#[test]
fn management_records_are_answered() {
    let server = Server::start("values", &["--workers", "3", "--app", "echo.py"]);
    let mut client = Client::connect(&server.sock);
    let asked = pairs(&[
        ("FCGI_MAX_CONNS", b""),
        ("FCGI_MAX_REQS", b""),
        ("FCGI_MPXS_CONNS", b""),
        ("SOMETHING_ELSE", b""),
    ]);
    client.send(&record(GET_VALUES, 0, &asked));
    let (kind, id, content) = client.read_record().unwrap();
    assert_eq!((kind, id), (GET_VALUES_RESULT, 0));
    assert_eq!(
        content,
        pairs(&[
            ("FCGI_MAX_CONNS", b"3"),
            ("FCGI_MAX_REQS", b"3"),
            ("FCGI_MPXS_CONNS", b"0"),
        ])
    );
    // Section 4.2: an unknown management record type.
    client.send(&record(77, 0, b"whatever"));
    let (kind, id, content) = client.read_record().unwrap();
    assert_eq!((kind, id), (UNKNOWN_TYPE, 0));
    assert_eq!(content, [77, 0, 0, 0, 0, 0, 0, 0]);
    // The connection still serves.
    assert_eq!(client.get(1, false, "/").status(), "200 OK");
}

#[test]
fn roles_other_than_responder_are_refused() {
    let server = Server::start("role", &["--workers", "1", "--app", "echo.py"]);
    let mut client = Client::connect(&server.sock);
    // The Authorizer role (2), with the connection kept.
    client.send(&begin(5, 2, true));
    let (kind, id, content) = client.read_record().unwrap();
    assert_eq!((kind, id), (END_REQUEST, 5));
    assert_eq!(content[4], 3, "FCGI_UNKNOWN_ROLE");
    // Its params are ignored (section 3.3); the next request is served.
    client.send(&stream(PARAMS, 5, &pairs(&[("A", b"1")])));
    assert_eq!(client.get(6, false, "/").status(), "200 OK");
}

#[test]
fn keep_conn_is_honoured_and_one_request_at_a_time() {
    let server = Server::start("keep", &["--workers", "1", "--app", "fcgi_app.py"]);
    let mut client = Client::connect(&server.sock);
    for id in 1..=3 {
        assert_eq!(client.get(id, true, "/hello").text(), "Hello, FastCGI!\n");
    }
    // A second request while one is in progress: FCGI_CANT_MPX_CONN (section 5.5).
    client.send(&begin(10, 1, true));
    client.send(&begin(11, 1, true));
    let (kind, id, content) = client.read_record().unwrap();
    assert_eq!((kind, id, content[4]), (END_REQUEST, 11, 1));
    client.send(&stream(PARAMS, 10, &pairs(&[("PATH_INFO", b"/hello")])));
    client.send(&stream(STDIN, 10, b""));
    assert_eq!(client.reply(10).text(), "Hello, FastCGI!\n");
    // Without FCGI_KEEP_CONN, the connection is closed after the request.
    assert_eq!(client.get(12, false, "/hello").status(), "200 OK");
    assert!(client.closed());
}

#[test]
fn a_new_connection_is_served_though_its_request_comes_after_another_connects() {
    // A web server connects, and writes its request a moment later. The one worker must wait
    // for it, not take the connection behind it for an idle one and close it unread (which
    // nginx reported as "502 Bad Gateway" about once in 100,000 requests).
    let server = Server::start("fresh", &["--workers", "1", "--app", "fcgi_app.py"]);
    let mut first = Client::connect(&server.sock);
    let mut second = Client::connect(&server.sock);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(first.get(1, false, "/hello").text(), "Hello, FastCGI!\n");
    assert!(first.closed());
    assert_eq!(second.get(1, false, "/hello").text(), "Hello, FastCGI!\n");
}

#[test]
fn an_idle_kept_connection_is_let_go_when_another_waits() {
    let server = Server::start("idle", &["--workers", "1", "--app", "fcgi_app.py"]);
    let mut kept = Client::connect(&server.sock);
    assert_eq!(kept.get(1, true, "/hello").text(), "Hello, FastCGI!\n");
    // The one worker idles on the kept connection; another connection is served all the same,
    // and the kept one is closed.
    let mut other = Client::connect(&server.sock);
    assert_eq!(other.get(1, false, "/hello").text(), "Hello, FastCGI!\n");
    assert!(kept.closed());
}

#[test]
fn wsgi_errors_and_tracebacks_go_to_fcgi_stderr() {
    let server = Server::start("stderr", &["--workers", "1", "--app", "fcgi_app.py"]);
    let reply = get(&server.sock, "/errors");
    assert_eq!(reply.text(), "logged\n");
    assert_eq!(
        String::from_utf8_lossy(&reply.stderr),
        "first line to wsgi.errors\nsecond line to wsgi.errors\n"
    );
    let server = Server::start("raise", &["--workers", "1", "--app", "raising.py"]);
    let reply = get(&server.sock, "/?at=call");
    assert_eq!(reply.status(), "500 Internal Server Error");
    let stderr = String::from_utf8_lossy(&reply.stderr);
    assert!(
        stderr.contains("rwsgi: error: the application failed before sending a response")
            && stderr.contains("RuntimeError: raised at call"),
        "{stderr}"
    );
}

#[test]
fn an_abort_ends_the_response_and_calls_close() {
    let server = Server::start("abort", &["--workers", "1", "--app", "fcgi_app.py"]);
    let marker = server.dir.join("closed");
    let mut client = Client::connect(&server.sock);
    let target = format!("/stream?marker={}", marker.display());
    let (path, query) = target.split_once('?').unwrap();
    let mut data = begin(1, 1, true);
    data.extend(stream(
        PARAMS,
        1,
        &pairs(&[
            ("PATH_INFO", path.as_bytes()),
            ("QUERY_STRING", query.as_bytes()),
        ]),
    ));
    data.extend(stream(STDIN, 1, b""));
    client.send(&data);
    // The first chunk arrives while the app runs.
    let (kind, _, content) = client.read_record().unwrap();
    assert_eq!(kind, STDOUT);
    assert!(String::from_utf8_lossy(&content).starts_with("Status: 200 OK"));
    client.send(&record(ABORT_REQUEST, 1, b""));
    let started = Instant::now();
    let reply = client.reply(1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the abort took {:?}",
        started.elapsed()
    );
    assert_eq!(reply.protocol_status, 0);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "closed");
    // The kept connection serves on.
    assert_eq!(client.get(2, true, "/hello").text(), "Hello, FastCGI!\n");
}

#[test]
fn malformed_records_end_the_connection_and_the_worker_serves_on() {
    let server = Server::start("malformed", &["--workers", "1", "--app", "fcgi_app.py"]);
    // A record of version 2.
    let mut client = Client::connect(&server.sock);
    client.send(&[2, BEGIN_REQUEST, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert!(client.closed());
    server.assert_logged("FastCGI version 2");
    // A BEGIN_REQUEST too short to hold its body.
    let mut client = Client::connect(&server.sock);
    client.send(&record(BEGIN_REQUEST, 1, &[0]));
    assert!(client.closed());
    server.assert_logged("shorter than its body");
    // Params whose lengths run past their end: answered 500, logged.
    let mut client = Client::connect(&server.sock);
    let mut data = begin(1, 1, false);
    data.extend(stream(PARAMS, 1, &[200, 1, b'A']));
    data.extend(stream(STDIN, 1, b""));
    client.send(&data);
    let reply = client.reply(1);
    assert_eq!(reply.status(), "500 Internal Server Error");
    assert!(String::from_utf8_lossy(&reply.stderr).contains("malformed FastCGI params"));
    // Params past the limit: 431.
    let big = vec![b'x'; 70_000];
    let mut client = Client::connect(&server.sock);
    let mut params = Vec::new();
    for i in 0..20 {
        params.extend(pairs(&[(&format!("HTTP_X_{i}"), &big)]));
    }
    let mut data = begin(1, 1, false);
    data.extend(stream(PARAMS, 1, &params));
    data.extend(stream(STDIN, 1, b""));
    client.send(&data);
    assert_eq!(
        client.reply(1).status(),
        "431 Request Header Fields Too Large"
    );
    // A peer that vanishes in the middle of a record, and in the middle of a body.
    let mut client = Client::connect(&server.sock);
    client.send(&begin(1, 1, false)[..5]);
    drop(client);
    let mut client = Client::connect(&server.sock);
    let mut data = begin(1, 1, false);
    data.extend(stream(PARAMS, 1, &pairs(&[("CONTENT_LENGTH", b"100")])));
    data.extend(record(STDIN, 1, b"only part of it"));
    client.send(&data);
    drop(client);
    server.assert_logged("closed the connection in the middle of");
    // Through all of it, one worker, still the same process, serving.
    let workers = server.workers();
    assert_eq!(get(&server.sock, "/hello").text(), "Hello, FastCGI!\n");
    assert_eq!(server.workers(), workers);
    assert!(
        !server.log_text().contains("starting another"),
        "{}",
        server.log_text()
    );
}

#[test]
fn a_client_that_goes_away_mid_response_costs_only_its_request() {
    let server = Server::start("gone", &["--workers", "1", "--app", "fcgi_app.py"]);
    let marker = server.dir.join("closed");
    let mut client = Client::connect(&server.sock);
    let query = format!("marker={}", marker.display());
    let mut data = begin(1, 1, false);
    data.extend(stream(
        PARAMS,
        1,
        &pairs(&[
            ("PATH_INFO", b"/stream"),
            ("QUERY_STRING", query.as_bytes()),
        ]),
    ));
    data.extend(stream(STDIN, 1, b""));
    client.send(&data);
    client.read_record().unwrap();
    drop(client);
    wait_for(LIMIT, || marker.exists().then_some(()))
        .unwrap_or_else(|| panic!("close() was not called\n{}", server.log_text()));
    server.assert_logged("cannot write the response of request 1");
    assert_eq!(get(&server.sock, "/hello").text(), "Hello, FastCGI!\n");
}

// ---------------------------------------------------------------------------------------------
// The workers

fn pid_of(sock: &Path) -> i32 {
    get(sock, "/pid").text().parse().expect("a pid")
}

#[test]
fn workers_are_forked_after_the_import_and_a_dead_one_is_replaced() {
    let server = Server::start("workers", &["--workers", "2", "--app", "fcgi_app.py"]);
    server.wait_workers(2);
    let before = server.workers();
    // A worker that dies (SIGKILL, as a crash would): its connection ends without an answer.
    let mut client = Client::connect(&server.sock);
    client.send(&{
        let mut d = begin(1, 1, false);
        d.extend(stream(PARAMS, 1, &pairs(&[("PATH_INFO", b"/die")])));
        d.extend(stream(STDIN, 1, b""));
        d
    });
    assert!(client.closed());
    server.assert_logged("was killed by signal 9; starting another");
    let now = wait_for(LIMIT, || {
        let now = server.workers();
        (now.len() == 2 && now != before).then_some(now)
    })
    .unwrap_or_else(|| panic!("no replacement: {:?}", server.workers()));
    assert!(
        now.iter().filter(|p| before.contains(p)).count() == 1,
        "{before:?} -> {now:?}"
    );
    // The replacement serves, and the parent reaped the dead one (no zombie among its children).
    assert_eq!(get(&server.sock, "/hello").status(), "200 OK");
    for pid in server.workers() {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        assert!(!stat.contains(") Z "), "a zombie: {stat}");
    }
}

#[test]
fn max_requests_recycles_a_worker() {
    let server = Server::start_with(
        "max-requests",
        &["--workers", "1", "--app", "fcgi_app.py"],
        &[("RWSGI_MAX_REQUESTS", "3")],
    );
    let pids: Vec<i32> = (0..7).map(|_| pid_of(&server.sock)).collect();
    assert!(
        pids[0] == pids[1] && pids[1] == pids[2] && pids[2] != pids[3],
        "{pids:?}"
    );
    assert!(
        pids[3] == pids[4] && pids[4] == pids[5] && pids[5] != pids[6],
        "{pids:?}"
    );
    server.assert_logged("ended after its requests; starting another");
    // --max-requests on the command line wins over the variable.
    let server = Server::start_with(
        "max-requests-arg",
        &[
            "--workers",
            "1",
            "--max-requests",
            "1",
            "--app",
            "fcgi_app.py",
        ],
        &[("RWSGI_MAX_REQUESTS", "100")],
    );
    let (a, b) = (pid_of(&server.sock), pid_of(&server.sock));
    assert_ne!(a, b);
}

#[test]
fn sigterm_finishes_the_request_in_flight_and_exits() {
    let mut server = Server::start("sigterm", &["--workers", "2", "--app", "fcgi_app.py"]);
    let sock = server.sock.clone();
    let slow = std::thread::spawn(move || get(&sock, "/slow?s=1"));
    // In flight: a worker has it, and both workers run.
    server.assert_logged("slow request started");
    server.wait_workers(2);
    let workers = server.workers();
    assert_eq!(workers.len(), 2);
    server.signal(libc::SIGTERM);
    let reply = slow.join().unwrap();
    assert_eq!(reply.text(), "slow answer\n");
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    // Every worker is gone (and reaped: the parent waited for each before it exited), and so
    // is the socket file.
    for pid in workers {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "worker {pid} lives on"
        );
    }
    assert!(!server.sock.exists());
}

#[test]
fn ten_thousand_requests_in_constant_memory() {
    let server = Server::start("memory", &["--workers", "1", "--app", "fcgi_app.py"]);
    let mut client = Client::connect(&server.sock);
    let worker = server.workers()[0];
    // Pipelined in batches on one kept connection, so the test takes a few seconds at most.
    let one = {
        let mut d = begin(1, 1, true);
        d.extend(stream(
            PARAMS,
            1,
            &pairs(&[
                ("REQUEST_METHOD", b"POST"),
                ("PATH_INFO", b"/hello"),
                ("CONTENT_LENGTH", b"1000"),
                ("HTTP_COOKIE", b"a=1; b=2"),
            ]),
        ));
        d.extend(stream(STDIN, 1, &[b'x'; 1000]));
        d
    };
    let mut run = |n: usize| {
        for _ in 0..n / 50 {
            let batch: Vec<u8> = (0..50).flat_map(|_| one.clone()).collect();
            client.send(&batch);
            for _ in 0..50 {
                let reply = client.reply(1);
                assert_eq!(reply.body(), b"Hello, FastCGI!\n");
            }
        }
    };
    run(1_000);
    let warm = rss_kib(worker as u32);
    run(10_000);
    let after = rss_kib(worker as u32);
    assert!(
        after < warm + 2048,
        "the worker grew from {warm} KiB to {after} KiB over 10,000 requests"
    );
}

// ---------------------------------------------------------------------------------------------
// How the process is started

#[test]
fn started_by_a_web_server_with_a_listening_socket_on_fd_0() {
    // What mod_fcgid and lighttpd's bin-path do: the script is executed (argv[1] is the script),
    // fd 0 is the listening socket, and there are no arguments to pass options with.
    let dir = temp_dir("fd0");
    let sock = dir.join("app.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // The drop-in script of the CGI tests, with the module it imports beside it.
    let script = dir.join("echo.wsgi");
    std::fs::copy(apps_dir().join("cgi-bin/echo.wsgi"), &script).unwrap();
    std::fs::copy(apps_dir().join("echo.py"), dir.join("echo.py")).unwrap();
    let mut command = Command::new(rwsgi_bin());
    command
        .arg(&script)
        .stdin(std::os::fd::OwnedFd::from(listener));
    let server = Server::spawn(command, dir, sock, &[("RWSGI_WORKERS", "2")]);
    server.wait_ready();
    let environ = get(&server.sock, "/x").json();
    assert_eq!(environ["wsgi.run_once"], false);
    assert_eq!(environ["PATH_INFO"], "/x");
    wait_for(LIMIT, || (server.workers().len() >= 2).then_some(()))
        .expect("RWSGI_WORKERS=2 was not honoured");
}

#[test]
fn a_socket_from_systemd() {
    let dir = temp_dir("systemd");
    let sock = dir.join("app.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let fd = std::os::fd::OwnedFd::from(listener);
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // systemd's protocol (sd_listen_fds(3)): the socket as fd 3, LISTEN_FDS=1, and LISTEN_PID
    // the service's own pid, which only the started process knows: `sh` sets it and execs.
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" fastcgi --workers 1 --app echo.py")
        .arg(rwsgi_bin())
        .stdin(Stdio::null());
    // SAFETY: only async-signal-safe calls (dup2, fcntl) in the child between fork and exec.
    // When the listener already is fd 3, dup2 is a no-op that leaves its close-on-exec flag set,
    // so the flag is cleared instead.
    unsafe {
        command.pre_exec(move || {
            let done = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let server = Server::spawn(command, dir, sock, &[]);
    server.wait_ready();
    drop(fd);
    let environ = get(&server.sock, "/").json();
    assert_eq!(environ["REQUEST_METHOD"], "GET");
    // The variables are not passed on to the app's environment.
    assert!(environ.get("LISTEN_FDS").is_none());
}

#[test]
fn nowhere_to_listen_or_a_bad_option_is_a_usage_error() {
    let out = util::rwsgi(["fastcgi", "--app", "echo.py"]).run();
    out.assert_code(2).assert_stderr_has("nowhere to listen");
    let out = util::rwsgi(["fastcgi", "--bind", "9000", "--app", "echo.py"]).run();
    out.assert_code(2)
        .assert_stderr_has("neither unix:/path/to.sock nor HOST:PORT");
    let out = util::rwsgi(["fastcgi", "--bind", "127.0.0.1:1", "--workers", "0"]).run();
    out.assert_code(2)
        .assert_stderr_has("--workers must be at least 1");
}

#[test]
fn an_app_that_cannot_be_imported_exits_1_before_serving() {
    let dir = temp_dir("noimport");
    let bind = format!("unix:{}", dir.join("app.sock").display());
    let out = util::rwsgi(["fastcgi", "--bind", &bind, "--app", "broken_import.py"]).run();
    out.assert_code(1).assert_stderr_has("Traceback");
}

#[test]
fn tcp_and_cgi_fcgi_from_libfcgi() {
    let Ok(cgi_fcgi) = which("cgi-fcgi") else {
        panic!("cgi-fcgi is not installed: apt-get install libfcgi-bin (scripts/test does)");
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = temp_dir("tcp");
    let address = format!("127.0.0.1:{port}");
    let mut command = Command::new(rwsgi_bin());
    // A module SPEC: imported from the current folder, as `rwsgi call` and other servers do.
    command.args([
        "fastcgi",
        "--bind",
        &address,
        "--workers",
        "1",
        "--app",
        "echo:application",
    ]);
    command.stdin(Stdio::null());
    let unused = dir.join("unused");
    let server = Server::spawn(command, dir, unused, &[]);
    wait_for(LIMIT, || std::net::TcpStream::connect(&address).ok())
        .unwrap_or_else(|| panic!("no TCP listener\n{}", server.log_text()));
    let out = Command::new(cgi_fcgi)
        .args(["-bind", "-connect", &address])
        .env_clear()
        .env("REQUEST_METHOD", "POST")
        .env("CONTENT_LENGTH", "11")
        .env("PATH_INFO", "/via/libfcgi")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(b"hello world")?;
            child.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("Status: 200 OK\r\n"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    let environ: Value = serde_json::from_str(body).unwrap();
    assert_eq!(environ["body"], "hello world");
    assert_eq!(environ["PATH_INFO"], "/via/libfcgi");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
