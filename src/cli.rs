//! `rwsgi call` / `rwsgi-call`: the command line as a source (flags -> [`Request`]) and a sink
//! ([`Response`] -> stdout or a file), in the habits of curl (spec/cli.md).

use std::ffi::OsString;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use clap::{Parser, ValueEnum};

use crate::error::{Error, Result};
use crate::http::{self, BufferedSink, Request, ResponseHead, ResponseSink};
use crate::multipart;
use crate::python::Outcome;

/// Run one request through a WSGI app, with no server, and print the response.
#[derive(Parser, Debug)]
#[command(
    name = "rwsgi-call",
    version = crate::VERSION,
    about = "Run one HTTP request through a Python WSGI app, with no server, in the habits of curl.",
    after_help = "Examples:\n  rwsgi-call --app myproject.wsgi:application GET '/api/items?page=2' -H 'Accept: application/json'\n  rwsgi-call --app app.py --json '{\"name\": \"x\"}' /items\n  rwsgi-call --app app:create_app() -F photo=@cat.jpg /upload\n\nExit status: 0 (any HTTP status), 22 with -f when the status is 400 or more, 1 when the app\ncould not be loaded or failed, 2 for bad usage."
)]
pub struct CallArgs {
    /// [METHOD] TARGET: TARGET is `/path?query` or a full http(s) URL.
    #[arg(value_name = "METHOD] [TARGET", num_args = 1..=2, required = true)]
    pub positional: Vec<String>,

    /// The app: `module:name`, `module:factory(args)`, `module`, `file.py[:name]` (default: $RWSGI_APP).
    #[arg(long, value_name = "SPEC")]
    pub app: Option<String>,

    /// A virtualenv to import from (default: $RWSGI_VENV, else $VIRTUAL_ENV).
    #[arg(long, value_name = "DIR")]
    pub venv: Option<PathBuf>,

    /// The request method (also the first positional argument).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub request: Option<String>,

    /// A request header, `Name: value` (repeatable); `Name:` removes a default header.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// A form body (repeatable, joined with `&`); `@file` reads a file without its newlines, `@-` stdin.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub data: Vec<String>,

    /// Like --data, but `@file` is sent exactly as it is.
    #[arg(long = "data-binary", value_name = "DATA")]
    pub data_binary: Vec<String>,

    /// A JSON body (`@file` and `@-` too); sets Content-Type and Accept to application/json.
    #[arg(long, value_name = "DATA")]
    pub json: Option<String>,

    /// A multipart/form-data field: `name=value`, `name=@file[;type=T][;filename=N]` (repeatable).
    #[arg(short = 'F', long = "form", value_name = "NAME=VALUE")]
    pub form: Vec<String>,

    /// Print the status line and headers before the body.
    #[arg(short = 'i', long)]
    pub include: bool,

    /// Send a HEAD request and print the status line and headers.
    #[arg(short = 'I', long)]
    pub head: bool,

    /// Write the output to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// `raw`: the body as the app sent it; `json`: {status, reason, headers, body, body_base64}.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    pub format: Format,

    /// Exit 22 and print nothing when the status is 400 or more.
    #[arg(short = 'f', long)]
    pub fail: bool,

    /// Exit 22 when the status is 400 or more, but print the response.
    #[arg(long = "fail-with-body")]
    pub fail_with_body: bool,

    /// Add KEY=VALUE to the WSGI environ (repeatable).
    #[arg(short = 'e', long = "environ", value_name = "KEY=VALUE")]
    pub environ: Vec<String>,

    /// Mount the app at this path: its SCRIPT_NAME.
    #[arg(long = "script-name", value_name = "PREFIX")]
    pub script_name: Option<String>,

    /// Send the request as that AWS front door would, through the Lambda translation, and show
    /// what the client would get.
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub via: Option<crate::lambda::local::Via>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Raw,
    Json,
}

