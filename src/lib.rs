//! rwsgi: run a Python WSGI application on AWS Lambda, as a CGI program, or from the command
//! line, with one binary.
//!
//! The flow (see README.md#layout): [`mode`] decides where we are; a source turns its input into a
//! neutral [`http::Request`]; the [`python`] core builds the WSGI environ, calls the app and
//! hands its response to a sink ([`http::ResponseSink`]), which writes what that place expects.

pub mod app_spec;
pub mod cgi;
pub mod cli;
pub mod error;
pub mod exit;
pub mod fastcgi;
pub mod http;
pub mod json;
pub mod lambda;
pub mod log;
pub mod mode;
pub mod multipart;
pub mod python;
pub mod stdio;
pub mod workers;

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::app_spec::AppSpec;
pub use crate::error::{Error, Result};
pub use crate::exit::ExitStatus;
use crate::mode::Mode;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the process: decides the mode and runs it. Returns the exit status.
pub fn run(argv: Vec<OsString>) -> Result<ExitStatus> {
    let mode = mode::detect(
        &argv,
        |name| std::env::var_os(name),
        Path::is_file,
        fastcgi::is_listening_socket(std::io::stdin().as_fd()),
    );
    let result = run_mode(mode);
    python::finish();
    result
}

fn run_mode(mode: Mode) -> Result<ExitStatus> {
    set_hosting(match &mode {
        Mode::Cgi { .. } => Hosting::Cgi,
        // Started by the web server, the app is named in its configuration, as under CGI;
        // `rwsgi fastcgi` is named on its command line.
        Mode::Fastcgi {
            server_started: true,
            ..
        } => Hosting::Cgi,
        Mode::Fastcgi { .. } => Hosting::CommandLine,
        Mode::Lambda { .. } => Hosting::Lambda,
        Mode::Call { .. } | Mode::Event { .. } => Hosting::CommandLine,
        Mode::Version | Mode::Help | Mode::Usage { .. } => Hosting::CommandLine,
    });
    match mode {
        Mode::Call { args } => cli::main(args),
        Mode::Version => {
            println!("{}", version_text());
            Ok(ExitStatus::Success)
        }
        Mode::Help => {
            print!("{}", usage_text());
            Ok(ExitStatus::Success)
        }
        Mode::Usage { script } => {
            let mut text = usage_text();
            if let Some(script) = script {
                text.push_str(&format!(
                    "\n{} looks like an app script, but this is not a CGI request (GATEWAY_INTERFACE \
                     is not set). To try it from the command line:\n  rwsgi call --app {} GET /\n",
                    script.display(),
                    script.display()
                ));
            }
            log::plain(&text);
            Ok(ExitStatus::Usage)
        }
        Mode::Event { args } => lambda::local::event_main(args),
        Mode::Lambda { args } => lambda::runtime::main(args),
        Mode::Cgi { script, args } => cgi::main(script, args),
        Mode::Fastcgi {
            script,
            args,
            server_started,
        } => fastcgi::main(script, args, server_started),
    }
}

/// `rwsgi 0.1.0 (Python 3.11.7)`.
pub fn version_text() -> String {
    let (_, _, python) = python::embedded_version();
    format!("rwsgi {VERSION} (Python {python})")
}

fn usage_text() -> String {
    format!(
        "rwsgi {VERSION}: run a Python WSGI app on AWS Lambda, as CGI or FastCGI, or from the command line.

Usage:
  rwsgi call [OPTIONS] [METHOD] TARGET   one request, no server (also as `rwsgi-call`);
                                         `rwsgi call --help` lists the options
  rwsgi event [FILE|-]                   one Lambda event, printing the reply
  rwsgi cgi [SCRIPT]                     a CGI request (automatic when GATEWAY_INTERFACE is set)
  rwsgi fastcgi [OPTIONS] [SCRIPT]       a FastCGI server (automatic when fd 0 is a listening
                                         socket); `rwsgi fastcgi --help` lists the options
  rwsgi lambda                           the Lambda runtime loop (automatic when
                                         AWS_LAMBDA_RUNTIME_API is set)
  rwsgi --version

The app: --app SPEC or RWSGI_APP, where SPEC is package.module[:name], package.module:factory(),
or path/to/file.py[:name]. Virtualenv: --venv DIR, RWSGI_VENV or VIRTUAL_ENV, else a .venv in
the app's folder. Extra import folders: RWSGI_PATH (':'-separated).
"
    )
}

