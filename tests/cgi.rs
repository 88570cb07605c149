//! CGI mode (spec/cgi.md, RFC 3875) from the outside, without a web server: the built binary is
//! started the way a server starts a CGI program (a clean environment holding the
//! meta-variables, the body on stdin, the response read from stdout), as a drop-in script's
//! interpreter, as the program itself with `RWSGI_APP`, and as `rwsgi cgi SCRIPT`.
//!
//! The standard library's `wsgiref.handlers.CGIHandler` is the reference: the same app, in the
//! same environment with the same stdin, must give the same response where both follow PEP 3333.
//! Where cgi.md asks for something else, a test shows what each one does.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use rwsgi::http::latin1_string;

use crate::util::{self, Output, SYSTEM_PATH, apps_dir, rwsgi_bin, temp_dir, write_file};

// ---------------------------------------------------------------------------------------------
// Running a CGI request

/// The response rwsgi gives in place of an app that failed before its headers went out.
const INTERNAL_ERROR: &[u8] = b"Status: 500 Internal Server Error\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 26\r\n\r\n\
    500 Internal Server Error\n";

const BAD_REQUEST: &[u8] = b"Status: 400 Bad Request\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n\r\n\
    400 Bad Request\n";

const TOO_LARGE: &[u8] = b"Status: 413 Content Too Large\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 22\r\n\r\n\
    413 Content Too Large\n";

/// What CGIHandler answers when the app fails before its headers went out.
const CGIHANDLER_ERROR: &[u8] = b"Status: 500 Internal Server Error\r\n\
    Content-Type: text/plain\r\nContent-Length: 59\r\n\r\n\
    A server error occurred.  Please contact the administrator.";

/// One request as a server hands it to a CGI program: the meta-variables (RFC 3875 section
/// 4.1), as raw bytes, and what stdin holds.
#[derive(Clone, Debug)]
struct Request {
    vars: BTreeMap<String, OsString>,
    stdin: Vec<u8>,
}

impl Request {
    /// `METHOD /cgi-bin/app.py{path_info}?{query}` as Apache describes it to a CGI program.
    fn new(method: &str, path_info: &str, query: &str) -> Request {
        let mut request = Request {
            vars: BTreeMap::new(),
            stdin: Vec::new(),
        };
        for (name, value) in [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("REQUEST_METHOD", method),
            ("SCRIPT_NAME", "/cgi-bin/app.py"),
            ("PATH_INFO", path_info),
            ("QUERY_STRING", query),
            ("SERVER_NAME", "example.org"),
            ("SERVER_PORT", "8080"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REMOTE_ADDR", "192.0.2.10"),
            ("HTTP_HOST", "example.org:8080"),
        ] {
            request = request.var(name, value);
        }
        request
    }

    fn get(path_info: &str, query: &str) -> Request {
        Request::new("GET", path_info, query)
    }

    /// A POST whose body is all of stdin, with its CONTENT_LENGTH.
    fn post(path_info: &str, query: &str, content_type: &str, body: &[u8]) -> Request {
        Request::new("POST", path_info, query)
            .var("CONTENT_TYPE", content_type)
            .var("CONTENT_LENGTH", body.len().to_string())
            .stdin(body)
    }

    /// Sets a variable to these exact bytes (the environment is bytes; see `OsStr::from_bytes`).
    fn var(mut self, name: &str, value: impl AsRef<[u8]>) -> Request {
        self.vars.insert(
            name.to_string(),
            OsStr::from_bytes(value.as_ref()).to_os_string(),
        );
        self
    }

    fn without(mut self, name: &str) -> Request {
        self.vars.remove(name);
        self
    }

    fn stdin(mut self, data: impl AsRef<[u8]>) -> Request {
        self.stdin = data.as_ref().to_vec();
        self
    }
}

/// How the process is started.
enum Start {
    /// The rwsgi binary itself, with `RWSGI_APP` naming the app and `RWSGI_PATH` pointing at
    /// tests/apps, as a server's `SetEnv` would.
    Rwsgi(String),
    /// `tests/apps/cgihandler_run.py SPEC`: wsgiref's CGIHandler running the same app. It gets
    /// `RWSGI_APP` and `RWSGI_PATH` too, so that both see the same environment.
    CgiHandler(String),
    /// Any program (a drop-in script, `rwsgi cgi SCRIPT`) with its arguments.
    Program(PathBuf, Vec<OsString>),
}

fn rwsgi_app(spec: &str) -> Start {
    Start::Rwsgi(spec.to_string())
}

fn cgihandler(spec: &str) -> Start {
    Start::CgiHandler(spec.to_string())
}

/// Runs one request: a clean environment with `PATH` and the request's variables, the body on
/// stdin, in a folder of its own.
fn run(start: &Start, request: &Request) -> Output {
    let (program, args, extra): (PathBuf, Vec<OsString>, Vec<(&str, OsString)>) = match start {
        Start::Rwsgi(spec) => (rwsgi_bin(), Vec::new(), app_vars(spec)),
        Start::CgiHandler(spec) => (
            python().executable.clone(),
            vec![
                apps_dir().join("cgihandler_run.py").into_os_string(),
                spec.into(),
            ],
            app_vars(spec),
        ),
        Start::Program(program, args) => (program.clone(), args.clone(), Vec::new()),
    };
    let mut cmd = util::program(program, args)
        .cwd(env!("CARGO_TARGET_TMPDIR"))
        .stdin(request.stdin.clone());
    for (name, value) in extra {
        cmd = cmd.env(name, value);
    }
    for (name, value) in &request.vars {
        cmd = cmd.env(name, value);
    }
    cmd.run()
}

fn app_vars(spec: &str) -> Vec<(&'static str, OsString)> {
    vec![
        ("RWSGI_APP", spec.into()),
        ("RWSGI_PATH", apps_dir().into_os_string()),
    ]
}

/// What these tests read from a run: the CGI response it wrote.
trait CgiOutput {
    fn response(&self) -> Response;
    /// The response body as JSON (echo.py, proxy.py).
    fn body_json(&self) -> Value;
}

impl CgiOutput for Output {
    fn response(&self) -> Response {
        Response::parse(&self.stdout)
            .unwrap_or_else(|why| panic!("not a CGI response: {why}\n{}", self.dump()))
    }

    fn body_json(&self) -> Value {
        let response = self.response();
        serde_json::from_slice(&response.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e})\n{}", self.dump()))
    }
}