/// Runs `rwsgi call` with its own arguments; returns the exit status.
pub fn main(args: Vec<OsString>) -> Result<u8> {
    let args = match parse_args::<CallArgs>("rwsgi-call", args) {
        Ok(args) => args,
        Err(code) => return Ok(code),
    };
    let request = build_request(&args, &mut io::stdin().lock())?;
    let spec_text = args
        .app
        .clone()
        .or_else(|| crate::env_nonempty("RWSGI_APP"))
        .ok_or_else(|| {
            Error::Usage(
                "no app given: pass --app SPEC (e.g. --app myproject.wsgi:application) or set RWSGI_APP"
                    .into(),
            )
        })?;
    // The response has stdout to itself: fd 1 now points at stderr, so whatever the app prints
    // (print(), C extensions, subprocesses) shows up on the terminal without corrupting the
    // body a script is capturing.
    let stdout = if args.output.is_none() {
        Some(
            crate::stdio::private_stdout().map_err(|source| Error::Write {
                what: "stdout".into(),
                source,
            })?,
        )
    } else {
        None
    };
    if let Some(via) = args.via {
        return call_via(&args, via, spec_text, request, stdout);
    }
    let app = crate::load_app(
        &spec_text,
        crate::AppPlace {
            venv: args.venv.clone(),
            default_venv: None,
            base_dirs: vec![PathBuf::from(".")],
            cgi_script: None,
            signal_handlers: true,
            lambda_handler: false,
            line_buffered: false,
        },
    )?;
    let head_only = request.method == "HEAD";
    let fail = Fail::from_args(&args);
    match args.format {
        Format::Raw => {
            let sink = Arc::new(Mutex::new(RawSink {
                out: Output::new(args.output.clone(), stdout),
                include: args.include || args.head,
                head_only,
                fail,
                status: 0,
            }));
            let outcome = app.call(request, sink.clone());
            let mut sink = sink.lock().unwrap_or_else(|p| p.into_inner());
            let flushed = sink.out.flush();
            finish(outcome, sink.status, fail, flushed)
        }
        Format::Json => {
            let sink = Arc::new(Mutex::new(BufferedSink::default()));
            let outcome = app.call(request, sink.clone());
            let response = std::mem::take(&mut *sink.lock().unwrap_or_else(|p| p.into_inner()))
                .into_response();
            let status = response.as_ref().map_or(0, |r| r.head.status.code);
            let written = match response {
                Some(mut r) if !(fail == Fail::Silent && r.head.status.code >= 400) => {
                    if head_only {
                        r.body.clear();
                    }
                    let mut out = Output::new(args.output.clone(), stdout);
                    let mut text = json_response(&r.head, &r.body);
                    text.push('\n');
                    out.write(text.as_bytes()).and_then(|()| out.flush())
                }
                _ => Ok(()),
            };
            finish(outcome, status, fail, written)
        }
    }
}

/// `--via`: the request becomes the event that front door would send, runs through the same
/// translation as on Lambda, and the reply becomes what the front door would send the client.
fn call_via(
    args: &CallArgs,
    via: crate::lambda::local::Via,
    spec_text: String,
    request: Request,
    stdout: Option<std::fs::File>,
) -> Result<u8> {
    use crate::lambda::{Invocation, error_body, local};
    if args.script_name.is_some() {
        return Err(Error::Usage(
            "--script-name does not go with --via: the front door decides SCRIPT_NAME \
             (set RWSGI_BASE_PATH for a base path)"
                .into(),
        ));
    }
    let handler = local::local_handler(Some(spec_text), args.venv.clone())?;
    let ctx = local::made_up_context();
    let head_only = request.method == "HEAD";
    let event = local::event_for(via, request, &ctx)?;
    let event = serde_json::to_vec(&event).unwrap_or_default();
    let (reply, app_failed) = match handler.handle(event, ctx) {
        Invocation::Reply { reply, app_failed } => (reply, app_failed),
        Invocation::Error(report) => {
            crate::log::error(&String::from_utf8_lossy(&error_body(&report)));
            return Ok(1);
        }
    };
    let reply: serde_json::Value = serde_json::from_slice(&reply)
        .map_err(|e| Error::AppInit(format!("the reply is not JSON: {e}")))?;
    let mut response = local::client_response(via, &reply).map_err(Error::AppInit)?;
    if head_only {
        response.body.clear();
    }
    let fail = Fail::from_args(args);
    let status = response.head.status.code;
    let mut out = Output::new(args.output.clone(), stdout);
    let written = if fail == Fail::Silent && status >= 400 {
        Ok(())
    } else if args.format == Format::Json {
        let mut text = json_response(&response.head, &response.body);
        text.push('\n');
        out.write(text.as_bytes())
    } else {
        let mut sink = RawSink {
            out,
            include: args.include || args.head,
            head_only,
            fail,
            status: 0,
        };
        let sent = sink
            .send_head(&response.head, Some(response.body.len() as u64))
            .and_then(|()| sink.send_body(&response.body));
        out = sink.out;
        sent
    };
    let written = written.and_then(|()| out.flush());
    let outcome = if app_failed {
        Outcome::FailedBeforeHeaders
    } else {
        Outcome::Complete
    };
    finish(outcome, status, fail, written)
}

