//! `rwsgi call` / `rwsgi-call`: the command line as a source (flags -> [`Request`]) and a sink
//! ([`Response`] -> stdout or a file), in the habits of curl (spec/cli.md).

mod cookies;
mod output;
mod writeout;

use std::ffi::OsString;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::error::{Error, Result};
use crate::http::{self, Request, ResponseHead, ResponseSink, ServerTraits};
use crate::multipart;
use crate::python::Outcome;

use cookies::Jar;
use output::{Decoder, Output};

/// Run one request through a WSGI app, with no server, and print the response.
#[derive(Parser, Debug, Default)]
#[command(
    name = "rwsgi-call",
    about = "Run one HTTP request through a Python WSGI app, with no server, in the habits of curl.",
    after_help = "Examples:\n  rwsgi-call --app myproject.wsgi:application GET '/api/items?page=2' -H 'Accept: application/json'\n  rwsgi-call --app app.py --json '{\"name\": \"x\"}' /items\n  rwsgi-call --app 'app:create_app()' -F photo=@cat.jpg /upload\n  rwsgi-call --app 'app:create_app()' -L -c jar.txt -d user=bob /login\n\nExit status: 0 (any HTTP status), 22 with -f when the status is 400 or more, 1 when the app\ncould not be loaded or failed, 2 for bad usage, and curl's code where curl has one: 3 malformed\nURL, 23 the output could not be written (e.g. `| head -c1`), 26 an input file could not be\nread, 47 too many redirects, 61 a body that --compressed cannot decode."
)]
pub struct CallArgs {
    /// The method (default GET, or POST with a body); a lone argument is the TARGET.
    #[arg(value_name = "METHOD")]
    pub method_arg: Option<String>,

    /// `/path?query` or a full http(s) URL (or give it with --url).
    #[arg(value_name = "TARGET")]
    pub target_arg: Option<String>,

    /// `[METHOD] TARGET` as a list, for callers that build the arguments themselves; when empty,
    /// the two positional arguments above are used.
    #[arg(skip)]
    pub positional: Vec<String>,

    /// The target (instead of the positional TARGET).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

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

    /// Like --data, URL-encoded as curl does: `content`, `=content`, `name=content`, `@file`,
    /// `name@file`.
    #[arg(long = "data-urlencode", value_name = "DATA")]
    pub data_urlencode: Vec<String>,

    /// Send the --data in the query string of a GET instead of as a body.
    #[arg(short = 'G', long = "get")]
    pub get: bool,

    /// A JSON body (`@file` and `@-` too); sets Content-Type and Accept to application/json.
    #[arg(long, value_name = "DATA")]
    pub json: Option<String>,

    /// A multipart/form-data field: `name=value`, `name=@file[;type=T][;filename=N]` (repeatable).
    #[arg(short = 'F', long = "form", value_name = "NAME=VALUE")]
    pub form: Vec<String>,

    /// PUT this file (`-` for stdin); a TARGET ending in `/` gets the file's name appended.
    #[arg(short = 'T', long = "upload-file", value_name = "FILE")]
    pub upload_file: Option<String>,

    /// Basic authentication: `user:password`.
    #[arg(short = 'u', long = "user", value_name = "USER:PASSWORD")]
    pub user: Option<String>,

    /// The User-Agent header.
    #[arg(short = 'A', long = "user-agent", value_name = "NAME")]
    pub user_agent: Option<String>,

    /// The Referer header; `URL;auto` (or `;auto`) also sets it to the previous URL on redirects.
    #[arg(short = 'e', long = "referer", value_name = "URL")]
    pub referer: Option<String>,

    /// Cookies to send: `name=value; n2=v2`, or a file to read them from (a Netscape cookie jar,
    /// as -c writes, or `Set-Cookie:` lines). A file turns the cookie engine on.
    #[arg(short = 'b', long = "cookie", value_name = "DATA|FILE")]
    pub cookie: Vec<String>,

    /// Write every cookie known after the request to FILE (Netscape format, as curl).
    #[arg(short = 'c', long = "cookie-jar", value_name = "FILE")]
    pub cookie_jar: Option<PathBuf>,

    /// Follow redirects (3xx with a Location), sending each new request to the app.
    #[arg(short = 'L', long = "location")]
    pub location: bool,

    /// At most this many redirects with -L (-1: no limit).
    #[arg(
        long = "max-redirs",
        value_name = "NUM",
        default_value_t = 50,
        allow_negative_numbers = true
    )]
    pub max_redirs: i64,

    /// Keep a POST a POST after a 301 (-L).
    #[arg(long = "post301")]
    pub post301: bool,

    /// Keep a POST a POST after a 302 (-L).
    #[arg(long = "post302")]
    pub post302: bool,

    /// Keep a POST a POST after a 303 (-L).
    #[arg(long = "post303")]
    pub post303: bool,

    /// Ask for a compressed response (gzip, deflate, br) and decode it.
    #[arg(long)]
    pub compressed: bool,

    /// Print the status line and headers before the body.
    #[arg(short = 'i', long)]
    pub include: bool,

    /// Send a HEAD request and print the status line and headers.
    #[arg(short = 'I', long)]
    pub head: bool,

    /// Write the output to FILE instead of stdout; FILE is replaced only when the request succeeds.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// `raw`: the body as the app sent it; `json`: {status, reason, headers, body, body_base64}.
    #[arg(long, value_enum, default_value_t = Format::Raw)]
    pub format: Format,

    /// Print FORMAT to stdout after the transfer: `%{http_code}`, `%{url_effective}`, ... (`@file`
    /// reads it from a file).
    #[arg(short = 'w', long = "write-out", value_name = "FORMAT")]
    pub write_out: Option<String>,

    /// Exit 22 and print nothing when the status is 400 or more.
    #[arg(short = 'f', long)]
    pub fail: bool,

    /// Exit 22 when the status is 400 or more, but print the response.
    #[arg(long = "fail-with-body")]
    pub fail_with_body: bool,

    /// No error messages (with -S: only those).
    #[arg(short = 's', long)]
    pub silent: bool,

    /// Show error messages even with -s.
    #[arg(short = 'S', long = "show-error")]
    pub show_error: bool,

    /// The request and response heads on stderr, `>` and `<` prefixed.
    #[arg(short = 'v', long)]
    pub verbose: bool,

    /// Add KEY=VALUE to the WSGI environ (repeatable); `wsgi.url_scheme`, `wsgi.multithread`,
    /// `wsgi.multiprocess`, `wsgi.run_once` and `wsgi.version` (1.0) are set with their Python types.
    #[arg(long = "env", alias = "environ", value_name = "KEY=VALUE")]
    pub environ: Vec<String>,

    /// Mount the app at this path: its SCRIPT_NAME.
    #[arg(long = "script-name", value_name = "PREFIX")]
    pub script_name: Option<String>,

    /// Send the request as that AWS front door would, through the Lambda translation, and show
    /// what the client would get.
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub via: Option<crate::lambda::local::Via>,

    /// With `--via url` or `--via v1`: stream the reply as RWSGI_INVOKE_MODE=response_stream
    /// does, and show the body as it comes, as a streaming client would see it.
    #[arg(long, requires = "via")]
    pub stream: bool,

    /// The body options in the order given (`--data`, `--data-binary`, `--data-urlencode`), as
    /// curl joins them; filled in by [`CallArgs::parse_named`].
    #[arg(skip)]
    pub data_order: Vec<DataArg>,
}

