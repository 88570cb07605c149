//! The flags of `rwsgi call` as clap reads them (raw, not yet checked against each other).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};

use crate::exit::ExitStatus;

/// Run one request through a WSGI app, with no server, and print the response.
#[derive(Parser, Debug, Default)]
#[command(
    name = "rwsgi-call",
    about = "Run one HTTP request through a Python WSGI app, with no server, in the habits of curl.",
    after_help = format!("{}{}", "Examples:\n  rwsgi-call --app myproject.wsgi:application GET '/api/items?page=2' -H 'Accept: application/json'\n  rwsgi-call --app app.py --json '{\"name\": \"x\"}' /items\n  rwsgi-call --app 'app:create_app()' -F photo=@cat.jpg /upload\n  rwsgi-call --app 'app:create_app()' -L -c jar.txt -d user=bob /login\n\nExit status (curl's code where curl has one for the same failure):\n", crate::exit::plain_text(crate::exit::Table::Call, 96))
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
    pub(super) fn data_args(&self) -> Vec<DataArg> {
        if !self.data_order.is_empty() {
            return self.data_order.clone();
        }
        let mut all: Vec<DataArg> = self.data.iter().cloned().map(DataArg::Text).collect();
        all.extend(self.data_binary.iter().cloned().map(DataArg::Binary));
        all.extend(self.data_urlencode.iter().cloned().map(DataArg::UrlEncode));
        all
    }
}

/// Parses a subcommand's arguments; `Err` holds the exit status after clap has printed help,
/// the version (success), or a usage error.
pub(crate) fn parse_args<T: Parser>(
    name: &str,
    args: Vec<OsString>,
) -> std::result::Result<T, ExitStatus> {
    let mut argv = vec![OsString::from(name)];
    argv.extend(args);
    T::try_parse_from(argv).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitStatus::Usage
        } else {
            ExitStatus::Success
        }
    })
}