/// Parses a subcommand's arguments; `Err` holds the exit status after clap has printed help,
/// the version (0), or a usage error (2).
pub fn parse_args<T: Parser>(name: &str, args: Vec<OsString>) -> std::result::Result<T, u8> {
    let mut argv = vec![OsString::from(name)];
    argv.extend(args);
    T::try_parse_from(argv).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() { 2 } else { 0 }
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    No,
    Silent,
    WithBody,
}

impl Fail {
    fn from_args(args: &CallArgs) -> Fail {
        if args.fail_with_body {
            Fail::WithBody
        } else if args.fail {
            Fail::Silent
        } else {
            Fail::No
        }
    }
}

fn finish(outcome: Outcome, status: u16, fail: Fail, written: io::Result<()>) -> Result<u8> {
    let output_error = |source| Error::Write {
        what: "the output".into(),
        source,
    };
    match outcome {
        Outcome::Complete => {
            written.map_err(output_error)?;
            if fail != Fail::No && status >= 400 {
                eprintln!("rwsgi: the app answered {status} (exit 22, as curl --fail)");
                return Ok(22);
            }
            Ok(0)
        }
        Outcome::FailedBeforeHeaders | Outcome::FailedAfterHeaders => Ok(1),
        Outcome::SinkFailed(source) => Err(output_error(source)),
        Outcome::Interrupted => Ok(130),
    }
}

/// `{status, reason, headers, body, body_base64}`: `body` is the text when the body is UTF-8
/// (else null); `body_base64` always holds the exact bytes.
fn json_response(head: &ResponseHead, body: &[u8]) -> String {
    #[derive(serde::Serialize)]
    struct Json<'a> {
        status: u16,
        reason: &'a str,
        headers: Vec<[&'a str; 2]>,
        body: Option<&'a str>,
        body_base64: String,
    }
    let json = Json {
        status: head.status.code,
        reason: head.status.reason(),
        headers: head
            .headers
            .iter()
            .map(|(n, v)| [n.as_str(), v.as_str()])
            .collect(),
        body: std::str::from_utf8(body).ok(),
        body_base64: base64::engine::general_purpose::STANDARD.encode(body),
    };
    serde_json::to_string(&json).unwrap_or_default()
}

/// Where output goes: stdout, or a file created when the first byte is ready (so `-f` leaves
/// no empty file behind).
struct Output {
    path: Option<PathBuf>,
    file: Option<std::fs::File>,
}

impl Output {
    fn new(path: Option<PathBuf>, stdout: Option<std::fs::File>) -> Output {
        match path {
            Some(path) => Output {
                path: Some(path),
                file: None,
            },
            None => Output {
                path: None,
                file: stdout,
            },
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            let Some(path) = &self.path else {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "stdout is closed",
                ));
            };
            self.file = Some(
                std::fs::File::create(path)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?,
            );
        }
        // Unbuffered: streamed responses show up as the app yields them.
        self.file.as_mut().map_or(Ok(()), |f| f.write_all(bytes))
    }

    fn flush(&mut self) -> io::Result<()> {
        if let (Some(path), None) = (&self.path, &self.file) {
            // An empty body still creates the file, as curl -o does.
            self.file = Some(std::fs::File::create(path)?);
        }
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

/// Streams the response to the output as the app produces it.
struct RawSink {
    out: Output,
    include: bool,
    head_only: bool,
    fail: Fail,
    status: u16,
}

impl RawSink {
    fn silent(&self) -> bool {
        self.fail == Fail::Silent && self.status >= 400
    }
}

impl ResponseSink for RawSink {
    fn send_head(&mut self, head: &ResponseHead, _body_len: Option<u64>) -> io::Result<()> {
        self.status = head.status.code;
        if self.silent() || !self.include {
            return Ok(());
        }
        let mut text = Vec::new();
        head.write_lines(b"HTTP/1.1 ", &mut text);
        text.extend_from_slice(b"\r\n");
        self.out.write(&text)
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.silent() || self.head_only {
            return Ok(());
        }
        self.out.write(chunk)
    }
}

/// A request target: `/path?query` or an absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// The host and port of an absolute URL.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The path as it will be sent, percent-encoded where a browser would encode it.
    pub path: Vec<u8>,
    /// The query as it will be sent; `None` when there is no `?`.
    pub query: Option<Vec<u8>>,
}