/// One body option, in the order it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataArg {
    /// `-d`: `@file` loses its CR and LF.
    Text(String),
    /// `--data-binary`: `@file` exactly.
    Binary(String),
    /// `--data-urlencode`.
    UrlEncode(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    Raw,
    Json,
}

impl CallArgs {
    /// Parses `rwsgi-call`'s arguments (`argv` without the program name), under `name`
    /// (`rwsgi-call` or `rwsgi call`) in help and errors.
    pub fn parse_named(
        name: &str,
        argv: Vec<OsString>,
    ) -> std::result::Result<CallArgs, clap::Error> {
        let (_, _, python) = crate::python::embedded_version();
        // clap keeps the version text for the life of the process; it is made once.
        let version: &'static str =
            Box::leak(format!("{} (Python {python})", crate::VERSION).into_boxed_str());
        let name: &'static str = if name == "rwsgi-call" {
            "rwsgi-call"
        } else {
            "rwsgi call"
        };
        let command = CallArgs::command()
            .name(name)
            .bin_name(name)
            .version(version)
            .override_usage(format!("{name} [OPTIONS] [METHOD] <TARGET>\n       {name} [OPTIONS] [METHOD] --url <TARGET>"));
        let mut all = vec![OsString::from(name)];
        all.extend(argv);
        let matches = command.try_get_matches_from(all)?;
        let mut args = CallArgs::from_arg_matches(&matches)?;
        let mut order: Vec<(usize, DataArg)> = Vec::new();
        for (id, make) in [
            ("data", DataArg::Text as fn(String) -> DataArg),
            ("data_binary", DataArg::Binary),
            ("data_urlencode", DataArg::UrlEncode),
        ] {
            if let (Some(indices), Some(values)) =
                (matches.indices_of(id), matches.get_many::<String>(id))
            {
                order.extend(indices.zip(values).map(|(i, v)| (i, make(v.clone()))));
            }
        }
        order.sort_by_key(|(i, _)| *i);
        args.data_order = order.into_iter().map(|(_, d)| d).collect();
        Ok(args)
    }

    /// The body options in order: as given when parsed by [`CallArgs::parse_named`], else
    /// `--data`, `--data-binary`, `--data-urlencode`.
    fn data_args(&self) -> Vec<DataArg> {
        if !self.data_order.is_empty() {
            return self.data_order.clone();
        }
        let mut all: Vec<DataArg> = self.data.iter().cloned().map(DataArg::Text).collect();
        all.extend(self.data_binary.iter().cloned().map(DataArg::Binary));
        all.extend(self.data_urlencode.iter().cloned().map(DataArg::UrlEncode));
        all
    }
}

/// An exit with curl's code for the same failure, and its one-line message.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    fn usage(message: String) -> Exit {
        Exit { code: 2, message }
    }

    fn new(code: u8, message: impl Into<String>) -> Exit {
        Exit {
            code,
            message: message.into(),
        }
    }

    fn into_error(self) -> Error {
        Error::Usage(self.message)
    }
}

/// curl's "Failure writing output to destination".
const WRITE_ERROR: u8 = 23;
const READ_ERROR: u8 = 26;
const MALFORMED_URL: u8 = 3;
const TOO_MANY_REDIRECTS: u8 = 47;
const BAD_CONTENT_ENCODING: u8 = 61;
const HTTP_ERROR: u8 = 22;

