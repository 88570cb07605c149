//! The library's one error type. Each mode maps it once at its edge: to an exit status (its
//! `From` in `exit.rs`) and a line on stderr (CLI, CGI), or to a reply or a Runtime API error
//! (Lambda).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line or the configuration is wrong: [`crate::ExitStatus::Usage`].
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Spec(#[from] crate::app_spec::SpecError),
    /// The virtualenv cannot be used with the embedded Python.
    #[error("{0}")]
    Venv(String),
    /// The interpreter did not start.
    #[error("cannot start Python: {0}")]
    PythonStart(String),
    /// The app could not be imported or is not a WSGI callable.
    #[error(transparent)]
    Load(#[from] crate::python::LoadError),
    /// The app (or the event handler) could not be set up, as the Lambda runtime reports it.
    #[error("{0}")]
    AppInit(String),
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The Lambda runtime's event loop did not start.
    #[error("cannot start the Runtime API client: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write {what}: {source}")]
    Write {
        what: String,
        source: std::io::Error,
    },
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