impl Target {
    pub fn parse(text: &str) -> std::result::Result<Target, String> {
        let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("https://") {
            (Some(true), &text[8..])
        } else if lower.starts_with("http://") {
            (Some(false), &text[7..])
        } else {
            (None, text)
        };
        let (host, port, rest) = match https {
            Some(_) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                let (host, port) = parse_authority(&rest[..end])?;
                (Some(host), port, &rest[end..])
            }
            None => {
                if !rest.starts_with('/') {
                    let hint = if rest.contains('.') || rest.contains(':') {
                        format!(" (for a host, write a full URL: http://{rest})")
                    } else {
                        String::new()
                    };
                    return Err(format!(
                        "the target {text:?} must be a path starting with '/' or an http:// or https:// URL{hint}"
                    ));
                }
                (None, None, rest)
            }
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let path = if path.is_empty() { "/" } else { path };
        Ok(Target {
            https: https.unwrap_or(false),
            host,
            port,
            path: browser_encode(path, b"\"<>`{}"),
            query: query.map(|q| browser_encode(q, b"\"<>'")),
        })
    }

    /// `Host`: the host, with the port unless it is the scheme's default (as curl sends it).
    fn host_header(&self) -> Option<String> {
        let host = self.host.as_ref()?;
        let default = if self.https { 443 } else { 80 };
        Some(match self.port {
            Some(p) if p != default => format!("{host}:{p}"),
            _ => host.clone(),
        })
    }
}

fn parse_authority(authority: &str) -> std::result::Result<(String, Option<u16>), String> {
    if authority.contains('@') {
        return Err(
            "credentials in the URL are not supported; send them with -H 'Authorization: ...'"
                .into(),
        );
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("the IPv6 address in {authority:?} has no closing ']'"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected {p:?} after the IPv6 address"))?,
            ),
        };
        (format!("[{addr}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("the URL has no host".into());
    }
    if let Some(c) = host
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "/?#\\".contains(*c))
    {
        return Err(format!("the host {host:?} contains {c:?}"));
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("the port {p:?} is not a number from 1 to 65535"))?,
        ),
    };
    Ok((host.to_ascii_lowercase(), port))
}

/// Percent-encodes what a browser would not send raw in a request target (WHATWG URL: controls,
/// space, non-ASCII, and the component's own set), leaving existing escapes as they are.
fn browser_encode(text: &str, extra: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for &b in text.as_bytes() {
        if b <= 0x20 || b >= 0x7F || extra.contains(&b) {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

/// One `-H` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderArg {
    Set(String, Vec<u8>),
    /// `Name:` with nothing after it: leave the default header out (curl's convention).
    Remove(String),
}

pub fn parse_header(text: &str) -> std::result::Result<HeaderArg, String> {
    let bad = |why: &str| format!("invalid header {text:?}: {why}");
    // `Name;` sends the header with an empty value (curl's convention).
    if let Some(name) = text.strip_suffix(';')
        && !name.contains(':')
    {
        check_name(name).map_err(|w| bad(&w))?;
        return Ok(HeaderArg::Set(name.to_string(), Vec::new()));
    }
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| bad("expected 'Name: value'"))?;
    let name = name.trim();
    check_name(name).map_err(|w| bad(&w))?;
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Ok(HeaderArg::Remove(name.to_string()));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(bad("a value may not contain CR, LF or NUL"));
    }
    Ok(HeaderArg::Set(name.to_string(), value.as_bytes().to_vec()))
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err("the name must be a token (letters, digits, -)".into());
    }
    Ok(())
}