/// A CGI response (RFC 3875 section 6) as rwsgi must write it: a `Status:` line first, header
/// lines, a blank line, the body; every line of the head ending in CRLF.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Result<Response, String> {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no blank line (CRLF CRLF) after the head")?;
        let head = latin1_string(&raw[..end]);
        let mut lines = head.split("\r\n");
        let first = lines.next().unwrap_or_default();
        let status = first
            .strip_prefix("Status: ")
            .ok_or_else(|| format!("the first line is not a Status line: {first:?}"))?
            .to_string();
        if let Some(line) = head.split("\r\n").find(|l| l.contains(['\r', '\n'])) {
            return Err(format!("a bare CR or LF in the head line {line:?}"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(": ")
                .ok_or_else(|| format!("a head line without ': ': {line:?}"))?;
            headers.push((name.to_string(), value.to_string()));
        }
        Ok(Response {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        })
    }

    /// Every value of the header `name` (in any case), in order.
    fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn one(&self, name: &str) -> &str {
        match self.all(name).as_slice() {
            [value] => value,
            other => panic!("expected one {name} header, found {other:?} in {self:?}"),
        }
    }

    fn without(&self, name: &str) -> Vec<(String, String)> {
        self.headers
            .iter()
            .filter(|(n, _)| !n.eq_ignore_ascii_case(name))
            .cloned()
            .collect()
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// The Python rwsgi embeds, as that Python reports itself from inside rwsgi.
struct EmbeddedPython {
    /// Its interpreter program, which runs the CGIHandler driver: the same standard library.
    executable: PathBuf,
    /// `3.11.7`.
    version: String,
    /// `3.11`.
    minor: String,
}

fn python() -> &'static EmbeddedPython {
    static PYTHON: OnceLock<EmbeddedPython> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let dir = temp_dir("which-python");
        let script = write_file(
            &dir,
            "which.py",
            "import sys\n\n\
             def application(environ, start_response):\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             v = sys.version_info\n    \
             return [('%s\\n%d.%d.%d\\n' % (sys.executable, v[0], v[1], v[2])).encode()]\n",
        );
        let ran = run(
            &Start::Program(rwsgi_bin(), vec!["cgi".into(), script.into_os_string()]),
            &Request::get("/", ""),
        );
        ran.assert_code(0);
        let body = latin1_string(&ran.response().body);
        let mut lines = body.lines();
        let executable = PathBuf::from(lines.next().unwrap_or_default());
        let version = lines.next().unwrap_or_default().to_string();
        let named_python = executable
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("python"));
        assert!(
            named_python && executable.is_file(),
            "rwsgi's sys.executable is {}, not a Python interpreter; the CGIHandler comparison \
             needs the interpreter program of the Python rwsgi embeds (install it beside its \
             libpython)",
            executable.display()
        );
        let minor = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
        EmbeddedPython {
            executable,
            version,
            minor,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The same response as wsgiref's CGIHandler

/// How the response's Content-Length comes about.
#[derive(Clone, Copy, PartialEq)]
enum Length {
    /// The app sets it, or the body is streamed (a generator, write()): rwsgi, CGIHandler and
    /// rwsgi under wsgiref.validate give the same headers.
    AsTheAppSays,
    /// A one-item list and no Content-Length from the app: both add one (PEP 3333, "Handling
    /// the Content-Length Header").
    OneItemList,
    /// A list of several items and no Content-Length from the app: rwsgi adds one (cgi.md:
    /// "the whole length is known"); CGIHandler only counts a one-item list.
    List,
}

/// Runs `request` through rwsgi, CGIHandler and rwsgi with the app under
/// `wsgiref.validate`, and checks that all three agree. Returns rwsgi's run.
fn agrees_with_cgihandler(app: &str, request: Request, length: Length) -> Output {
    let ours = run(&rwsgi_app(app), &request);
    let theirs = run(&cgihandler(app), &request);
    ours.assert_code(0);
    theirs.assert_code(0);
    let (mine, reference) = (ours.response(), theirs.response());
    assert_eq!(mine.status, reference.status, "{}", ours.dump());

    let rwsgi_headers = match length {
        Length::List => {
            // PEP 3333 lets a server add Content-Length whenever it knows the length.
            assert_eq!(
                mine.headers.last(),
                Some(&("Content-Length".to_string(), mine.body.len().to_string())),
                "{}",
                ours.dump()
            );
            assert!(reference.all("Content-Length").is_empty(), "{reference:?}");
            mine.headers[..mine.headers.len() - 1].to_vec()
        }
        _ => mine.headers.clone(),
    };
    if app == "echo" {
        // echo.py answers with the environ, whose Content-Length follows from it: the JSON is
        // compared by value below, the lengths each against its own body.
        for (response, ran) in [(&mine, &ours), (&reference, &theirs)] {
            assert_eq!(
                response.one("Content-Length"),
                response.body.len().to_string(),
                "{}",
                ran.dump()
            );
        }
        assert_eq!(
            mine.without("Content-Length"),
            reference.without("Content-Length")
        );
        assert_eq!(
            comparable_environ(&ours, false),
            comparable_environ(&theirs, true)
        );
    } else {
        assert_eq!(rwsgi_headers, reference.headers, "{}", ours.dump());
        assert!(
            mine.body == reference.body,
            "bodies differ\n{}\n{}",
            ours.dump(),
            theirs.dump()
        );
    }

    // wsgiref.validate hides the list behind its own iterator, so rwsgi cannot know the length
    // up front there: the headers are the app's own.
    let validated = run(&rwsgi_app(&format!("validated:wrap('{app}')")), &request);
    validated
        .assert_code(0)
        .assert_stderr_lacks("WSGIWarning")
        .assert_stderr_lacks("AssertionError")
        .assert_stderr_lacks("Traceback");
    let checked = validated.response();
    assert_eq!(checked.status, mine.status);
    let expected_headers = match length {
        Length::AsTheAppSays => mine.headers.clone(),
        Length::OneItemList | Length::List => mine.without("Content-Length"),
    };
    if app == "echo" {
        assert_eq!(
            checked.without("Content-Length"),
            mine.without("Content-Length")
        );
        // The one difference: RWSGI_APP names the wrapped app.
        let mut checked_environ = validated.body_json();
        assert_eq!(
            checked_environ["RWSGI_APP"],
            format!("validated:wrap('{app}')")
        );
        checked_environ["RWSGI_APP"] = json!(app);
        assert_eq!(checked_environ, ours.body_json());
    } else {
        assert_eq!(checked.headers, expected_headers, "{}", validated.dump());
        assert!(checked.body == mine.body, "{}", validated.dump());
    }
    ours
}

/// echo.py's environ without the two keys that differ by design: CGIHandler copies its own
/// `os.environ`, where Python put `LC_CTYPE` when it coerced the C locale at start-up (PEP 538);
/// rwsgi builds the environ from the environment it was given, and also sets
/// `wsgi.input_terminated` (its input ends at CONTENT_LENGTH), which CGIHandler does not.
fn comparable_environ(ran: &Output, is_cgihandler: bool) -> Value {
    let mut value = ran.body_json();
    let object = value.as_object_mut().expect("a JSON object");
    if is_cgihandler {
        object.remove("LC_CTYPE");
        assert_eq!(object.get("wsgi.input_terminated"), None);
    } else {
        assert_eq!(object.get("LC_CTYPE"), None, "{}", ran.dump());
        assert_eq!(
            object.remove("wsgi.input_terminated"),
            Some(json!(true)),
            "{}",
            ran.dump()
        );
    }
    value
}

#[test]
fn agrees_with_cgihandler_on_a_query_and_path_info() {
    let request = Request::get("/users/42/edit", "read=n:7&tag=a&tag=b&empty=")
        .var("HTTP_USER_AGENT", "test-agent/1.0")
        .var("HTTP_ACCEPT", "*/*")
        .var("HTTPS", "on");
    let ours = agrees_with_cgihandler("echo", request, Length::AsTheAppSays);
    let environ = ours.body_json();
    assert_eq!(environ["PATH_INFO"], "/users/42/edit");
    assert_eq!(environ["QUERY_STRING"], "read=n:7&tag=a&tag=b&empty=");
    assert_eq!(environ["wsgi.url_scheme"], "https");
}

#[test]
fn agrees_with_cgihandler_on_a_non_ascii_path_from_raw_bytes() {
    // The server passes the path decoded from %XX escapes: UTF-8 bytes, and here a byte that
    // is not UTF-8 at all. PEP 3333 ("Unicode Issues"): each byte becomes one latin-1 char.
    let request = Request::get("", "")
        .var("SCRIPT_NAME", b"/cgi-bin/caf\xc3\xa9.py")
        .var("PATH_INFO", b"/caf\xc3\xa9/\xff/x")
        .var("QUERY_STRING", b"read=n:7&q=\xc3\xa9\xff")
        .var("HTTP_X_ODD", b"\x80\xfe");
    let ours = agrees_with_cgihandler("echo", request, Length::AsTheAppSays);
    let environ = ours.body_json();
    assert_eq!(environ["SCRIPT_NAME"], "/cgi-bin/caf\u{c3}\u{a9}.py");
    assert_eq!(environ["PATH_INFO"], "/caf\u{c3}\u{a9}/\u{ff}/x");
    assert_eq!(environ["QUERY_STRING"], "read=n:7&q=\u{c3}\u{a9}\u{ff}");
    assert_eq!(environ["HTTP_X_ODD"], "\u{80}\u{fe}");
}

#[test]
fn agrees_with_cgihandler_on_a_post_body() {
    let form = b"name=caf%C3%A9&tags=a&tags=b";
    let request = Request::post(
        "/form",
        "read=n:8",
        "application/x-www-form-urlencoded",
        form,
    );
    let ours = agrees_with_cgihandler("echo", request, Length::AsTheAppSays);
    let environ = ours.body_json();
    assert_eq!(environ["body"], "name=caf%C3%A9&tags=a&tags=b");
    assert_eq!(environ["chunks"], json!([8, 8, 8, 4]));
    assert_eq!(environ["eof"], "");
    assert_eq!(environ["CONTENT_LENGTH"], "28");
    assert_eq!(environ["CONTENT_TYPE"], "application/x-www-form-urlencoded");
}

#[test]
fn agrees_with_cgihandler_on_a_binary_request_body() {
    let body: Vec<u8> = (0..=255u8).rev().chain(0..=255u8).collect();
    let request = Request::post(
        "/upload",
        "read=readlines",
        "application/octet-stream",
        &body,
    );
    let ours = agrees_with_cgihandler("echo", request, Length::AsTheAppSays);
    assert_eq!(ours.body_json()["body"], latin1_string(&body));
}

#[test]
fn agrees_with_cgihandler_on_a_binary_response_body() {
    let ours = agrees_with_cgihandler(
        "binary",
        Request::get("/", "size=200000"),
        Length::AsTheAppSays,
    );
    let response = ours.response();
    let expected: Vec<u8> = (0..200_000usize)
        .map(|i| (((i * 131) ^ (i >> 8)) & 0xFF) as u8)
        .collect();
    assert!(response.body == expected);
    assert_eq!(
        response.headers,
        headers(&[
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "200000"),
        ])
    );
}

#[test]
fn agrees_with_cgihandler_on_cookies() {
    let request = Request::get("/", "").var("HTTP_COOKIE", "a=1; b=2");
    let ours = agrees_with_cgihandler("cookies", request, Length::OneItemList);
    let response = ours.response();
    // Each cookie on its own line, in the app's order (RFC 6265 section 3).
    assert_eq!(
        response.headers,
        headers(&[
            ("Content-Type", "text/plain"),
            ("Set-Cookie", "c1=one; Path=/"),
            ("Set-Cookie", "c2=two; Path=/; HttpOnly"),
            ("Set-Cookie", "c3=three; Path=/; Secure; SameSite=Lax"),
            (
                "Set-Cookie",
                "c4=four; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT"
            ),
            ("Set-Cookie", "c5=five; Max-Age=60"),
            ("Content-Length", "17"),
        ])
    );
    assert_eq!(response.body, b"cookie: a=1; b=2\n");
}

#[test]
fn agrees_with_cgihandler_on_a_generator_body() {
    let ours = agrees_with_cgihandler(
        "stream",
        Request::get("/", "n=3&size=4&empty=1"),
        Length::AsTheAppSays,
    );
    ours.assert_stdout(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\naaaabbbbcccc");
}

#[test]
fn agrees_with_cgihandler_on_write() {
    agrees_with_cgihandler("writer", Request::get("/", ""), Length::AsTheAppSays)
        .assert_stdout(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\none\ntwo\nthree\n");
    agrees_with_cgihandler(
        "writer",
        Request::get("/", "mode=mixed"),
        Length::AsTheAppSays,
    )
    .assert_stdout(
        b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n\
          written 1\nwritten 2\nreturned 1\nreturned 2\n",
    );
}

#[test]
fn agrees_with_cgihandler_on_file_wrapper() {
    let data: Vec<u8> = (0..2000)
        .flat_map(|i| format!("line {i:05}\n").into_bytes())
        .collect();
    let ours = agrees_with_cgihandler(
        "filewrapper",
        Request::get("/", "seek=100"),
        Length::AsTheAppSays,
    );
    let response = ours.response();
    assert_eq!(response.one("Content-Length"), "21900");
    assert!(response.body == data[100..]);
    let ours = agrees_with_cgihandler(
        "filewrapper",
        Request::get("/", "kind=plain"),
        Length::AsTheAppSays,
    );
    assert!(ours.response().body == data);
    // PEP 3333: the wrapper's close() reaches the file-like object's close().
    ours.assert_stderr_has("filelike closed\n");
}

#[test]
fn agrees_with_cgihandler_on_exc_info_replacing_the_response() {
    let ours = agrees_with_cgihandler("excinfo", Request::get("/", ""), Length::OneItemList);
    ours.assert_stdout(
        b"Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 30\r\n\
          Content-Length: 20\r\n\r\nservice unavailable\n",
    )
    .assert_stderr_has("excinfo: start_response returned\n");
}

#[test]
fn agrees_with_cgihandler_on_list_bodies_but_for_content_length() {
    agrees_with_cgihandler(
        "listbody",
        Request::get("/", "parts=1"),
        Length::OneItemList,
    )
    .assert_stdout(
        b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\npart 1\n",
    );
    agrees_with_cgihandler("listbody", Request::get("/", "parts=3"), Length::List).assert_stdout(
        b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 21\r\n\r\n\
          part 1\npart 2\npart 3\n",
    );
    // What CGIHandler sends for the same three-item list: no length.
    run(&cgihandler("listbody"), &Request::get("/", "parts=3"))
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npart 1\npart 2\npart 3\n",
        );
    agrees_with_cgihandler(
        "listbody",
        Request::get("/", "parts=2&own_length=1"),
        Length::AsTheAppSays,
    )
    .assert_stdout(
        b"Status: 200 OK\r\nContent-Type: text/plain\r\ncontent-length: 14\r\n\r\npart 1\npart 2\n",
    );
}

// ---------------------------------------------------------------------------------------------
// Where cgi.md asks for more than CGIHandler does

#[test]
fn prints_go_to_stderr_while_cgihandler_puts_them_in_the_response() {
    let request = Request::get("/", "");
    run(&rwsgi_app("noisy"), &request)
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nquiet body\n",
        )
        .assert_stderr_has("noisy: print\n")
        .assert_stderr_has("noisy: sys.stdout.write\n")
        .assert_stderr_has("noisy: subprocess\n");
    // CGIHandler's stdout is the response: the child's output lands before the Status line
    // (the server sees a broken head), the app's buffered prints after the body.
    run(&cgihandler("noisy"), &request)
        .assert_code(0)
        .assert_stdout(
            b"noisy: subprocess\nStatus: 200 OK\r\nContent-Type: text/plain\r\n\
              Content-Length: 11\r\n\r\nquiet body\nnoisy: print\nnoisy: sys.stdout.write\n",
        )
        .assert_stderr_lacks("noisy");
}

#[test]
fn header_injection_is_refused_while_cgihandler_passes_it_through() {
    for (bad, reference) in [
        (
            "header_crlf",
            &b"Status: 200 OK\r\nContent-Type: text/plain\r\nX-Note: a\r\nSet-Cookie: x=1\r\n\
               Content-Length: 3\r\n\r\nok\n"[..],
        ),
        (
            "status_crlf",
            b"Status: 200 OK\r\nX-Injected: 1\r\nContent-Type: text/plain\r\n\
              Content-Length: 3\r\n\r\nok\n",
        ),
        (
            "header_nul",
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nX-Note: a\x00b\r\n\
              Content-Length: 3\r\n\r\nok\n",
        ),
    ] {
        let request = Request::get("/", &format!("bad={bad}"));
        run(&rwsgi_app("protocol"), &request)
            .assert_code(0)
            .assert_stdout(INTERNAL_ERROR);
        run(&cgihandler("protocol"), &request)
            .assert_code(0)
            .assert_stdout(reference);
    }
}

#[test]
fn non_latin1_header_is_a_500_while_cgihandler_sends_half_a_head() {
    let request = Request::get("/", "bad=header_non_latin1");
    run(&rwsgi_app("protocol"), &request)
        .assert_code(0)
        .assert_stdout(INTERNAL_ERROR);
    // CGIHandler fails encoding the headers after the Status line went out, then takes the
    // headers as sent: the response stops there.
    run(&cgihandler("protocol"), &request)
        .assert_code(0)
        .assert_stdout(b"Status: 200 OK\r\n")
        .assert_stderr_has("UnicodeEncodeError");
}

#[test]
fn hop_by_hop_header_is_dropped_while_cgihandler_answers_500() {
    let request = Request::get("/", "bad=hop_by_hop");
    run(&rwsgi_app("protocol"), &request)
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nX-Good: yes\r\n\
          Content-Length: 3\r\n\r\nok\n",
        );
    run(&cgihandler("protocol"), &request)
        .assert_code(0)
        .assert_stdout(CGIHANDLER_ERROR)
        .assert_stderr_has("AssertionError: Hop-by-hop header, 'Connection: close', not allowed");
}