/// Runs `rwsgi call` with its own arguments; returns the exit status.
pub fn main(argv: Vec<OsString>) -> Result<u8> {
    // Help and errors name the command as it was typed.
    let name = match std::env::args_os()
        .next()
        .as_deref()
        .and_then(|a| Path::new(a).file_name())
    {
        Some(n) if n == "rwsgi-call" => "rwsgi-call",
        _ => "rwsgi call",
    };
    let args = match CallArgs::parse_named(name, argv) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let quiet = args.silent && !args.show_error;
    // curl's `curl: (N) message`, under rwsgi's own prefix.
    let say = |exit: &Exit| {
        if !quiet {
            let _ = writeln!(io::stderr(), "rwsgi: ({}) {}", exit.code, exit.message);
        }
    };
    let mut plan = match build_plan(&args, &mut io::stdin().lock()) {
        Ok(plan) => plan,
        Err(exit) if exit.code == 2 => return Err(exit.into_error()),
        Err(exit) => {
            say(&exit);
            return Ok(exit.code);
        }
    };
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
    if args.via.is_some() && args.script_name.is_some() {
        return Err(Error::Usage(
            "--script-name does not go with --via: the front door decides SCRIPT_NAME \
             (set RWSGI_BASE_PATH for a base path)"
                .into(),
        ));
    }
    let jar = match cookies_in(&args) {
        Ok(jar) => jar,
        Err(exit) => {
            say(&exit);
            return Ok(exit.code);
        }
    };
    // The response has stdout to itself: fd 1 now points at stderr, so whatever the app prints
    // (print(), C extensions, subprocesses) shows up on the terminal without corrupting the
    // body a script is capturing.
    let stdout = crate::stdio::private_stdout().map_err(|source| Error::Write {
        what: "stdout".into(),
        source,
    })?;
    let write_out_to = stdout.try_clone().ok();
    let out = match args.output.as_deref() {
        Some(path) if path != Path::new("-") => Output::file(path.to_path_buf()),
        _ => Output::stdout(stdout),
    };

    let mut sender: Box<dyn FnMut(Request, Arc<Mutex<Transfer>>) -> Outcome> = match args.via {
        Some(via) => {
            let handler = crate::lambda::local::local_handler(Some(spec_text), args.venv.clone())?;
            let stream = args.stream;
            if stream
                && !matches!(
                    via,
                    crate::lambda::local::Via::Url | crate::lambda::local::Via::V1
                )
            {
                return Err(Error::Usage(
                    "--stream goes with --via url or --via v1: only function URLs and REST APIs \
                     stream their replies"
                        .into(),
                ));
            }
            Box::new(move |request, transfer| send_via(&handler, via, request, transfer, stream))
        }
        None => {
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
            Box::new(move |request, transfer| app.call(request, transfer))
        }
    };

    let fail = Fail::from_args(&args);
    let started = Instant::now();
    let transfer = Arc::new(Mutex::new(Transfer {
        include: (args.include || args.head) && args.format == Format::Raw,
        json: args.format == Format::Json,
        fail,
        verbose: args.verbose,
        follow: args.location,
        compressed: args.compressed,
        out,
        jar,
        ..Transfer::default()
    }));
    let mut redirects: i64 = 0;
    let mut failure: Option<Exit> = None;
    let mut code: u8 = 0;
    loop {
        let request = {
            let t = lock(&transfer);
            match plan.request(t.jar.as_ref()) {
                Ok(r) => r,
                Err(exit) => {
                    drop(t);
                    failure = Some(exit);
                    break;
                }
            }
        };
        {
            let mut t = lock(&transfer);
            if args.verbose {
                eprint!("{}", verbose_request(&request));
            }
            t.begin(&plan, &request);
        }
        let outcome = sender(request, transfer.clone());
        let mut t = lock(&transfer);
        t.end_response();
        if let Some(message) = t.decode_error.take() {
            failure = Some(Exit::new(BAD_CONTENT_ENCODING, message));
            break;
        }
        if let Some(e) = t.write_error.take() {
            failure = Some(write_failure(&e));
            break;
        }
        match outcome {
            Outcome::Complete => {}
            Outcome::FailedBeforeHeaders | Outcome::FailedAfterHeaders => {
                code = 1;
                break;
            }
            Outcome::SinkFailed(e) => {
                failure = Some(write_failure(&e));
                break;
            }
            Outcome::Interrupted => {
                code = 130;
                break;
            }
        }
        let status = t.status();
        if let Some(location) = t.location.clone().filter(|_| t.following) {
            if args.max_redirs >= 0 && redirects >= args.max_redirs {
                failure = Some(Exit::new(
                    TOO_MANY_REDIRECTS,
                    format!("Maximum ({}) redirects followed", args.max_redirs),
                ));
                break;
            }
            if let Err(exit) = plan.redirect(&args, status, &location) {
                failure = Some(exit);
                break;
            }
            redirects += 1;
            continue;
        }
        if fail != Fail::No && status >= 400 {
            failure = Some(Exit::new(
                HTTP_ERROR,
                format!("The requested URL returned error: {status}"),
            ));
        }
        break;
    }
    let elapsed = started.elapsed();
    let mut t = lock(&transfer);
    if let Some(exit) = &failure {
        code = exit.code;
    }
    if t.json
        && let Some(head) = t.head.clone()
        && !(fail == Fail::Silent && head.status.code >= 400)
        && (code == 0 || code == HTTP_ERROR || code == 1)
    {
        let mut text = json_response(&head, &t.body);
        text.push('\n');
        if let Err(e) = t.out.write(text.as_bytes()) {
            failure = Some(write_failure(&e));
            code = WRITE_ERROR;
        }
    }
    // -o FILE takes the place of the old file only when the transfer worked: `-f` and a failed
    // app leave what was there (curl leaves it as well, and creates nothing).
    let keep = code == 0 || (code == HTTP_ERROR && fail == Fail::WithBody);
    if let Err(e) = t.out.finish(keep) {
        if failure.is_none() {
            failure = Some(write_failure(&e));
            code = WRITE_ERROR;
        }
    }
    if let (Some(path), Some(jar)) = (&args.cookie_jar, &t.jar) {
        // `-c -` is stdout, as with curl (the response's own stdout: fd 1 is stderr by now).
        let saved = match (path == Path::new("-"), write_out_to.as_ref()) {
            (true, Some(mut s)) => s.write_all(jar.to_text().as_bytes()),
            _ => std::fs::write(path, jar.to_text()),
        };
        if let Err(e) = saved {
            crate::log::warn(&format!(
                "cannot save the cookies in {}: {e}",
                path.display()
            ));
        }
    }
    if let Some(exit) = &failure {
        say(exit);
    }
    if let Some(format) = &args.write_out {
        let info = writeout::Info {
            head: t.head.as_ref(),
            url: plan.url(),
            method: plan.method.clone(),
            size_download: t.size_download,
            size_header: t.size_header,
            size_upload: plan.body.as_ref().map_or(0, |b| b.len() as u64),
            num_redirects: redirects as u64,
            // The redirect that was not followed: without -L, or past --max-redirs.
            redirect_url: t
                .location
                .clone()
                .filter(|_| !t.following || code == TOO_MANY_REDIRECTS)
                .and_then(|l| resolve(&plan.url(), &l).ok()),
            time_total: elapsed.as_secs_f64(),
            exitcode: code,
            errormsg: failure
                .as_ref()
                .map(|f| f.message.clone())
                .unwrap_or_default(),
        };
        match writeout::load(format) {
            Ok(format) => {
                let (to_stdout, to_stderr) = writeout::render(&format, &info);
                if let Some(mut s) = write_out_to {
                    let _ = s.write_all(&to_stdout);
                }
                let _ = io::stderr().write_all(&to_stderr);
            }
            Err(e) => crate::log::warn(&e),
        }
    }
    Ok(code)
}