/// Where the app is hosted, so that a message tells the user what they can change there: a
/// CGI script's author edits the script and the server's configuration, a Lambda function's
/// owner its package and settings, a command-line user the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hosting {
    CommandLine,
    Cgi,
    Lambda,
}

static HOSTING: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

pub fn set_hosting(hosting: Hosting) {
    HOSTING.store(hosting as u8, std::sync::atomic::Ordering::Relaxed);
}

/// The hosting of this process ([`Hosting::CommandLine`] until a mode says otherwise).
pub fn hosting() -> Hosting {
    match HOSTING.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Hosting::Cgi,
        2 => Hosting::Lambda,
        _ => Hosting::CommandLine,
    }
}

/// An environment variable, when it is set and not empty.
pub fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Where an app is imported from, besides its SPEC.
#[derive(Debug, Clone, Default)]
pub struct AppPlace {
    /// `--venv`; `RWSGI_VENV` and `VIRTUAL_ENV` are consulted when it is `None`.
    pub venv: Option<PathBuf>,
    /// The virtualenv used when none of those is set; when `None`, the `.venv` of the app's
    /// folder, if there is one (see [`app_folder_venv`]).
    pub default_venv: Option<PathBuf>,
    /// The mode's own import folders (the current folder for the CLI), first on `sys.path`.
    pub base_dirs: Vec<PathBuf>,
    /// The CGI drop-in script, when there is one (`sys.argv[0]`).
    pub cgi_script: Option<PathBuf>,
    /// Whether Python may handle SIGINT (interactive use).
    pub signal_handlers: bool,
    /// Read the SPEC as a Lambda Handler setting too (`module.function`).
    pub lambda_handler: bool,
    /// Line-buffered `sys.stdout`/`sys.stderr` (CGI, Lambda: each printed line reaches the log
    /// at once).
    pub line_buffered: bool,
}

/// The virtualenv every mode uses when none is named: a `.venv` (a folder holding
/// `pyvenv.cfg`) in the app's folder, which is a script-file app's own folder (a CGI drop-in's,
/// `rwsgi call --app ./x.wsgi`'s), else the first folder a module is imported from (the current
/// folder on the command line, `LAMBDA_TASK_ROOT` on Lambda).
pub fn app_folder_venv(spec: &AppSpec, base_dirs: &[PathBuf]) -> Option<PathBuf> {
    let folder = spec.script_dir().or_else(|| base_dirs.first().cloned())?;
    let venv = folder.join(".venv");
    venv.join("pyvenv.cfg").is_file().then_some(venv)
}

/// Starts Python with the right `sys.path` and imports the app named by `spec_text`.
pub fn load_app(spec_text: &str, place: AppPlace) -> Result<python::App> {
    let spec = AppSpec::parse(spec_text, place.lambda_handler, Path::is_file)?;
    let mut path = Vec::new();
    // A script's own folder comes first, so modules beside it import (mod_wsgi, `python x.py`).
    if let Some(dir) = spec.script_dir() {
        path.push(dir);
    }
    let folder_venv = app_folder_venv(&spec, &place.base_dirs);
    path.extend(place.base_dirs);
    if let Some(extra) = std::env::var_os("RWSGI_PATH") {
        path.extend(std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()));
    }
    let venv = place
        .venv
        .or_else(|| env_nonempty("RWSGI_VENV").map(PathBuf::from))
        .or_else(|| env_nonempty("VIRTUAL_ENV").map(PathBuf::from))
        .or(place.default_venv)
        .or(folder_venv);
    let argv0 = match (&place.cgi_script, &spec.source) {
        (Some(script), _) | (None, app_spec::Source::File(script)) => {
            script.to_string_lossy().into_owned()
        }
        _ => "rwsgi".to_string(),
    };
    python::start(&python::StartOptions {
        argv: vec![argv0],
        path,
        venv,
        signal_handlers: place.signal_handlers,
        line_buffered: place.line_buffered,
    })?;
    Ok(python::App::load(&spec)?)
}