#[test]
fn chunked_body_without_length_is_read_while_cgihandler_leaves_it_to_the_app() {
    let request = Request::new("POST", "/", "")
        .var("HTTP_TRANSFER_ENCODING", "chunked")
        .stdin("hello world");
    // An app that reads CONTENT_LENGTH bytes, as PEP 3333 says apps should.
    let ours = run(&rwsgi_app("bylength"), &request);
    let mine = ours.assert_code(0).response();
    assert_eq!(mine.one("X-Content-Length"), "11");
    assert_eq!(mine.body, b"hello world");
    let validated = run(&rwsgi_app("validated:wrap('bylength')"), &request);
    assert_eq!(
        validated
            .assert_code(0)
            .assert_stderr_empty()
            .response()
            .body,
        b"hello world"
    );
    let theirs = run(&cgihandler("bylength"), &request);
    let reference = theirs.assert_code(0).response();
    assert_eq!(reference.one("X-Content-Length"), "(none)");
    assert_eq!(reference.body, b"");
    // CGIHandler's wsgi.input is stdin itself: an app reading to the end gets the bytes, but
    // the environ still says chunked and has no length.
    let request = request.var("QUERY_STRING", "read=n:4");
    let environ = run(&cgihandler("echo"), &request).body_json();
    assert_eq!(environ["body"], "hello world");
    assert_eq!(environ["HTTP_TRANSFER_ENCODING"], "chunked");
    assert_eq!(environ.get("CONTENT_LENGTH"), None);
    let environ = run(&rwsgi_app("echo"), &request).body_json();
    assert_eq!(environ["body"], "hello world");
    assert_eq!(environ.get("HTTP_TRANSFER_ENCODING"), None);
    assert_eq!(environ["CONTENT_LENGTH"], "11");
}