fn write_failure(e: &io::Error) -> Exit {
    Exit::new(
        WRITE_ERROR,
        format!("Failure writing output to destination ({e})"),
    )
}

/// The cookie engine: on with a cookie file (-b FILE) or a jar to write (-c), as curl's.
fn cookies_in(args: &CallArgs) -> std::result::Result<Option<Jar>, Exit> {
    let files: Vec<&String> = args.cookie.iter().filter(|c| !c.contains('=')).collect();
    if files.is_empty() && args.cookie_jar.is_none() {
        return Ok(None);
    }
    let mut jar = Jar::default();
    for file in files {
        // curl reads a missing cookie file as an empty one (a jar that -c creates later).
        match std::fs::read(file) {
            Ok(bytes) => jar.load(&String::from_utf8_lossy(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Exit::new(
                    READ_ERROR,
                    format!("cannot read the cookie file {file}: {e}"),
                ));
            }
        }
    }
    Ok(Some(jar))
}

/// `--via`: the request becomes the event that front door would send, runs through the same
/// translation as on Lambda, and the reply becomes what the front door would send the client.
fn send_via(
    handler: &crate::lambda::Handler,
    via: crate::lambda::local::Via,
    request: Request,
    transfer: Arc<Mutex<Transfer>>,
    stream: bool,
) -> Outcome {
    use crate::lambda::{Invocation, error_body, local};
    let ctx = local::made_up_context();
    let event = match local::event_for(via, request, &ctx) {
        Ok(event) => serde_json::to_vec(&event).unwrap_or_default(),
        Err(e) => {
            crate::log::error(&e.to_string());
            return Outcome::FailedBeforeHeaders;
        }
    };
    if stream {
        return local::call_streamed(handler, via, event, ctx, transfer);
    }
    let (reply, app_failed) = match handler.handle(event, ctx) {
        Invocation::Reply { reply, app_failed } => (reply, app_failed),
        Invocation::Error(report) => {
            crate::log::error(&String::from_utf8_lossy(&error_body(&report)));
            return Outcome::FailedBeforeHeaders;
        }
    };
    let response = serde_json::from_slice::<serde_json::Value>(&reply)
        .map_err(|e| format!("the reply is not JSON: {e}"))
        .and_then(|reply| local::client_response(via, &reply));
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            crate::log::error(&e);
            return Outcome::FailedBeforeHeaders;
        }
    };
    let mut t = transfer.lock().unwrap_or_else(|p| p.into_inner());
    let sent = t
        .send_head(&response.head, Some(response.body.len() as u64))
        .and_then(|()| t.send_body(&response.body));
    match sent {
        Err(e) => Outcome::SinkFailed(e),
        Ok(()) if app_failed => Outcome::FailedBeforeHeaders,
        Ok(()) => Outcome::Complete,
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Fail {
    #[default]
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

/// The request head as `-v` shows it (curl's `> ` lines).
fn verbose_request(request: &Request) -> String {
    let mut text = String::new();
    let uri = request
        .request_uri
        .as_deref()
        .map(http::latin1_string)
        .unwrap_or_default();
    text.push_str(&format!(
        "> {} {} {}\r\n",
        request.method, uri, request.server_protocol
    ));
    for (name, value) in &request.headers {
        text.push_str(&format!("> {name}: {}\r\n", http::latin1_string(value)));
    }
    if !request.body.is_empty() {
        text.push_str(&format!("> Content-Length: {}\r\n", request.body.len()));
    }
    text.push_str("> \r\n");
    text
}

fn lock(t: &Arc<Mutex<Transfer>>) -> std::sync::MutexGuard<'_, Transfer> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// The response side of a transfer: every response of it (one, or one per redirect with -L)
/// goes through here, streamed to the output as the app produces it.
#[derive(Default)]
struct Transfer {
    include: bool,
    json: bool,
    fail: Fail,
    verbose: bool,
    follow: bool,
    compressed: bool,
    out: Output,
    jar: Option<Jar>,
    /// The request being answered: no body is printed for HEAD.
    head_only: bool,
    /// Where the request went, for the cookies the response sets.
    host: String,
    path: Vec<u8>,
    secure: bool,
    /// The response so far.
    head: Option<ResponseHead>,
    location: Option<String>,
    /// The response is a redirect -L follows: its body is not printed (as curl).
    following: bool,
    decoder: Option<Decoder>,
    /// Whether the decoder was given any bytes (an empty body has nothing to decode).
    decoding: bool,
    /// The body, for `--format json`.
    body: Vec<u8>,
    size_download: u64,
    size_header: u64,
    write_error: Option<io::Error>,
    decode_error: Option<String>,
}

impl Transfer {
    fn begin(&mut self, plan: &Plan, request: &Request) {
        self.head_only = request.method == "HEAD";
        self.host = plan.host();
        self.path = plan.target.path.clone();
        self.secure = plan.secure_context();
        self.head = None;
        self.location = None;
        self.following = false;
        self.decoder = None;
        self.decoding = false;
        self.body.clear();
        // curl's size_download is the last response's body; size_header adds up every head.
        self.size_download = 0;
    }

    fn status(&self) -> u16 {
        self.head.as_ref().map_or(0, |h| h.status.code)
    }

    fn silent(&self) -> bool {
        self.fail == Fail::Silent && self.status() >= 400
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.json {
            self.body.extend_from_slice(bytes);
            return Ok(());
        }
        self.out.write(bytes).inspect_err(|e| {
            self.write_error = Some(io::Error::new(e.kind(), e.to_string()));
        })
    }

    /// Ends one response: what a decoder still holds goes out.
    fn end_response(&mut self) {
        if let Some(decoder) = self.decoder.take().filter(|_| self.decoding) {
            match decoder.finish() {
                Ok(rest) => {
                    let _ = self.write(&rest);
                }
                Err(e) => self.decode_error = Some(e),
            }
        }
    }
}

impl ResponseSink for Transfer {
    fn send_head(&mut self, head: &ResponseHead, _body_len: Option<u64>) -> io::Result<()> {
        self.head = Some(head.clone());
        let mut text = Vec::new();
        head.write_lines(b"HTTP/1.1 ", &mut text);
        text.extend_from_slice(b"\r\n");
        self.size_header += text.len() as u64;
        if self.verbose {
            let mut shown = String::new();
            for line in http::latin1_string(&text).split_inclusive("\r\n") {
                shown.push_str("< ");
                shown.push_str(line);
            }
            eprint!("{shown}");
        }
        let code = head.status.code;
        // Every 3xx with a Location is a redirect (curl follows even a 304 that has one).
        self.location = head
            .header("Location")
            .filter(|_| (300..400).contains(&code))
            .map(|l| l.trim().to_string());
        self.following = self.follow && self.location.is_some();
        if let Some(jar) = &mut self.jar {
            for (name, value) in &head.headers {
                if name.eq_ignore_ascii_case("set-cookie") {
                    jar.set(value, &self.host, &self.path, self.secure);
                }
            }
        }
        if self.silent() {
            return Ok(());
        }
        if self.include {
            self.write(&text)?;
        }
        if self.compressed && !self.following && !self.head_only {
            match head.header("Content-Encoding").map(str::trim) {
                None | Some("") => {}
                Some(coding) => match Decoder::new(coding) {
                    Ok(d) => self.decoder = d,
                    Err(e) => {
                        self.decode_error = Some(e.clone());
                        return Err(io::Error::other(e));
                    }
                },
            }
        }
        Ok(())
    }

    fn send_body(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.silent() || self.head_only || self.following {
            // A body that is passed over does not count as downloaded (curl's size_download).
            return Ok(());
        }
        self.size_download += chunk.len() as u64;
        let decoded = match &mut self.decoder {
            None => return self.write(chunk),
            Some(d) => {
                self.decoding |= !chunk.is_empty();
                d.push(chunk)
            }
        };
        match decoded {
            Ok(bytes) => self.write(&bytes),
            Err(e) => {
                self.decode_error = Some(e.clone());
                Err(io::Error::other(e))
            }
        }
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

/// The request the flags describe, kept in parts so that a redirect (-L) can change its target,
/// method and body and build it again.
#[derive(Debug)]
pub struct Plan {
    method: String,
    target: Target,
    /// The origin of the first request (`scheme://host[:port]`): the user's own Host,
    /// Authorization and Cookie headers and `-u` go only there, as curl sends them.
    first_origin: String,
    user_headers: Vec<HeaderArg>,
    /// `-u`: the Authorization header's value.
    auth: Option<String>,
    /// Headers sent unless -H names them (User-Agent, Accept, Referer, Accept-Encoding).
    defaults: Vec<(String, String)>,
    /// `-e URL;auto`: each redirect sends the previous URL as the Referer.
    auto_referer: bool,
    body: Option<Vec<u8>>,
    content_type: Option<String>,
    /// `-b 'name=value'`: sent as it is on every request.
    cookie_string: Option<String>,
    environ: Vec<(String, Vec<u8>)>,
    scheme: Option<String>,
    traits: ServerTraits,
    script_name: Option<String>,
}

impl Plan {
    /// The host the request goes to: the target's, else the user's Host header, else localhost.
    fn authority(&self) -> String {
        if let Some(host) = self.target.host_header() {
            return host;
        }
        self.user_headers
            .iter()
            .find_map(|h| match h {
                HeaderArg::Set(n, v) if n.eq_ignore_ascii_case("host") => {
                    Some(http::latin1_string(v))
                }
                _ => None,
            })
            .unwrap_or_else(|| "localhost".into())
    }

    fn scheme(&self) -> &str {
        if self.target.https { "https" } else { "http" }
    }

    /// The host name alone (for cookies): the authority without its port.
    fn host(&self) -> String {
        let authority = self.authority().to_ascii_lowercase();
        match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => h.to_string(),
            _ => authority,
        }
    }

    /// Where a Secure cookie may be set and sent: https, or this machine (as curl counts it).
    fn secure_context(&self) -> bool {
        self.target.https || matches!(self.host().as_str(), "localhost" | "127.0.0.1" | "[::1]")
    }

    fn origin(&self) -> String {
        format!(
            "{}://{}",
            self.scheme(),
            self.authority().to_ascii_lowercase()
        )
    }

    /// The URL of the request, as `%{url_effective}` shows it.
    pub fn url(&self) -> String {
        let mut url = self.origin();
        url.push_str(&http::latin1_string(&self.target.path));
        if let Some(q) = &self.target.query {
            url.push('?');
            url.push_str(&http::latin1_string(q));
        }
        url
    }

    /// The request, with the cookies of `jar` that go to its URL.
    pub fn request(&self, jar: Option<&Jar>) -> std::result::Result<Request, Exit> {
        let target = &self.target;
        let mut request = Request::new(&self.method);
        request.scheme = self.scheme().into();
        if let Some(host) = &target.host {
            request.server_name = host.clone();
        }
        request.server_port = target
            .port
            .unwrap_or(if target.https { 443 } else { 80 })
            .to_string();
        let decoded = http::percent_decode(&target.path);
        let (script_name, path_info) = match &self.script_name {
            None => (Vec::new(), decoded),
            Some(prefix) => mount(prefix, &decoded).map_err(Exit::usage)?,
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

        // Credentials and the user's own Host and Cookie go to the first host only (curl does
        // not hand them to another host a redirect names).
        let first_host = self.origin() == self.first_origin;
        let user_headers: Vec<&HeaderArg> = self
            .user_headers
            .iter()
            .filter(|h| {
                let (HeaderArg::Set(n, _) | HeaderArg::Remove(n)) = h;
                first_host
                    || !["host", "authorization", "cookie"]
                        .iter()
                        .any(|s| n.eq_ignore_ascii_case(s))
            })
            .collect();

        // The headers a client like curl sends on its own; -H replaces or removes them.
        let mut defaults = vec![(
            "Host".to_string(),
            target.host_header().unwrap_or_else(|| "localhost".into()),
        )];
        if let Some(auth) = self.auth.as_ref().filter(|_| first_host) {
            defaults.push(("Authorization".into(), auth.clone()));
        }
        defaults.extend(self.defaults.iter().cloned());
        let mut cookie = jar
            .map(|j| j.header(&self.host(), &target.path, self.secure_context()))
            .unwrap_or_default();
        if let Some(s) = &self.cookie_string {
            if !cookie.is_empty() {
                cookie.push_str("; ");
            }
            cookie.push_str(s);
        }
        if !cookie.is_empty() {
            defaults.push(("Cookie".into(), cookie));
        }
        if let (Some(_), Some(content_type)) = (&self.body, &self.content_type) {
            defaults.push(("Content-Type".into(), content_type.clone()));
        }
        let user_sets = |name: &str| {
            user_headers.iter().any(|h| match h {
                HeaderArg::Set(n, _) | HeaderArg::Remove(n) => n.eq_ignore_ascii_case(name),
            })
        };
        for (name, value) in defaults {
            if !user_sets(&name) {
                request.headers.push((name, value.into_bytes()));
            }
        }
        for h in &user_headers {
            if let HeaderArg::Set(name, value) = h {
                request.headers.push((name.clone(), value.clone()));
            }
        }
        if let Some(data) = &self.body {
            request.body = http::Body::from_bytes(data.clone());
        }
        if let Some(scheme) = &self.scheme {
            request.scheme = scheme.clone();
        }
        request.traits = self.traits;
        request.extra = self.environ.clone();
        Ok(request)
    }

    /// Turns the plan into the request a redirect asks for, with curl's rules: a POST becomes
    /// a GET without its body after 301 and 302 (unless --post301/--post302), every method but
    /// HEAD does after 303 (unless --post303 for a POST), and 307 and 308 keep the method and
    /// the body (RFC 9110 section 15.4).
    fn redirect(
        &mut self,
        args: &CallArgs,
        status: u16,
        location: &str,
    ) -> std::result::Result<(), Exit> {
        let previous = self.url();
        let next = resolve(&previous, location)?;
        let mut target = Target::parse(&next)
            .map_err(|e| Exit::new(MALFORMED_URL, format!("the redirect to {location:?}: {e}")))?;
        let post = self.method == "POST";
        let to_get = match status {
            301 => post && !args.post301,
            302 => post && !args.post302,
            303 => self.method != "GET" && self.method != "HEAD" && !(post && args.post303),
            _ => false,
        };
        if to_get {
            self.method = "GET".into();
            self.body = None;
            self.content_type = None;
        }
        // A path-only target stays one while the redirect stays on its host, so the request
        // keeps the host (and SERVER_NAME) it started with.
        let same = self.target.host.is_none() && {
            let probe = Plan {
                target: target.clone(),
                ..self.shallow()
            };
            probe.origin() == self.origin()
        };
        if same {
            target.host = None;
            target.port = None;
        }
        self.target = target;
        if self.auto_referer {
            self.defaults.retain(|(n, _)| n != "Referer");
            self.defaults.push(("Referer".into(), previous));
        }
        Ok(())
    }

    /// A copy for comparing origins (no body).
    fn shallow(&self) -> Plan {
        Plan {
            method: self.method.clone(),
            target: self.target.clone(),
            first_origin: self.first_origin.clone(),
            user_headers: self.user_headers.clone(),
            auth: None,
            defaults: Vec::new(),
            auto_referer: false,
            body: None,
            content_type: None,
            cookie_string: None,
            environ: Vec::new(),
            scheme: None,
            traits: self.traits,
            script_name: None,
        }
    }
}

/// A Location resolved against the URL it came from (RFC 3986 section 5).
fn resolve(base: &str, location: &str) -> std::result::Result<String, Exit> {
    let bad = |e: String| {
        Exit::new(
            MALFORMED_URL,
            format!("cannot follow the redirect to {location:?}: {e}"),
        )
    };
    let base = url::Url::parse(base).map_err(|e| bad(e.to_string()))?;
    let next = base.join(location).map_err(|e| bad(e.to_string()))?;
    if next.scheme() != "http" && next.scheme() != "https" {
        return Err(Exit::new(
            1,
            format!("the redirect to {next} is not http or https (curl: protocol not supported)"),
        ));
    }
    let mut text = next.to_string();
    if let Some(i) = text.find('#') {
        text.truncate(i);
    }
    Ok(text)
}

/// curl's URL-encoding (`curl_easy_escape`): everything but letters, digits and `-._~`.
fn url_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads `@file` (or `@-`, stdin) for a body option; anything else is the text itself. The
/// flag says whether CR and LF are dropped (`-d @file`).
type ReadSource<'a> = dyn FnMut(&str, bool) -> std::result::Result<Vec<u8>, Exit> + 'a;

/// Builds the request the flags describe. `stdin` serves `@-`.
pub fn build_request(args: &CallArgs, stdin: &mut dyn Read) -> Result<Request> {
    build_plan(args, stdin)
        .and_then(|plan| plan.request(None))
        .map_err(Exit::into_error)
}

/// Reads the flags into a [`Plan`]; `stdin` serves `@-` (and `-T -`).
pub fn build_plan(args: &CallArgs, stdin: &mut dyn Read) -> std::result::Result<Plan, Exit> {
    let usage = Exit::usage;
    let positional: Vec<String> = if args.positional.is_empty() {
        [&args.method_arg, &args.target_arg]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    } else {
        args.positional.clone()
    };
    let (method_arg, target_text) = match (positional.as_slice(), &args.url) {
        ([target], None) => (None, target.as_str()),
        ([method, target], None) => (Some(method.as_str()), target.as_str()),
        ([], Some(url)) => (None, url.as_str()),
        ([method], Some(url)) => (Some(method.as_str()), url.as_str()),
        ([], None) => {
            return Err(usage(
                "no TARGET given: expected [METHOD] TARGET (a /path or a URL)".into(),
            ));
        }
        (_, _) => {
            return Err(usage(
                "too many arguments: expected [METHOD] TARGET, or [METHOD] --url TARGET".into(),
            ));
        }
    };
    let looks_like_url = {
        let lower = target_text.to_ascii_lowercase();
        lower.starts_with("http://") || lower.starts_with("https://")
    };
    let mut target = Target::parse(target_text).map_err(|e| {
        // A URL that does not parse is curl's "URL using bad/illegal format"; anything else is
        // not a target at all.
        if looks_like_url {
            Exit::new(MALFORMED_URL, e)
        } else {
            usage(e)
        }
    })?;

    let mut stdin_used = false;
    let mut read_source =
        |spec: &str, strip_newlines: bool| -> std::result::Result<Vec<u8>, Exit> {
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
                    .map_err(|e| Exit::new(READ_ERROR, format!("cannot read stdin: {e}")))?;
                buf
            } else {
                std::fs::read(source)
                    .map_err(|e| Exit::new(READ_ERROR, format!("cannot read {source}: {e}")))?
            };
            if strip_newlines {
                // curl --data @file drops carriage returns and newlines; --data-binary keeps them.
                data.retain(|&b| b != b'\r' && b != b'\n');
            }
            Ok(data)
        };

    let data_args = args.data_args();
    let body_kinds = [
        !data_args.is_empty(),
        args.json.is_some(),
        !args.form.is_empty(),
        args.upload_file.is_some(),
    ];
    if body_kinds.iter().filter(|&&k| k).count() > 1 {
        return Err(usage(
            "choose one kind of body: --data/--data-binary/--data-urlencode, --json, --form or --upload-file".into(),
        ));
    }
    if args.get && (args.json.is_some() || !args.form.is_empty() || args.upload_file.is_some()) {
        return Err(usage(
            "-G sends --data in the query; it does not go with --json, --form or --upload-file"
                .into(),
        ));
    }

    let mut headers: Vec<HeaderArg> = Vec::new();
    for h in &args.headers {
        headers.push(parse_header(h).map_err(usage)?);
    }

    let mut body: Option<(Vec<u8>, Option<String>)> = None;
    let mut extra_defaults: Vec<(String, String)> = Vec::new();
    if !data_args.is_empty() {
        let mut pieces = Vec::new();
        for d in &data_args {
            pieces.push(match d {
                DataArg::Text(d) => read_source(d, true)?,
                DataArg::Binary(d) => read_source(d, false)?,
                DataArg::UrlEncode(d) => url_encoded_piece(d, &mut read_source)?,
            });
        }
        let data = pieces.join(&b'&');
        if args.get {
            // -G: the data goes after the query, joined with `&` (curl).
            let mut query = target.query.take().unwrap_or_default();
            if !query.is_empty() && !data.is_empty() {
                query.push(b'&');
            }
            query.extend_from_slice(&data);
            target.query = Some(query);
        } else {
            body = Some((data, Some("application/x-www-form-urlencoded".into())));
        }
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
    } else if let Some(file) = &args.upload_file {
        let data = read_source(&format!("@{file}"), false)?;
        // A target that ends in `/` names a folder: the file keeps its name in it (curl).
        if file != "-" && target.path.ends_with(b"/") {
            let name = Path::new(file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            target
                .path
                .extend_from_slice(url_encode(name.as_bytes()).as_bytes());
        }
        body = Some((data, None));
    }

    let method = match (method_arg, &args.request) {
        (Some(a), Some(b)) if a != b.as_str() => {
            return Err(usage(format!("two methods given: {a} and -X {b}")));
        }
        (Some(m), _) => m.to_string(),
        (None, Some(m)) => m.clone(),
        (None, None) if args.head => "HEAD".to_string(),
        (None, None) if args.upload_file.is_some() => "PUT".to_string(),
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

    let mut defaults = vec![
        (
            "User-Agent".to_string(),
            args.user_agent
                .clone()
                .unwrap_or_else(|| format!("rwsgi-call/{}", crate::VERSION)),
        ),
        ("Accept".to_string(), "*/*".to_string()),
    ];
    let mut auto_referer = false;
    if let Some(referer) = &args.referer {
        let (url, auto) = match referer.strip_suffix(";auto") {
            Some(url) => (url, true),
            None => (referer.as_str(), false),
        };
        auto_referer = auto;
        if !url.is_empty() {
            extra_defaults.push(("Referer".into(), url.into()));
        }
    }
    if args.compressed {
        // Exactly the codings rwsgi-call can decode.
        extra_defaults.push(("Accept-Encoding".into(), "deflate, gzip, br".into()));
    }
    for (name, value) in extra_defaults {
        defaults.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        defaults.push((name, value));
    }
    for (_, value) in &defaults {
        if value.contains(['\r', '\n', '\0']) {
            return Err(usage(format!("{value:?} may not hold CR, LF or NUL")));
        }
    }

    let auth = match &args.user {
        None => None,
        Some(user) if user.contains(':') => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user.as_bytes())
        )),
        Some(user) => {
            return Err(usage(format!(
                "-u {user:?} has no password: give -u '{user}:PASSWORD' (curl would prompt for it)"
            )));
        }
    };

    let cookie_strings: Vec<&str> = args
        .cookie
        .iter()
        .filter(|c| c.contains('='))
        .map(String::as_str)
        .collect();
    let cookie_string = (!cookie_strings.is_empty()).then(|| cookie_strings.join("; "));
    if let Some(c) = &cookie_string
        && c.contains(['\r', '\n', '\0'])
    {
        return Err(usage("-b may not hold CR, LF or NUL".into()));
    }

    let mut environ = Vec::new();
    let mut scheme = None;
    let mut traits = Request::new("GET").traits;
    // More than one request is expected when redirects are followed (PEP 3333: run_once).
    traits.run_once = !args.location;
    for kv in &args.environ {
        let (key, value) = kv
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| usage(format!("--env expects KEY=VALUE, got {kv:?}")))?;
        if wsgi_key(key, value, &mut scheme, &mut traits).map_err(usage)? {
            environ.push((key.to_string(), value.as_bytes().to_vec()));
        }
    }

    let (body, content_type) = match body {
        Some((data, content_type)) => (Some(data), content_type),
        None => (None, None),
    };
    let mut plan = Plan {
        method,
        target,
        first_origin: String::new(),
        user_headers: headers,
        auth,
        defaults,
        auto_referer,
        body,
        content_type,
        cookie_string,
        environ,
        scheme,
        traits,
        script_name: args.script_name.clone(),
    };
    plan.first_origin = plan.origin();
    // Mistakes in the target show now, not after the app has loaded.
    plan.request(None)?;
    Ok(plan)
}

/// A `--env wsgi.*` key: PEP 3333 gives these Python types (`wsgi.url_scheme` a str, the
/// three flags bools, `wsgi.version` the tuple `(1, 0)`), so they are set as such rather than as
/// text. Returns whether the key is a plain environ string; keys rwsgi cannot set are refused.
fn wsgi_key(
    key: &str,
    value: &str,
    scheme: &mut Option<String>,
    traits: &mut ServerTraits,
) -> std::result::Result<bool, String> {
    let Some(name) = key.strip_prefix("wsgi.") else {
        return Ok(true);
    };
    let flag = || match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!(
            "--env {key} takes true, false, 1 or 0, not {value:?}"
        )),
    };
    match name {
        "url_scheme" => match value {
            "http" | "https" => *scheme = Some(value.to_string()),
            _ => {
                return Err(format!(
                    "--env wsgi.url_scheme takes http or https, not {value:?}"
                ));
            }
        },
        "multithread" => traits.multithread = flag()?,
        "multiprocess" => traits.multiprocess = flag()?,
        "run_once" => traits.run_once = flag()?,
        "version" if value == "1.0" || value == "(1, 0)" => {}
        "version" => {
            return Err(format!(
                "--env wsgi.version can only be 1.0 (PEP 3333), not {value:?}"
            ));
        }
        _ => {
            return Err(format!(
                "--env cannot set {key}: the wsgi.* keys it sets are wsgi.url_scheme, \
                 wsgi.multithread, wsgi.multiprocess, wsgi.run_once and wsgi.version \
                 (wsgi.input, wsgi.errors and the others belong to the server)"
            ));
        }
    }
    Ok(false)
}