/// Builds the request the flags describe. `stdin` serves `@-`.
pub fn build_request(args: &CallArgs, stdin: &mut dyn Read) -> Result<Request> {
    let usage = |m: String| Error::Usage(m);
    let (method_arg, target_text) = match args.positional.as_slice() {
        [target] => (None, target.as_str()),
        [method, target] => (Some(method.as_str()), target.as_str()),
        _ => return Err(usage("expected [METHOD] TARGET".into())),
    };
    let target = Target::parse(target_text).map_err(usage)?;

    let mut stdin_used = false;
    let mut read_source = |spec: &str, strip_newlines: bool| -> Result<Vec<u8>> {
        let Some(source) = spec.strip_prefix('@') else {
            return Ok(spec.as_bytes().to_vec());
        };
        let mut data = if source == "-" {
            if stdin_used {
                return Err(usage("@- (stdin) can be used only once".into()));
            }
            stdin_used = true;
            let mut buf = Vec::new();
            stdin
                .read_to_end(&mut buf)
                .map_err(|source| Error::ReadFile {
                    path: "stdin".into(),
                    source,
                })?;
            buf
        } else {
            std::fs::read(source).map_err(|e| usage(format!("cannot read {source}: {e}")))?
        };
        if strip_newlines {
            // curl --data @file drops carriage returns and newlines; --data-binary keeps them.
            data.retain(|&b| b != b'\r' && b != b'\n');
        }
        Ok(data)
    };

    let body_kinds = [
        !args.data.is_empty() || !args.data_binary.is_empty(),
        args.json.is_some(),
        !args.form.is_empty(),
    ];
    if body_kinds.iter().filter(|&&k| k).count() > 1 {
        return Err(usage(
            "choose one kind of body: --data/--data-binary, --json or --form".into(),
        ));
    }

    let mut headers: Vec<HeaderArg> = Vec::new();
    for h in &args.headers {
        headers.push(parse_header(h).map_err(usage)?);
    }

    let mut body: Option<(Vec<u8>, Option<String>)> = None;
    let mut extra_defaults: Vec<(String, String)> = Vec::new();
    if !args.data.is_empty() || !args.data_binary.is_empty() {
        let mut pieces = Vec::new();
        for d in &args.data {
            pieces.push(read_source(d, true)?);
        }
        for d in &args.data_binary {
            pieces.push(read_source(d, false)?);
        }
        body = Some((
            pieces.join(&b'&'),
            Some("application/x-www-form-urlencoded".into()),
        ));
    } else if let Some(json) = &args.json {
        body = Some((read_source(json, false)?, Some("application/json".into())));
        extra_defaults.push(("Accept".into(), "application/json".into()));
    } else if !args.form.is_empty() {
        let mut parts = Vec::new();
        for f in &args.form {
            parts.push(form_part(f, &mut read_source)?);
        }
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id()) << 32;
        let form = multipart::build(&parts, seed);
        let user_type = headers.iter().find_map(|h| match h {
            HeaderArg::Set(n, v) if n.eq_ignore_ascii_case("content-type") => Some(v.clone()),
            _ => None,
        });
        let content_type = match user_type {
            // A user's own multipart type still needs the boundary that separates the parts.
            Some(t) if !String::from_utf8_lossy(&t).contains("boundary=") => {
                headers.retain(|h| !matches!(h, HeaderArg::Set(n, _) if n.eq_ignore_ascii_case("content-type")));
                Some(format!(
                    "{}; boundary={}",
                    String::from_utf8_lossy(&t),
                    form.boundary
                ))
            }
            Some(_) => None,
            None => Some(form.content_type()),
        };
        body = Some((form.body, content_type));
    }

    let method = match (method_arg, &args.request) {
        (Some(a), Some(b)) if a != b.as_str() => {
            return Err(usage(format!("two methods given: {a} and -X {b}")));
        }
        (Some(m), _) => m.to_string(),
        (None, Some(m)) => m.clone(),
        (None, None) if args.head => "HEAD".to_string(),
        (None, None) if body.is_some() => "POST".to_string(),
        (None, None) => "GET".to_string(),
    };
    if method.is_empty()
        || !method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(usage(format!(
            "{method:?} is not an HTTP method (expected e.g. GET, POST, PUT, DELETE)"
        )));
    }

    let mut request = Request::new(&method);
    request.scheme = if target.https { "https" } else { "http" }.into();
    if let Some(host) = &target.host {
        request.server_name = host.clone();
    }
    request.server_port = target
        .port
        .unwrap_or(if target.https { 443 } else { 80 })
        .to_string();

    let decoded = http::percent_decode(&target.path);
    let (script_name, path_info) = match &args.script_name {
        None => (Vec::new(), decoded),
        Some(prefix) => mount(prefix, &decoded).map_err(usage)?,
    };
    request.script_name = script_name;
    request.path_info = path_info;
    let mut uri = target.path.clone();
    if let Some(q) = &target.query {
        uri.push(b'?');
        uri.extend_from_slice(q);
    }
    request.request_uri = Some(uri);
    request.query_string = target.query.clone().unwrap_or_default();

    // The headers a client like curl sends on its own; -H replaces or removes them.
    let mut defaults = vec![
        (
            "Host".to_string(),
            target.host_header().unwrap_or_else(|| "localhost".into()),
        ),
        (
            "User-Agent".to_string(),
            format!("rwsgi-call/{}", crate::VERSION),
        ),
        ("Accept".to_string(), "*/*".to_string()),
    ];
    for (name, value) in extra_defaults {
        defaults.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        defaults.push((name, value));
    }
    if let Some((_, Some(content_type))) = &body {
        defaults.push(("Content-Type".into(), content_type.clone()));
    }
    let user_sets = |name: &str| {
        headers.iter().any(|h| match h {
            HeaderArg::Set(n, _) | HeaderArg::Remove(n) => n.eq_ignore_ascii_case(name),
        })
    };
    for (name, value) in defaults {
        if !user_sets(&name) {
            request.headers.push((name, value.into_bytes()));
        }
    }
    for h in &headers {
        if let HeaderArg::Set(name, value) = h {
            request.headers.push((name.clone(), value.clone()));
        }
    }
    if let Some((data, _)) = body {
        request.body = http::Body::from_bytes(data);
    }
    for kv in &args.environ {
        let (key, value) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| usage(format!("-e expects KEY=VALUE, got {kv:?}")))?;
        request
            .extra
            .push((key.to_string(), value.as_bytes().to_vec()));
    }
    Ok(request)
}