#[test]
fn input_stops_at_content_length_while_cgihandler_reads_on() {
    let request = Request::post("/", "read=all", "text/plain", b"hello").stdin("hello world");
    assert_eq!(
        run(&rwsgi_app("echo"), &request).body_json()["body"],
        "hello"
    );
    assert_eq!(
        run(&cgihandler("echo"), &request).body_json()["body"],
        "hello world"
    );
}

#[test]
fn failures_differ_from_cgihandler_in_body_and_exit_status() {
    // Before the headers: both answer 500, each with its own short text.
    let request = Request::get("/", "at=call");
    run(&rwsgi_app("raising"), &request)
        .assert_code(0)
        .assert_stdout(INTERNAL_ERROR);
    run(&cgihandler("raising"), &request)
        .assert_code(0)
        .assert_stdout(CGIHANDLER_ERROR)
        .assert_stderr_has("RuntimeError: raised at call");
    // Mid-stream: the same bytes, but only rwsgi tells the server the response is cut short.
    let request = Request::get("/", "at=mid_stream");
    let cut = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nchunk 1\nchunk 2\n";
    run(&rwsgi_app("raising"), &request)
        .assert_code(1)
        .assert_stdout(cut);
    run(&cgihandler("raising"), &request)
        .assert_code(0)
        .assert_stdout(cut)
        .assert_stderr_has("closed:mid_stream\n");
    // exc_info after the headers went out: re-raised in both (PEP 3333), exit status differs.
    let request = Request::get("/", "after=1");
    let partial = b"Status: 200 OK\r\nContent-Type: text/plain\r\nX-First: yes\r\n\r\npartial ";
    run(&rwsgi_app("excinfo"), &request)
        .assert_code(1)
        .assert_stdout(partial)
        .assert_stderr_lacks("excinfo: start_response returned");
    run(&cgihandler("excinfo"), &request)
        .assert_code(0)
        .assert_stdout(partial)
        .assert_stderr_lacks("excinfo: start_response returned");
}

#[test]
fn close_raising_ends_the_response_while_cgihandler_appends_a_second_one() {
    let request = Request::get("/", "at=close");
    let whole = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nchunk 1\nchunk 2\n";
    run(&rwsgi_app("raising"), &request)
        .assert_code(1)
        .assert_stdout(whole)
        .assert_stderr_has("closed:close\n")
        .assert_stderr_has(
            "rwsgi: error: the application's close() raised after the response was sent",
        )
        .assert_stderr_has("RuntimeError: raised at close");
    // CGIHandler forgets that the headers went out once close() ran, and writes its 500
    // response after the body.
    let mut doubled = whole.to_vec();
    doubled.extend_from_slice(CGIHANDLER_ERROR);
    run(&cgihandler("raising"), &request)
        .assert_code(0)
        .assert_stdout(&doubled);
}

#[test]
fn empty_first_chunk_keeps_headers_back_while_cgihandler_sends_them() {
    // PEP 3333, "Buffering and Streaming": headers wait for the first non-empty chunk, so the
    // exc_info call after an empty one may still replace the response.
    let request = Request::get("/", "empty_chunk=1");
    run(&rwsgi_app("excinfo"), &request)
        .assert_code(0)
        .assert_stdout(
        b"Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 30\r\n\r\n\
          service unavailable\n",
    );
    run(&cgihandler("excinfo"), &request)
        .assert_code(0)
        .assert_stdout(b"Status: 200 OK\r\nContent-Type: text/plain\r\nX-First: yes\r\n\r\n")
        .assert_stderr_has("RuntimeError: backend is down");
}

#[test]
fn other_variables_are_latin1_while_cgihandler_decodes_them_as_utf8() {
    // CGIHandler transcodes only the request variables and HTTP_*/SSL_*; the rest it leaves as
    // Python decoded the environment (UTF-8). rwsgi treats every value alike (spec/cgi.md).
    let request = Request::get("/", "read=none").var("DOCUMENT_ROOT", b"/srv/caf\xc3\xa9");
    assert_eq!(
        run(&rwsgi_app("echo"), &request).body_json()["DOCUMENT_ROOT"],
        "/srv/caf\u{c3}\u{a9}"
    );
    assert_eq!(
        run(&cgihandler("echo"), &request).body_json()["DOCUMENT_ROOT"],
        "/srv/caf\u{e9}"
    );
}

#[test]
fn bad_content_length_is_refused_while_cgihandler_calls_the_app() {
    let dir = temp_dir("bad-length-cgihandler");
    let marker = dir.join("marker");
    let request = Request::post("/", "", "text/plain", b"hello")
        .var("CONTENT_LENGTH", "abc")
        .var("RWSGI_TEST_MARKER", marker.as_os_str().as_bytes());
    run(&rwsgi_app("marker"), &request)
        .assert_code(0)
        .assert_stdout(BAD_REQUEST);
    assert!(!marker.exists(), "rwsgi imported the app");
    run(&cgihandler("marker"), &request)
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n\r\n\
          marker app called\n",
        );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "imported\ncalled\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Starting: drop-in scripts, RWSGI_APP, `rwsgi cgi SCRIPT`

/// A folder holding `bin/rwsgi` (a link to the binary under test) and `site/`, where drop-in
/// scripts go.
struct DropIn {
    bin: PathBuf,
    site: PathBuf,
}

impl DropIn {
    fn new(name: &str) -> DropIn {
        let root = temp_dir(name);
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        symlink(rwsgi_bin(), bin.join("rwsgi")).expect("link bin/rwsgi to the binary");
        DropIn {
            bin,
            site: root.join("site"),
        }
    }

