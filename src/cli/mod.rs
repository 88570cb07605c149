//! `rwsgi call` / `rwsgi-call`: the command line as a source (flags ->
//! [`Request`](crate::http::Request)) and a sink ([`Response`](crate::http::Response) -> stdout
//! or a file), in the habits of curl (docs/cli.md).
//!
//! The flags as clap reads them (`args`) are checked into a [`Plan`] (`plan`, with the
//! `target` and the `body`), which becomes the neutral request (`request`) and again after
//! each redirect (`redirect`); `run` sends it and `transfer` takes the response to the
//! `output`, with the `cookies` and `-w` (`writeout`).

mod args;
mod body;
mod cookies;
mod output;
mod plan;
mod redirect;
mod request;
mod run;
mod target;
mod transfer;
mod writeout;

use crate::error::Error;
use crate::exit::ExitStatus;

pub use args::{CallArgs, Format};
pub(crate) use args::{DataArg, parse_args};
pub(crate) use plan::{Plan, build_plan};
pub use request::{HeaderArg, build_request, parse_header};
pub(crate) use run::main;
pub use target::Target;

/// An exit with curl's code for the same failure, and its one-line message.
#[derive(Debug)]
pub(crate) struct Exit {
    pub status: ExitStatus,
    pub message: String,
}

impl Exit {
    fn usage(message: String) -> Exit {
        Exit {
            status: ExitStatus::Usage,
            message,
        }
    }

    fn new(status: ExitStatus, message: impl Into<String>) -> Exit {
        Exit {
            status,
            message: message.into(),
        }
    }

    fn into_error(self) -> Error {
        Error::Usage(self.message)
    }
}