/// Splits a decoded path at the mount point (`--script-name`), only at a segment boundary.
fn mount(prefix: &str, path: &[u8]) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
    if !prefix.starts_with('/') {
        return Err(format!("--script-name must start with '/', got {prefix:?}"));
    }
    let prefix = prefix.trim_end_matches('/').as_bytes();
    match path.strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with(b"/") => {
            Ok((prefix.to_vec(), rest.to_vec()))
        }
        _ => Err(format!(
            "the target path {} is not under the mount point {} (--script-name)",
            http::latin1_string(path),
            String::from_utf8_lossy(prefix)
        )),
    }
}

/// One `-F` argument: `name=value`, `name=@file` (a file part), `name=<file` (a field whose
/// value is the file's content), each optionally with `;type=...` and `;filename=...`.
fn form_part(
    text: &str,
    read_source: &mut dyn FnMut(&str, bool) -> Result<Vec<u8>>,
) -> Result<multipart::Part> {
    let (name, value) = text.split_once('=').ok_or_else(|| {
        Error::Usage(format!("-F expects name=value or name=@file, got {text:?}"))
    })?;
    let (file, inline) = if let Some(f) = value.strip_prefix('@') {
        (Some(f), false)
    } else if let Some(f) = value.strip_prefix('<') {
        (Some(f), true)
    } else {
        (None, false)
    };
    let Some(file_spec) = file else {
        return Ok(multipart::Part {
            name: name.to_string(),
            filename: None,
            content_type: None,
            data: value.as_bytes().to_vec(),
        });
    };
    let mut pieces = file_spec.split(';');
    let path = pieces.next().unwrap_or_default();
    let mut content_type = None;
    let mut filename = None;
    for param in pieces {
        match param.split_once('=') {
            Some(("type", t)) => {
                if t.contains(['\r', '\n', '\0']) {
                    return Err(Error::Usage(format!(
                        "the type in -F {text:?} may not hold CR, LF or NUL"
                    )));
                }
                content_type = Some(t.to_string());
            }
            Some(("filename", f)) => filename = Some(f.trim_matches('"').to_string()),
            _ => {
                return Err(Error::Usage(format!(
                    "unknown -F parameter {param:?} (expected type= or filename=)"
                )));
            }
        }
    }
    let data = read_source(&format!("@{path}"), false)?;
    if inline {
        return Ok(multipart::Part {
            name: name.to_string(),
            filename: None,
            content_type,
            data,
        });
    }
    let filename = filename.unwrap_or_else(|| {
        if path == "-" {
            String::new()
        } else {
            Path::new(path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        }
    });
    let content_type = content_type.unwrap_or_else(|| multipart::guess_type(&filename).to_string());
    Ok(multipart::Part {
        name: name.to_string(),
        filename: Some(filename),
        content_type: Some(content_type),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> CallArgs {
        let mut full = vec!["rwsgi-call"];
        full.extend_from_slice(argv);
        CallArgs::try_parse_from(full).unwrap()
    }

    fn request(argv: &[&str]) -> Request {
        build_request(&args(argv), &mut io::empty()).unwrap()
    }

    fn env(req: &Request) -> std::collections::HashMap<String, String> {
        req.cgi_variables()
            .into_iter()
            .map(|(k, v)| (k, http::latin1_string(&v)))
            .collect()
    }

    #[test]
    fn targets() {
        let t = Target::parse("/a/b?x=1&y=2#frag").unwrap();
        assert_eq!(
            (t.path.as_slice(), t.query.as_deref()),
            (&b"/a/b"[..], Some(&b"x=1&y=2"[..]))
        );
        assert_eq!(t.host, None);

        let t = Target::parse("https://Example.com:8443/x?y=1").unwrap();
        assert!(t.https);
        assert_eq!(t.host.as_deref(), Some("example.com"));
        assert_eq!(t.port, Some(8443));
        assert_eq!(t.host_header().as_deref(), Some("example.com:8443"));

        let t = Target::parse("http://example.com").unwrap();
        assert_eq!(t.path, b"/");
        assert_eq!(t.query, None);
        assert_eq!(t.host_header().as_deref(), Some("example.com"));

        let t = Target::parse("https://example.com:443?q").unwrap();
        assert_eq!(t.host_header().as_deref(), Some("example.com"));
        assert_eq!(t.query.as_deref(), Some(&b"q"[..]));

        let t = Target::parse("http://[::1]:8080/v6").unwrap();
        assert_eq!(t.host.as_deref(), Some("[::1]"));
        assert_eq!(t.port, Some(8080));

        let t = Target::parse("/caf\u{e9} x?q=a b").unwrap();
        assert_eq!(t.path, b"/caf%C3%A9%20x");
        assert_eq!(t.query.as_deref(), Some(&b"q=a%20b"[..]));

        let t = Target::parse("/a%2Fb?").unwrap();
        assert_eq!(t.path, b"/a%2Fb");
        assert_eq!(t.query.as_deref(), Some(&b""[..]));

        for bad in [
            "",
            "a/b",
            "localhost:8000/x",
            "http://",
            "http://:80/",
            "http://user:pw@host/",
            "http://host:0/",
            "http://host:99999/",
            "http://host:x/",
            "http://[::1/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            Target::parse("example.com/x")
                .unwrap_err()
                .contains("http://example.com/x")
        );
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Accept: text/html").unwrap(),
            HeaderArg::Set("Accept".into(), b"text/html".to_vec())
        );
        assert_eq!(
            parse_header("X-A:b:c").unwrap(),
            HeaderArg::Set("X-A".into(), b"b:c".to_vec())
        );
        assert_eq!(
            parse_header("User-Agent:").unwrap(),
            HeaderArg::Remove("User-Agent".into())
        );
        assert_eq!(
            parse_header("X-Empty;").unwrap(),
            HeaderArg::Set("X-Empty".into(), vec![])
        );
        for bad in ["NoColon", ": v", "Bad Name: v", "X: a\rb", "X: a\nb"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_and_methods() {
        let r = request(&["/x"]);
        assert_eq!(r.method, "GET");
        let e = env(&r);
        assert_eq!(e["HTTP_HOST"], "localhost");
        assert_eq!(e["HTTP_ACCEPT"], "*/*");
        assert!(e["HTTP_USER_AGENT"].starts_with("rwsgi-call/"));
        assert_eq!(e["SERVER_NAME"], "localhost");
        assert_eq!(e["SERVER_PORT"], "80");
        assert_eq!(e["PATH_INFO"], "/x");
        assert_eq!(e["REQUEST_URI"], "/x");
        assert!(!e.contains_key("CONTENT_LENGTH"));

        assert_eq!(request(&["-d", "a=1", "/x"]).method, "POST");
        assert_eq!(request(&["PUT", "/x", "-d", "a=1"]).method, "PUT");
        assert_eq!(request(&["-X", "DELETE", "/x"]).method, "DELETE");
        assert_eq!(request(&["-I", "/x"]).method, "HEAD");
        assert!(build_request(&args(&["GET", "/x", "-X", "POST"]), &mut io::empty()).is_err());
        assert!(build_request(&args(&["G T", "/x"]), &mut io::empty()).is_err());
    }

    #[test]
    fn header_overrides() {
        let e = env(&request(&[
            "-H",
            "User-Agent:",
            "-H",
            "Host: api.example.com",
            "-H",
            "X-A: 1",
            "-H",
            "x-a: 2",
            "-H",
            "Cookie: a=1",
            "-H",
            "Cookie: b=2",
            "/",
        ]));
        assert!(!e.contains_key("HTTP_USER_AGENT"));
        assert_eq!(e["HTTP_HOST"], "api.example.com");
        assert_eq!(e["HTTP_X_A"], "1, 2");
        assert_eq!(e["HTTP_COOKIE"], "a=1; b=2");
    }

    #[test]
    fn bodies() {
        let r = request(&["-d", "a=1", "-d", "b=2", "/"]);
        let e = env(&r);
        assert_eq!(e["CONTENT_TYPE"], "application/x-www-form-urlencoded");
        assert_eq!(e["CONTENT_LENGTH"], "7");
        assert_eq!(http::read_all(r.body).unwrap(), b"a=1&b=2");

        let r = request(&["-H", "Content-Type: text/plain", "-d", "hi", "/"]);
        assert_eq!(env(&r)["CONTENT_TYPE"], "text/plain");

        let r = request(&["--json", "{\"a\": 1}", "/"]);
        let e = env(&r);
        assert_eq!(e["CONTENT_TYPE"], "application/json");
        assert_eq!(e["HTTP_ACCEPT"], "application/json");
        assert_eq!(r.method, "POST");

        let a = args(&["-d", "@-", "/"]);
        let r = build_request(&a, &mut &b"line1\r\nline2\n"[..]).unwrap();
        assert_eq!(http::read_all(r.body).unwrap(), b"line1line2");
        let a = args(&["--data-binary", "@-", "/"]);
        let r = build_request(&a, &mut &b"line1\r\nline2\n"[..]).unwrap();
        assert_eq!(http::read_all(r.body).unwrap(), b"line1\r\nline2\n");

        assert!(build_request(&args(&["-d", "a", "-F", "b=c", "/"]), &mut io::empty()).is_err());
        assert!(
            build_request(&args(&["-d", "@/nonexistent/file", "/"]), &mut io::empty()).is_err()
        );
    }

    #[test]
    fn form_bodies() {
        let dir = std::env::temp_dir().join(format!("rwsgi-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let photo = dir.join("cat.jpg");
        std::fs::write(&photo, [0xFF, 0xD8, 0xFF]).unwrap();
        let spec = format!("photo=@{}", photo.display());
        let r = request(&["-F", "title=Hi", "-F", &spec, "/upload"]);
        let e = env(&r);
        let ct = e["CONTENT_TYPE"].clone();
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let body = http::read_all(r.body).unwrap();
        let text = http::latin1_string(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")), "{text}");
        assert!(text.contains("name=\"photo\"; filename=\"cat.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n\u{ff}\u{d8}\u{ff}\r\n"));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert_eq!(r.method, "POST");

        let spec = format!(
            "doc=@{};type=text/x-custom;filename=renamed.txt",
            photo.display()
        );
        let r = request(&["-F", &spec, "/"]);
        let text = http::latin1_string(&http::read_all(r.body).unwrap());
        assert!(
            text.contains("filename=\"renamed.txt\"\r\nContent-Type: text/x-custom"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mounting() {
        let e = env(&request(&["--script-name", "/app/", "/app/x/y"]));
        assert_eq!(
            (e["SCRIPT_NAME"].as_str(), e["PATH_INFO"].as_str()),
            ("/app", "/x/y")
        );
        let e = env(&request(&["--script-name", "/app", "/app"]));
        assert_eq!(
            (e["SCRIPT_NAME"].as_str(), e["PATH_INFO"].as_str()),
            ("/app", "")
        );
        assert!(
            build_request(
                &args(&["--script-name", "/app", "/apple"]),
                &mut io::empty()
            )
            .is_err()
        );
        assert!(build_request(&args(&["--script-name", "app", "/app"]), &mut io::empty()).is_err());
    }

    #[test]
    fn urls_and_environ() {
        let e = env(&request(&[
            "https://example.com:8443/caf%C3%A9?y=1",
            "-e",
            "REMOTE_USER=bob",
        ]));
        assert_eq!(e["SERVER_NAME"], "example.com");
        assert_eq!(e["SERVER_PORT"], "8443");
        assert_eq!(e["HTTP_HOST"], "example.com:8443");
        assert_eq!(e["PATH_INFO"], "/caf\u{c3}\u{a9}");
        assert_eq!(e["REQUEST_URI"], "/caf%C3%A9?y=1");
        assert_eq!(e["QUERY_STRING"], "y=1");
        assert_eq!(e["REMOTE_USER"], "bob");
        let r = request(&["https://example.com/"]);
        assert_eq!(r.scheme, "https");
        assert_eq!(env(&r)["SERVER_PORT"], "443");
        assert!(build_request(&args(&["-e", "novalue", "/"]), &mut io::empty()).is_err());
    }

    #[test]
    fn json_output() {
        let head = ResponseHead {
            status: http::parse_status("200 OK").unwrap(),
            headers: vec![("Content-Type".into(), "text/plain".into())],
        };
        let v: serde_json::Value = serde_json::from_str(&json_response(&head, b"hi")).unwrap();
        assert_eq!(v["status"], 200);
        assert_eq!(v["reason"], "OK");
        assert_eq!(v["headers"][0][0], "Content-Type");
        assert_eq!(v["body"], "hi");
        assert_eq!(v["body_base64"], "aGk=");
        let v: serde_json::Value =
            serde_json::from_str(&json_response(&head, &[0xff, 0x00])).unwrap();
        assert!(v["body"].is_null());
        assert_eq!(v["body_base64"], "/wA=");
    }
}