    /// Writes an executable script whose first line is `#!{interpreter}`.
    fn script(&self, name: &str, interpreter: &str, source: &str) -> PathBuf {
        let shebang = format!("#!{interpreter}\n");
        // The kernel reads at most 127 bytes of a #! line on older Linux versions.
        assert!(
            shebang.len() < 128,
            "the #! line is too long for the kernel: {shebang:?}; use a shorter \
             CARGO_TARGET_TMPDIR"
        );
        let path = write_file(&self.site, name, format!("{shebang}{source}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// The absolute path of `bin/rwsgi`, for a `#!/abs/path/rwsgi` line.
    fn rwsgi_link(&self) -> String {
        self.bin.join("rwsgi").display().to_string()
    }

    /// PATH with `bin/` first, for `#!/usr/bin/env rwsgi`.
    fn path_var(&self) -> String {
        format!("{}:{SYSTEM_PATH}", self.bin.display())
    }
}

/// Runs a script as the server does: the script itself is the program.
fn exec(script: &Path, args: &[&str], request: &Request) -> Output {
    run(
        &Start::Program(
            script.to_path_buf(),
            args.iter().map(OsString::from).collect(),
        ),
        request,
    )
}

/// A drop-in script that imports `beside` from its own folder and shows `sys.path[0]`.
const BESIDE_SCRIPT: &str = "\
import sys

import beside


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    body = '%s\\nsys.path[0]=%s\\nquery=%s\\n' % (
        beside.TEXT, sys.path[0], environ['QUERY_STRING'])
    return [body.encode()]
";

fn beside_body(site: &Path, query: &str) -> Vec<u8> {
    format!(
        "from beside\nsys.path[0]={}\nquery={query}\n",
        site.display()
    )
    .into_bytes()
}

#[test]
fn drop_in_script_with_an_absolute_interpreter_line() {
    let drop_in = DropIn::new("shebang-absolute");
    let script = drop_in.script("app.py", &drop_in.rwsgi_link(), BESIDE_SCRIPT);
    write_file(&drop_in.site, "beside.py", "TEXT = 'from beside'\n");
    let ran = exec(&script, &[], &Request::get("/", "x=1"));
    ran.assert_code(0);
    let response = ran.response();
    assert_eq!(response.status, "200 OK");
    let body = beside_body(&drop_in.site, "x=1");
    assert_eq!(
        response.headers,
        headers(&[
            ("Content-Type", "text/plain"),
            ("Content-Length", &body.len().to_string()),
        ])
    );
    assert_eq!(response.body, body);
}

#[test]
fn drop_in_script_through_usr_bin_env() {
    assert!(
        Path::new("/usr/bin/env").is_file(),
        "this test needs /usr/bin/env (coreutils)"
    );
    let drop_in = DropIn::new("shebang-env");
    // A name without .py, as mod_wsgi's .wsgi files and cgi-bin scripts have.
    let script = drop_in.script("app.cgi", "/usr/bin/env rwsgi", BESIDE_SCRIPT);
    write_file(&drop_in.site, "beside.py", "TEXT = 'from beside'\n");
    let request = Request::get("/", "a+b").var("PATH", drop_in.path_var());
    // RFC 3875 section 4.4: for a query without "=", a server may also pass its words as
    // arguments; the app reads QUERY_STRING and rwsgi takes no notice of them.
    let ran = exec(&script, &["a", "b"], &request);
    ran.assert_code(0);
    let response = ran.response();
    assert_eq!(response.status, "200 OK");
    assert_eq!(response.body, beside_body(&drop_in.site, "a+b"));
}

#[test]
fn drop_in_script_may_name_its_callable_app() {
    let drop_in = DropIn::new("shebang-app");
    let script = drop_in.script(
        "only_app.py",
        &drop_in.rwsgi_link(),
        "def app(environ, start_response):\n    \
         start_response('201 Created', [('Content-Type', 'text/plain')])\n    \
         return [b'made by app\\n']\n",
    );
    exec(&script, &[], &Request::get("/", "")).assert_code(0).assert_stdout(
        b"Status: 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nmade by app\n",
    );
}

#[test]
fn rwsgi_as_the_program_with_rwsgi_app_and_rwsgi_path() {
    // The run's working folder is not tests/apps: the module is found through RWSGI_PATH.
    run(&rwsgi_app("cookies"), &Request::get("/", ""))
        .assert_code(0)
        .assert_stderr_empty();
    run(&rwsgi_app("factory:create_app('hey', 2)"), &Request::get("/", ""))
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 8\r\n\r\nhey\nhey\n",
        );
}

#[test]
fn cgi_subcommand_forces_cgi_mode_without_gateway_interface() {
    let dir = temp_dir("cgi-subcommand");
    let script = write_file(
        &dir,
        "app.py",
        "def application(environ, start_response):\n    \
         start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
         return [('GATEWAY_INTERFACE' in environ and 'set' or 'unset').encode()]\n",
    );
    let request = Request::get("/", "").without("GATEWAY_INTERFACE");
    let forced = Start::Program(rwsgi_bin(), vec!["cgi".into(), script.clone().into()]);
    run(&forced, &request).assert_code(0).assert_stdout(
        b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nunset",
    );
    // Without `cgi` and without GATEWAY_INTERFACE this is not a CGI request: usage, exit 2.
    let plain = Start::Program(rwsgi_bin(), vec![script.into()]);
    run(&plain, &request)
        .assert_code(2)
        .assert_stdout(b"")
        .assert_stderr_has("this is not a CGI request (GATEWAY_INTERFACE is not set)");
}

/// A `.venv` beside a drop-in script, laid out as `python -m venv` makes it for `version`,
/// holding `venv_mod` and a `.pth` file naming a folder that holds `pth_mod`.
fn fake_venv(site: &Path, version: &str) -> PathBuf {
    let venv = site.join(".venv");
    write_file(
        &venv,
        "pyvenv.cfg",
        format!("home = /usr/bin\ninclude-system-site-packages = false\nversion = {version}\n"),
    );
    let minor = version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".");
    let packages = venv.join(format!("lib/python{minor}/site-packages"));
    write_file(&packages, "venv_mod.py", "TEXT = 'from the venv'\n");
    let extra = site.join("pth-folder");
    write_file(&extra, "pth_mod.py", "TEXT = 'through the pth file'\n");
    write_file(&packages, "extra.pth", format!("{}\n", extra.display()));
    venv
}

const VENV_SCRIPT: &str = "\
import sys

import pth_mod
import venv_mod


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s\\n%s\\nprefix=%s\\n' % (venv_mod.TEXT, pth_mod.TEXT, sys.prefix)).encode()]
";

#[test]
fn venv_beside_the_script_is_used() {
    let drop_in = DropIn::new("dot-venv");
    let venv = fake_venv(&drop_in.site, &python().version);
    let script = drop_in.script("app.py", &drop_in.rwsgi_link(), VENV_SCRIPT);
    let ran = exec(&script, &[], &Request::get("/", ""));
    ran.assert_code(0);
    assert_eq!(
        latin1_string(&ran.response().body),
        format!(
            "from the venv\nthrough the pth file\nprefix={}\n",
            venv.display()
        )
    );
}

#[test]
fn venv_beside_the_script_is_used_by_rwsgi_call_too() {
    // rwsgi's own hint for a script run outside a server is `rwsgi call --app SCRIPT GET /`:
    // the script must then see the same virtualenv as under the server.
    let drop_in = DropIn::new("dot-venv-call");
    let venv = fake_venv(&drop_in.site, &python().version);
    let script = drop_in.script("app.wsgi", &drop_in.rwsgi_link(), VENV_SCRIPT);
    let want = format!(
        "from the venv\nthrough the pth file\nprefix={}\n",
        venv.display()
    );
    let elsewhere = temp_dir("dot-venv-call-cwd");
    let call = |cwd: &Path, app: &str| util::call(["--app", app, "GET", "/"]).cwd(cwd).run();
    for (cwd, app) in [
        (&elsewhere, script.display().to_string()),
        (&drop_in.site, "./app.wsgi".to_string()),
        (&drop_in.site, "app.wsgi".to_string()),
    ] {
        let out = call(cwd, &app);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            want,
            "{app} in {}: {}",
            cwd.display(),
            out.dump()
        );
    }
    // A module app uses the .venv of the folder it is imported from first: the current one.
    write_file(&drop_in.site, "venv_app.py", VENV_SCRIPT);
    let out = call(&drop_in.site, "venv_app");
    assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{}", out.dump());
    // A virtualenv named outright wins over the .venv.
    util::call(["--app", "./app.wsgi", "GET", "/"])
        .env("RWSGI_VENV", &elsewhere)
        .cwd(&drop_in.site)
        .run()
        .assert_stderr_has(&format!("{} is not a virtualenv", elsewhere.display()));
}

#[test]
fn venv_of_another_python_is_refused() {
    let drop_in = DropIn::new("dot-venv-foreign");
    let venv = fake_venv(&drop_in.site, "3.99.0");
    let script = drop_in.script("app.py", &drop_in.rwsgi_link(), VENV_SCRIPT);
    exec(&script, &[], &Request::get("/", ""))
        .assert_code(1)
        .assert_stdout(INTERNAL_ERROR)
        .assert_stderr_has(&format!(
            "rwsgi: error: the virtualenv {} was made for Python 3.99.0, but rwsgi embeds \
             Python {}; recreate it with python{} -m venv",
            venv.display(),
            python().version,
            python().minor
        ));
}

/// A drop-in that answers with the libpython this process mapped and its `sys.version`.
const WHICH_LIBPYTHON: &str = "\
import sys


def application(environ, start_response):
    with open('/proc/self/maps') as maps:
        paths = sorted({line.split()[-1] for line in maps if 'libpython' in line})
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s\\n%s\\n' % (' '.join(paths), sys.version)).encode()]
";

#[test]
fn another_libpython_of_the_same_minor_is_not_used_silently() {
    let drop_in = DropIn::new("other-libpython");
    let script = drop_in.script("which.wsgi", &drop_in.rwsgi_link(), WHICH_LIBPYTHON);
    let run_with = |library_path: Option<&Path>| {
        let mut request = Request::get("/", "");
        if let Some(dir) = library_path {
            request = request.var("LD_LIBRARY_PATH", dir.as_os_str().as_bytes());
        }
        let ran = exec(&script, &[], &request);
        ran.assert_code(0);
        let body = latin1_string(&ran.response().body);
        let library = body.lines().next().unwrap_or_default().to_string();
        (ran, PathBuf::from(library))
    };
    let (ran, built) = run_with(None);
    ran.assert_stderr_empty();
    let soname = format!("libpython{}.so.1.0", python().minor);
    assert!(
        built.ends_with(&soname),
        "rwsgi mapped {}, not {soname}",
        built.display()
    );

    // A copy of the same build, found first: the same Python, nothing to say.
    let copy = temp_dir("libpython-copy");
    std::fs::copy(&built, copy.join(&soname)).unwrap();
    let (ran, loaded) = run_with(Some(&copy));
    assert_eq!(loaded, copy.join(&soname), "{}", ran.dump());
    ran.assert_stderr_empty();

    // Another build of the same minor version (the system's), as the loader takes it when the
    // build's library is unreadable or LD_LIBRARY_PATH names another: rwsgi runs, and says so.
    let other = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
    ]
    .iter()
    .map(|dir| Path::new(dir).join(&soname))
    .find(|path| {
        path.is_file() && std::fs::canonicalize(path).ok() != std::fs::canonicalize(&built).ok()
    })
    .unwrap_or_else(|| {
        panic!(
            "this test needs a second {soname} besides {} (Debian: apt-get install \
                 libpython{}; scripts/test installs it)",
            built.display(),
            python().minor
        )
    });
    let other_dir = temp_dir("libpython-other");
    symlink(&other, other_dir.join(&soname)).unwrap();
    let (ran, loaded) = run_with(Some(&other_dir));
    assert_eq!(
        std::fs::canonicalize(&loaded).unwrap(),
        std::fs::canonicalize(&other).unwrap(),
        "{}",
        ran.dump()
    );
    ran.assert_stderr_has(&format!(
        "rwsgi: warning: rwsgi was built against Python {} ({}), but this process loaded Python ",
        python().version,
        std::fs::canonicalize(&built).unwrap().display()
    ))
    .assert_stderr_has(&format!(
        "from {}, another build",
        std::fs::canonicalize(&other).unwrap().display()
    ))
    .assert_stderr_has("or set PYTHONHOME to the Python you mean to run on");
    // With PYTHONHOME set, the Python is the user's choice.
    let home = String::from_utf8_lossy(
        &Command::new("/bin/sh")
            .args(["-c", "echo -n ${0%/lib/*}"])
            .arg(std::fs::canonicalize(&other).unwrap())
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let ran = exec(
        &script,
        &[],
        &Request::get("/", "")
            .var("LD_LIBRARY_PATH", other_dir.as_os_str().as_bytes())
            .var("PYTHONHOME", &home),
    );
    ran.assert_code(0).assert_stderr_empty();
}