/// One `--data-urlencode` argument, as curl reads it: `content`, `=content`, `name=content`,
/// `@file`, `name@file`; the content is URL-encoded, the name is not.
fn url_encoded_piece(
    arg: &str,
    read_source: &mut ReadSource<'_>,
) -> std::result::Result<Vec<u8>, Exit> {
    // curl looks for `=` first; only an argument without one can name a file with `@`.
    let (name, content) = match (arg.find('='), arg.find('@')) {
        (Some(e), _) => (Some(&arg[..e]), arg.as_bytes()[e + 1..].to_vec()),
        (None, Some(a)) => (
            Some(&arg[..a]),
            read_source(&format!("@{}", &arg[a + 1..]), false)?,
        ),
        (None, None) => (None, arg.as_bytes().to_vec()),
    };
    let mut piece = Vec::new();
    if let Some(name) = name.filter(|n| !n.is_empty()) {
        piece.extend_from_slice(name.as_bytes());
        piece.push(b'=');
    }
    // A space becomes `+`, as in an HTML form (application/x-www-form-urlencoded), and as curl
    // sends it.
    let encoded: Vec<String> = content.split(|&b| b == b' ').map(url_encode).collect();
    piece.extend_from_slice(encoded.join("+").as_bytes());
    Ok(piece)
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
    read_source: &mut ReadSource<'_>,
) -> std::result::Result<multipart::Part, Exit> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| Exit::usage(format!("-F expects name=value or name=@file, got {text:?}")))?;
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
                    return Err(Exit::usage(format!(
                        "the type in -F {text:?} may not hold CR, LF or NUL"
                    )));
                }
                content_type = Some(t.to_string());
            }
            Some(("filename", f)) => filename = Some(f.trim_matches('"').to_string()),
            _ => {
                return Err(Exit::usage(format!(
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
            "--env",
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
        assert!(build_request(&args(&["--env", "novalue", "/"]), &mut io::empty()).is_err());
    }

    #[test]
    fn data_urlencode_forms_and_get() {
        let dir = std::env::temp_dir().join(format!("rwsgi-cli-urlenc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("v.txt");
        std::fs::write(&file, "x y\n").unwrap();
        let f = file.display().to_string();
        let argv = [
            "--data-urlencode".to_string(),
            "a=b c&d".into(),
            "-d".into(),
            "raw=1".into(),
            "--data-urlencode".into(),
            "=é".into(),
            "--data-urlencode".into(),
            format!("n@{f}"),
            "--data-urlencode".into(),
            format!("@{f}"),
            "/x?q=1".into(),
        ];
        let parse = |argv: &[String]| {
            CallArgs::parse_named("rwsgi-call", argv.iter().map(OsString::from).collect()).unwrap()
        };
        let r = build_request(&parse(&argv), &mut io::empty()).unwrap();
        assert_eq!(
            http::read_all(r.body).unwrap(),
            b"a=b+c%26d&raw=1&%C3%A9&n=x+y%0A&x+y%0A"
        );
        let mut get = argv.to_vec();
        get.insert(0, "-G".into());
        let r = build_request(&parse(&get), &mut io::empty()).unwrap();
        assert_eq!(r.method, "GET");
        assert!(r.body.is_empty());
        assert_eq!(
            r.query_string,
            b"q=1&a=b+c%26d&raw=1&%C3%A9&n=x+y%0A&x+y%0A"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wsgi_keys_are_typed_or_refused() {
        let r = request(&[
            "--env",
            "wsgi.url_scheme=https",
            "--env",
            "wsgi.multithread=1",
            "/",
        ]);
        assert_eq!(r.scheme, "https");
        assert!(r.traits.multithread);
        assert!(r.extra.is_empty());
        for bad in [
            "wsgi.input=x",
            "wsgi.url_scheme=ftp",
            "wsgi.run_once=yes",
            "wsgi.version=1.1",
        ] {
            assert!(
                build_request(&args(&["--env", bad, "/"]), &mut io::empty()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn curl_header_options() {
        let e = env(&request(&[
            "-A",
            "ua/1",
            "-e",
            "http://r.test/;auto",
            "-u",
            "u:p",
            "-b",
            "a=1",
            "/",
        ]));
        assert_eq!(e["HTTP_USER_AGENT"], "ua/1");
        assert_eq!(e["HTTP_REFERER"], "http://r.test/");
        assert_eq!(e["HTTP_AUTHORIZATION"], "Basic dTpw");
        assert_eq!(e["HTTP_COOKIE"], "a=1");
        let e = env(&request(&["--compressed", "/"]));
        assert_eq!(e["HTTP_ACCEPT_ENCODING"], "deflate, gzip, br");
        assert!(build_request(&args(&["-A", "a\nb", "/"]), &mut io::empty()).is_err());
        assert!(build_request(&args(&["-u", "nopassword", "/"]), &mut io::empty()).is_err());
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
