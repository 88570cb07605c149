//! From an app SPEC to a loaded app: where it is imported from ([`AppPlace`]: the virtualenv,
//! the import folders, the CGI script), then the [`crate::python`] core starts and imports it.
//! Also where the app is hosted ([`Hosting`]), so that the core's messages speak to whoever
//! can fix them.

use std::path::{Path, PathBuf};

use crate::app_spec::{self, AppSpec};
use crate::{Result, env_nonempty, python};

/// Where the app is hosted, so that a message tells the user what they can change there: a
/// CGI script's author edits the script and the server's configuration, a Lambda function's
/// owner its package and settings, a command-line user the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hosting {
    CommandLine,
    Cgi,
    Lambda,
}

static HOSTING: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

pub(crate) fn set_hosting(hosting: Hosting) {
    HOSTING.store(hosting as u8, std::sync::atomic::Ordering::Relaxed);
}

/// The hosting of this process ([`Hosting::CommandLine`] until a mode says otherwise).
pub(crate) fn hosting() -> Hosting {
    match HOSTING.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Hosting::Cgi,
        2 => Hosting::Lambda,
        _ => Hosting::CommandLine,
    }
}

/// Where an app is imported from, besides its SPEC.
#[derive(Debug, Clone, Default)]
pub(crate) struct AppPlace {
    /// `--venv`; `RWSGI_VENV` and `VIRTUAL_ENV` are consulted when it is `None`.
    pub(crate) venv: Option<PathBuf>,
    /// The virtualenv used when none of those is set; when `None`, the `.venv` of the app's
    /// folder, if there is one (see [`app_folder_venv`]).
    pub(crate) default_venv: Option<PathBuf>,
    /// The mode's own import folders (the current folder for the CLI), first on `sys.path`.
    pub(crate) base_dirs: Vec<PathBuf>,
    /// The CGI drop-in script, when there is one (`sys.argv[0]`).
    pub(crate) cgi_script: Option<PathBuf>,
    /// Whether Python may handle SIGINT (interactive use).
    pub(crate) signal_handlers: bool,
    /// Read the SPEC as a Lambda Handler setting too (`module.function`).
    pub(crate) lambda_handler: bool,
    /// Line-buffered `sys.stdout`/`sys.stderr` (CGI, Lambda: each printed line reaches the log
    /// at once).
    pub(crate) line_buffered: bool,
}

/// The virtualenv every mode uses when none is named: a `.venv` (a folder holding
/// `pyvenv.cfg`) in the app's folder, which is a script-file app's own folder (a CGI drop-in's,
/// `rwsgi call --app ./x.wsgi`'s), else the first folder a module is imported from (the current
/// folder on the command line, `LAMBDA_TASK_ROOT` on Lambda).
pub(crate) fn app_folder_venv(spec: &AppSpec, base_dirs: &[PathBuf]) -> Option<PathBuf> {
    let folder = spec.script_dir().or_else(|| base_dirs.first().cloned())?;
    let venv = folder.join(".venv");
    venv.join("pyvenv.cfg").is_file().then_some(venv)
}

/// Starts Python with the right `sys.path` and imports the app named by `spec_text`.
pub(crate) fn load_app(spec_text: &str, place: AppPlace) -> Result<python::App> {
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