#[test]
fn app_that_cannot_be_imported_is_a_500_and_exit_1() {
    run(&rwsgi_app("broken_import"), &Request::get("/", ""))
        .assert_code(1)
        .assert_stdout(INTERNAL_ERROR)
        .assert_stderr_has("rwsgi: error: cannot import 'broken_import'")
        .assert_stderr_has("broken_import.py\", line 3")
        .assert_stderr_has("ModuleNotFoundError: No module named 'definitely_missing_dependency'");
}

#[test]
fn no_app_at_all_is_a_500_and_exit_1() {
    run(
        &Start::Program(rwsgi_bin(), Vec::new()),
        &Request::get("/", ""),
    )
    .assert_code(1)
    .assert_stdout(INTERNAL_ERROR)
    .assert_stderr_has("rwsgi: error: no app to run:")
    .assert_stderr_has("RWSGI_APP");
}

// ---------------------------------------------------------------------------------------------
// The environ (spec/cgi.md "Environ")

#[test]
fn environ_holds_the_meta_variables_and_the_wsgi_keys() {
    let request = Request::get("/a%20b", "read=none&x=1").var("HTTP_USER_AGENT", "agent/1");
    let ran = run(&rwsgi_app("echo"), &request);
    ran.assert_code(0).assert_stderr_empty();
    assert_eq!(
        ran.body_json(),
        json!({
            "GATEWAY_INTERFACE": "CGI/1.1",
            "HTTP_HOST": "example.org:8080",
            "HTTP_USER_AGENT": "agent/1",
            "PATH": SYSTEM_PATH,
            "PATH_INFO": "/a%20b",
            "QUERY_STRING": "read=none&x=1",
            "REMOTE_ADDR": "192.0.2.10",
            "REQUEST_METHOD": "GET",
            "RWSGI_APP": "echo",
            "RWSGI_PATH": apps_dir().display().to_string(),
            "SCRIPT_NAME": "/cgi-bin/app.py",
            "SERVER_NAME": "example.org",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "body": null,
            "body_sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "has_file_wrapper": true,
            "wsgi.input_terminated": true,
            "wsgi.multiprocess": true,
            "wsgi.multithread": false,
            "wsgi.run_once": true,
            "wsgi.url_scheme": "http",
            "wsgi.version": [1, 0],
        })
    );
}

#[test]
fn http_content_type_and_length_are_dropped() {
    let request = Request::post("/", "read=n:16", "text/plain", b"hello")
        .var("HTTP_CONTENT_TYPE", "text/plain")
        .var("HTTP_CONTENT_LENGTH", "5");
    let environ = run(&rwsgi_app("echo"), &request).body_json();
    assert_eq!(environ.get("HTTP_CONTENT_TYPE"), None);
    assert_eq!(environ.get("HTTP_CONTENT_LENGTH"), None);
    assert_eq!(environ["CONTENT_TYPE"], "text/plain");
    assert_eq!(environ["CONTENT_LENGTH"], "5");
    assert_eq!(environ["body"], "hello");
    // wsgiref.validate refuses an environ holding them; under rwsgi it has nothing to say.
    run(&rwsgi_app("validated:wrap('echo')"), &request)
        .assert_code(0)
        .assert_stderr_empty();
    // CGIHandler passes them on.
    let reference = run(&cgihandler("echo"), &request).body_json();
    assert_eq!(reference["HTTP_CONTENT_TYPE"], "text/plain");
    assert_eq!(reference["HTTP_CONTENT_LENGTH"], "5");
}

#[test]
fn url_scheme_from_https_and_request_scheme() {
    let cases: &[(&str, &str, &str)] = &[
        ("HTTPS", "on", "https"),
        ("HTTPS", "ON", "https"),
        ("HTTPS", "1", "https"),
        ("HTTPS", "yes", "https"),
        ("HTTPS", "Yes", "https"),
        ("HTTPS", "off", "http"),
        ("REQUEST_SCHEME", "https", "https"),
        ("REQUEST_SCHEME", "http", "http"),
    ];
    for &(name, value, scheme) in cases {
        let request = Request::get("/", "read=none").var(name, value);
        let environ = run(&rwsgi_app("echo"), &request).body_json();
        assert_eq!(environ["wsgi.url_scheme"], scheme, "{name}={value}");
    }
    let environ = run(&rwsgi_app("echo"), &Request::get("/", "read=none")).body_json();
    assert_eq!(environ["wsgi.url_scheme"], "http");
    // CGIHandler compares HTTPS with "on", "yes" and "1" exactly and ignores REQUEST_SCHEME.
    for (name, value, scheme) in [
        ("HTTPS", "on", "https"),
        ("HTTPS", "ON", "http"),
        ("REQUEST_SCHEME", "https", "http"),
    ] {
        let request = Request::get("/", "read=none").var(name, value);
        let environ = run(&cgihandler("echo"), &request).body_json();
        assert_eq!(
            environ["wsgi.url_scheme"], scheme,
            "CGIHandler, {name}={value}"
        );
    }
}

#[test]
fn missing_server_name_and_port_come_from_host_else_localhost_80() {
    let bare = Request::get("/", "read=none")
        .without("SERVER_NAME")
        .without("SERVER_PORT")
        .without("HTTP_HOST");
    let cases: &[(Request, &str, &str)] = &[
        (bare.clone(), "localhost", "80"),
        (
            bare.clone().var("HTTP_HOST", "example.com:8000"),
            "example.com",
            "8000",
        ),
        (
            bare.clone().var("HTTP_HOST", "example.com"),
            "example.com",
            "80",
        ),
        (bare.clone().var("HTTP_HOST", "[::1]:81"), "[::1]", "81"),
        (
            bare.clone()
                .var("HTTP_HOST", "a.example:1")
                .var("SERVER_NAME", "b.example")
                .var("SERVER_PORT", "2"),
            "b.example",
            "2",
        ),
    ];
    for (request, name, port) in cases {
        let environ = run(&rwsgi_app("echo"), request).body_json();
        assert_eq!(
            (&environ["SERVER_NAME"], &environ["SERVER_PORT"]),
            (&json!(name), &json!(port)),
            "{request:?}"
        );
    }
    // PEP 3333 requires both; wsgiref.validate checks it.
    run(
        &rwsgi_app("validated:wrap('echo')"),
        &bare.clone().var("QUERY_STRING", "read=n:8"),
    )
    .assert_code(0)
    .assert_stderr_empty();
    // CGIHandler leaves them missing.
    let environ = run(&cgihandler("echo"), &bare).body_json();
    assert_eq!(environ.get("SERVER_NAME"), None);
    assert_eq!(environ.get("SERVER_PORT"), None);
}

#[test]
fn httpoxy_proxy_header_does_not_reach_os_environ_or_subprocesses() {
    let request = Request::get("/", "").var("HTTP_PROXY", "http://attacker.example:3128");
    assert_eq!(
        run(&rwsgi_app("proxy"), &request).body_json(),
        json!({
            "environ": "http://attacker.example:3128",
            "os_environ": null,
            "subprocess": null,
        })
    );
    run(&rwsgi_app("validated:wrap('proxy')"), &request)
        .assert_code(0)
        .assert_stderr_empty();
    // CGIHandler does nothing about it.
    assert_eq!(
        run(&cgihandler("proxy"), &request).body_json(),
        json!({
            "environ": "http://attacker.example:3128",
            "os_environ": "http://attacker.example:3128",
            "subprocess": "http://attacker.example:3128",
        })
    );
}

// ---------------------------------------------------------------------------------------------
// The request body (spec/cgi.md "Request body")

#[test]
fn input_never_reads_past_content_length() {
    for read in ["all", "n:2", "readline", "readline:2", "readlines", "iter"] {
        let request = Request::post("/", &format!("read={read}"), "text/plain", b"ab\ncd")
            .stdin("ab\ncdEXTRA\nMORE");
        let environ = run(&rwsgi_app("echo"), &request).body_json();
        assert_eq!(environ["body"], "ab\ncd", "read={read}");
    }
    let request =
        Request::post("/", "read=n:2", "text/plain", b"ab\ncd").stdin("ab\ncdEXTRA\nMORE");
    let environ = run(&rwsgi_app("echo"), &request).body_json();
    assert_eq!(environ["chunks"], json!([2, 2, 1]));
    assert_eq!(environ["eof"], "");
}

#[test]
fn chunked_body_is_read_to_the_end_and_given_a_length() {
    // Apache passes a de-chunked body on stdin, with HTTP_TRANSFER_ENCODING and no length.
    let request = Request::new("POST", "/", "read=n:64")
        .var("HTTP_TRANSFER_ENCODING", "chunked")
        .stdin("hello world");
    let environ = run(&rwsgi_app("echo"), &request).body_json();
    assert_eq!(environ["body"], "hello world");
    assert_eq!(environ["CONTENT_LENGTH"], "11");
    assert_eq!(environ.get("HTTP_TRANSFER_ENCODING"), None);
    run(&rwsgi_app("validated:wrap('echo')"), &request)
        .assert_code(0)
        .assert_stderr_empty();
}

#[test]
fn chunked_body_with_a_length_trusts_the_length() {
    // nginx with fcgiwrap passes both.
    let request = Request::new("POST", "/", "read=all")
        .var("HTTP_TRANSFER_ENCODING", "chunked")
        .var("CONTENT_LENGTH", "5")
        .stdin("hello world");
    let environ = run(&rwsgi_app("echo"), &request).body_json();
    assert_eq!(environ["body"], "hello");
    assert_eq!(environ["CONTENT_LENGTH"], "5");
    assert_eq!(environ.get("HTTP_TRANSFER_ENCODING"), None);
}

#[test]
fn bad_content_length_is_400_without_calling_the_app() {
    for bad in ["abc", "-1"] {
        let dir = temp_dir("bad-length");
        let marker = dir.join("marker");
        let request = Request::post("/", "", "text/plain", b"hello")
            .var("CONTENT_LENGTH", bad)
            .var("RWSGI_TEST_MARKER", marker.as_os_str().as_bytes());
        run(&rwsgi_app("marker"), &request)
            .assert_code(0)
            .assert_stdout(BAD_REQUEST)
            .assert_stderr_has(&format!(
                "rwsgi: error: answering 400 Bad Request: CONTENT_LENGTH \"{bad}\" is not a \
                 non-negative whole number"
            ));
        assert!(!marker.exists(), "CONTENT_LENGTH={bad}: the app was loaded");
    }
    // The same app, given a good length, leaves its trace: the check above means something.
    let dir = temp_dir("good-length");
    let marker = dir.join("marker");
    let request = Request::post("/", "", "text/plain", b"hello")
        .var("RWSGI_TEST_MARKER", marker.as_os_str().as_bytes());
    run(&rwsgi_app("validated:wrap('marker')"), &request)
        .assert_code(0)
        .assert_stderr_empty();
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap(),
        "imported\ncalled\n"
    );
}

#[test]
fn body_over_rwsgi_max_body_is_413() {
    let dir = temp_dir("too-large");
    let marker = dir.join("marker");
    let body = vec![b'x'; 2000];
    let by_length = Request::post("/", "", "text/plain", &body)
        .var("RWSGI_MAX_BODY", "1K")
        .var("RWSGI_TEST_MARKER", marker.as_os_str().as_bytes());
    run(&rwsgi_app("marker"), &by_length)
        .assert_code(0)
        .assert_stdout(TOO_LARGE)
        .assert_stderr_has(
            "rwsgi: error: answering 413 Content Too Large: the request body (2000 bytes) is \
             larger than RWSGI_MAX_BODY (1024 bytes)",
        );
    let chunked = by_length
        .clone()
        .without("CONTENT_LENGTH")
        .var("HTTP_TRANSFER_ENCODING", "chunked");
    run(&rwsgi_app("marker"), &chunked)
        .assert_code(0)
        .assert_stdout(TOO_LARGE);
    assert!(!marker.exists(), "the app was loaded");
    // Exactly the limit is fine.
    let at_limit = Request::post("/", "", "text/plain", &body[..1024]).var("RWSGI_MAX_BODY", "1K");
    let response = run(&rwsgi_app("bylength"), &at_limit)
        .assert_code(0)
        .response();
    assert_eq!(response.one("X-Read"), "1024");
}

#[test]
fn body_shorter_than_content_length_is_400() {
    let request = Request::post("/", "", "text/plain", b"0123456789").stdin("abc");
    run(&rwsgi_app("bylength"), &request)
        .assert_code(0)
        .assert_stdout(BAD_REQUEST)
        .assert_stderr_has("the request body ended after 3 of the 10 bytes of CONTENT_LENGTH");
}

#[test]
fn large_body_arrives_whole_through_a_temporary_file() {
    let tmp = temp_dir("spool");
    let body: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let request = Request::post("/", "", "application/octet-stream", &body)
        .var("TMPDIR", tmp.as_os_str().as_bytes());
    let ran = run(&rwsgi_app("bylength"), &request);
    let response = ran.assert_code(0).response();
    assert_eq!(response.one("X-Read"), "5242880");
    assert!(response.body == body, "the body came back changed");
    // Held in an unlinked file in TMPDIR while the app runs, and gone afterwards.
    let spooled = response.one("X-Spooled");
    let prefix = format!("{}/", tmp.canonicalize().unwrap().display());
    assert!(
        spooled.starts_with(&prefix) && spooled.ends_with(" (deleted)") && !spooled.contains(", "),
        "X-Spooled: {spooled}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "left behind in TMPDIR: {left:?}");
    // A small body stays in memory.
    let small =
        Request::post("/", "", "text/plain", b"small").var("TMPDIR", tmp.as_os_str().as_bytes());
    let response = run(&rwsgi_app("bylength"), &small)
        .assert_code(0)
        .response();
    assert_eq!(response.one("X-Spooled"), "(none)");
    assert_eq!(response.body, b"small");
}

// ---------------------------------------------------------------------------------------------
// The response (spec/cgi.md "Response")

#[test]
fn response_is_status_line_headers_blank_line_body_with_crlf() {
    run(&rwsgi_app("status"), &Request::get("/", "code=404"))
        .assert_code(0)
        .assert_stdout(
            b"Status: 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\n\
              status 404\n",
        );
    run(
        &rwsgi_app("validated:wrap('status')"),
        &Request::get("/", "code=404"),
    )
    .assert_code(0)
    .assert_stderr_empty()
    .assert_stdout(b"Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nstatus 404\n");
    // A 200 has its Status line too (RFC 3875 section 6.3.3).
    run(&rwsgi_app("status"), &Request::get("/", ""))
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nstatus 200\n",
        );
}

#[test]
fn content_length_is_added_for_a_list_only_once_and_not_for_a_generator() {
    let list = run(&rwsgi_app("listbody"), &Request::get("/", "parts=3"));
    assert_eq!(
        list.assert_code(0).response().headers,
        headers(&[("Content-Type", "text/plain"), ("Content-Length", "21")])
    );
    let own = run(
        &rwsgi_app("listbody"),
        &Request::get("/", "parts=3&own_length=1"),
    );
    assert_eq!(
        own.assert_code(0).response().headers,
        headers(&[("Content-Type", "text/plain"), ("content-length", "21")])
    );
    let empty = run(&rwsgi_app("listbody"), &Request::get("/", "parts=0"));
    assert_eq!(
        empty.assert_code(0).response().headers,
        headers(&[("Content-Type", "text/plain"), ("Content-Length", "0")])
    );
    let generator = run(&rwsgi_app("stream"), &Request::get("/", "n=2&size=3"));
    generator
        .assert_code(0)
        .assert_stdout(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\naaabbb");
}

#[test]
fn prints_and_subprocess_output_go_to_stderr() {
    let ran = run(&rwsgi_app("noisy"), &Request::get("/", ""));
    ran.assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nquiet body\n",
        )
        .assert_stderr_has("noisy: print\n")
        .assert_stderr_has("noisy: sys.stdout.write\n")
        .assert_stderr_has("noisy: subprocess\n");
    run(
        &rwsgi_app("validated:wrap('noisy')"),
        &Request::get("/", ""),
    )
    .assert_code(0)
    .assert_stdout(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nquiet body\n")
    .assert_stderr_has("noisy: subprocess\n");
}

#[test]
fn cr_lf_nul_or_non_latin1_in_status_or_header_is_a_500_without_the_apps_headers() {
    let cases = [
        (
            "status_crlf",
            "invalid status \"200 OK\\r\\nX-Injected: 1\": it contains a carriage return (CR)",
        ),
        (
            "header_crlf",
            "invalid value for header \"X-Note\": it contains a carriage return (CR)",
        ),
        (
            "header_nul",
            "invalid value for header \"X-Note\": it contains a NUL character",
        ),
        ("header_non_latin1", "invalid value for header \"X-Snow\""),
        ("header_name_space", "invalid header name \"Bad Name\""),
    ];
    for (bad, message) in cases {
        run(
            &rwsgi_app("protocol"),
            &Request::get("/", &format!("bad={bad}")),
        )
        .assert_code(0)
        .assert_stdout(INTERNAL_ERROR)
        .assert_stderr_has(message);
    }
}

#[test]
fn hop_by_hop_header_is_dropped_with_a_warning() {
    run(&rwsgi_app("protocol"), &Request::get("/", "bad=hop_by_hop"))
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 OK\r\nContent-Type: text/plain\r\nX-Good: yes\r\n\
              Content-Length: 3\r\n\r\nok\n",
        )
        .assert_stderr_has("rwsgi: warning: dropped the hop-by-hop header 'Connection'")
        .assert_stderr_has("rwsgi: warning: dropped the hop-by-hop header 'Transfer-Encoding'");
}

#[test]
fn app_raising_before_headers_is_a_500_with_the_traceback_on_stderr() {
    for at in ["call", "after_start", "first_chunk"] {
        let ran = run(
            &rwsgi_app("raising"),
            &Request::get("/", &format!("at={at}")),
        );
        ran.assert_code(0)
            .assert_stdout(INTERNAL_ERROR)
            .assert_stderr_has(
                "rwsgi: error: the application failed before sending a response; answering \
                 500 Internal Server Error",
            )
            .assert_stderr_has("Traceback (most recent call last):")
            .assert_stderr_has(&format!("RuntimeError: raised at {at}"));
    }
}

#[test]
fn app_raising_mid_stream_keeps_what_was_sent_and_exits_1() {
    run(&rwsgi_app("raising"), &Request::get("/", "at=mid_stream"))
        .assert_code(1)
        .assert_stdout(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nchunk 1\nchunk 2\n")
        .assert_stderr_has(
            "rwsgi: error: the application failed after its response headers were sent; the \
             body is cut short",
        )
        .assert_stderr_has("Traceback (most recent call last):")
        .assert_stderr_has("RuntimeError: raised at mid_stream");
}

#[test]
fn close_is_always_called() {
    for (at, code) in [
        ("none", 0),
        ("first_chunk", 0),
        ("mid_stream", 1),
        ("close", 1),
    ] {
        run(
            &rwsgi_app("raising"),
            &Request::get("/", &format!("at={at}")),
        )
        .assert_code(code)
        .assert_stderr_has(&format!("closed:{at}\n"));
    }
    // wsgiref.validate complains on stderr when an iterable is dropped without close().
    run(
        &rwsgi_app("validated:wrap('raising')"),
        &Request::get("/", "at=mid_stream"),
    )
    .assert_code(1)
    .assert_stderr_has("closed:mid_stream\n")
    .assert_stderr_lacks("without being closed");
}

#[test]
fn complete_response_exits_0_with_nothing_on_stderr() {
    run(&rwsgi_app("stream"), &Request::get("/", "n=2&size=2"))
        .assert_code(0)
        .assert_stdout(b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\naabb")
        .assert_stderr_empty();
}

// ---------------------------------------------------------------------------------------------
// Responses without content (RFC 9110 sections 6.4.1 and 8.6, RFC 3875 section 4.3.2)

#[test]
fn head_gets_the_heads_of_get_without_a_body_or_a_made_up_length() {
    for shape in ["list", "gen", "write", "empty"] {
        let query = format!("as={shape}");
        let get = run(&rwsgi_app("bodiless"), &Request::get("/", &query));
        get.assert_code(0);
        let head = run(&rwsgi_app("bodiless"), &Request::new("HEAD", "/", &query));
        head.assert_code(0);
        let response = head.response();
        assert_eq!(response.status, "200 Whatever", "{}", head.dump());
        // The same headers as the GET, less the length rwsgi would have counted.
        assert_eq!(
            response.headers,
            get.response().without("Content-Length"),
            "{shape}\n{}",
            head.dump()
        );
        assert!(response.body.is_empty(), "{shape}\n{}", head.dump());
    }
    // The body is still iterated and closed.
    run(&rwsgi_app("bodiless"), &Request::new("HEAD", "/", "as=gen"))
        .assert_code(0)
        .assert_stderr_has("closed after 2 chunks\n");
    // The app's own Content-Length is what a GET would have had: it is kept.
    run(
        &rwsgi_app("bodiless"),
        &Request::new("HEAD", "/", "as=gen&cl=6"),
    )
    .assert_code(0)
    .assert_stdout(
        b"Status: 200 Whatever\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n",
    );
}

#[test]
fn head_of_rwsgis_own_answers_has_no_body_either() {
    let without_body = |full: &[u8]| {
        let end = full.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        full[..end].to_vec()
    };
    run(
        &rwsgi_app("bodiless"),
        &Request::new("HEAD", "/", "raise=1"),
    )
    .assert_code(0)
    .assert_stdout(without_body(INTERNAL_ERROR));
    run(
        &rwsgi_app("bodiless"),
        &Request::new("HEAD", "/", "").var("CONTENT_LENGTH", "x"),
    )
    .assert_code(0)
    .assert_stdout(without_body(BAD_REQUEST));
}

#[test]
fn no_content_statuses_get_no_body_and_no_made_up_length() {
    for code in ["100", "103", "204", "304"] {
        for shape in ["list", "gen", "write", "empty"] {
            let ran = run(
                &rwsgi_app("bodiless"),
                &Request::get("/", &format!("code={code}&as={shape}")),
            );
            ran.assert_code(0).assert_stdout(
                format!("Status: {code} Whatever\r\nContent-Type: text/plain\r\n\r\n").as_bytes(),
            );
        }
    }
    // RFC 9110 section 8.6: never a Content-Length with 1xx or 204, even the app's; a 304's is
    // the length the GET would have had, so it stays.
    run(&rwsgi_app("bodiless"), &Request::get("/", "code=204&cl=0"))
        .assert_code(0)
        .assert_stdout(b"Status: 204 Whatever\r\nContent-Type: text/plain\r\n\r\n")
        .assert_stderr_empty();
    run(&rwsgi_app("bodiless"), &Request::get("/", "code=204&cl=6"))
        .assert_code(0)
        .assert_stdout(b"Status: 204 Whatever\r\nContent-Type: text/plain\r\n\r\n")
        .assert_stderr_has("rwsgi: warning: dropped 'Content-Length: 6' from a 204 response");
    run(&rwsgi_app("bodiless"), &Request::get("/", "code=304&cl=6"))
        .assert_code(0)
        .assert_stdout(
            b"Status: 304 Whatever\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\n",
        );
}

#[test]
fn repeated_content_length_becomes_one_and_differing_ones_are_refused() {
    run(&rwsgi_app("bodiless"), &Request::get("/", "cl=6&cl=6"))
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 Whatever\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n",
        );
    run(&rwsgi_app("bodiless"), &Request::get("/", "cl=6,%206"))
        .assert_code(0)
        .assert_stdout(
            b"Status: 200 Whatever\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n",
        );
    for (query, message) in [
        (
            "cl=6&cl=7",
            "two different Content-Length values, \"6\" and \"7\"",
        ),
        ("cl=six", "invalid Content-Length \"six\""),
        ("cl=-6", "invalid Content-Length \"-6\""),
        ("cl=", "invalid Content-Length \"\""),
    ] {
        run(&rwsgi_app("bodiless"), &Request::get("/", query))
            .assert_code(0)
            .assert_stdout(INTERNAL_ERROR)
            .assert_stderr_has(message);
    }
}

#[test]
fn header_values_lose_surrounding_spaces_and_tabs() {
    // Django writes `Set-Cookie` values with a leading space (SimpleCookie's output).
    run(
        &rwsgi_app("bodiless"),
        &Request::get(
            "/",
            "h=Set-Cookie:%20a=1;%20Path=/&h=X-Tabs:%09%20b%20c%09&h=X-Empty:%20",
        ),
    )
    .assert_code(0)
    .assert_stdout(
        b"Status: 200 Whatever\r\nContent-Type: text/plain\r\nSet-Cookie: a=1; Path=/\r\n\
          X-Tabs: b c\r\nX-Empty: \r\nContent-Length: 6\r\n\r\nhello\n",
    );
}
