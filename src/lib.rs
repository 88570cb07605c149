//! rwsgi: run a Python WSGI application on AWS Lambda, as a CGI program, or from the command
//! line, with one binary.
//!
//! The flow (see README.md#layout): `mode` decides where we are; a source turns its input into a
//! neutral `http::Request`; the `python` core builds the WSGI environ, calls the app and hands its
//! response to a sink (`http::ResponseSink`), which writes what that place expects.
//!
//! The modules are the crate's own. What is public is [`run`], which the `rwsgi` binary calls,
//! and [`testing`]: the pure parts the integration tests and the fuzz targets drive directly.

mod app;
mod app_spec;
mod cgi;
mod cli;
mod error;
mod exit;
mod fastcgi;
mod http;
mod json;
mod lambda;
mod log;
mod mode;
mod multipart;
mod python;
mod stdio;
mod workers;

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::ExitCode;

// Names every part of the crate uses, at its root.
pub(crate) use crate::app::{AppPlace, Hosting, hosting, load_app};
pub(crate) use crate::error::{Error, Result};
pub(crate) use crate::exit::ExitStatus;
pub(crate) use crate::mode::{VERSION, env_nonempty};

/// Runs the process: decides the mode and runs it. An error becomes one line on stderr and the
/// exit status that says what kind of error it was.
pub fn run(argv: Vec<OsString>) -> ExitCode {
    let mode = mode::detect(
        &argv,
        |name| std::env::var_os(name),
        Path::is_file,
        fastcgi::is_listening_socket(std::io::stdin().as_fd()),
    );
    let result = mode::run(mode);
    python::finish();
    match result {
        Ok(status) => status.into(),
        Err(e) => {
            log::error(&e.to_string());
            ExitStatus::from(&e).into()
        }
    }
}

/// The translation layers and parsers, for the integration tests (`tests/`) and the fuzz
/// targets (`fuzz/`), which check them without starting Python: the neutral HTTP model, the
/// Lambda event sources and replies, the Runtime API client, the CGI request, the `rwsgi call`
/// command line and the app SPEC. Not an API for other programs: it follows the crate's
/// internals and changes with them.
pub mod testing {
    /// The neutral request and response.
    pub mod http {
        pub use crate::http::{
            HeaderVerdict, Request, Response, ResponseHead, check_header, latin1_string,
            parse_status, percent_decode, read_all,
        };
    }
    /// The ordered JSON tree events are read into.
    pub mod json {
        pub use crate::json::Value;
    }
    pub mod lambda {
        /// Events to requests, per door.
        pub mod source {
            pub use crate::lambda::source::{EventOptions, Source, detect, to_request};
        }
        /// Responses to replies, per door.
        pub mod reply {
            pub use crate::lambda::reply::{MAX_REPLY_BYTES, TextTypes, serialize, to_reply};
        }
        /// The Runtime API client.
        pub mod runtime {
            pub use crate::lambda::runtime::{Api, Next, NextError, endpoint};
        }
        /// `rwsgi event`'s made-up events and context.
        pub mod local {
            pub use crate::lambda::local::{Via, event_for, made_up_context};
        }
    }
    /// The CGI request (RFC 3875) and its body limits.
    pub mod cgi {
        pub use crate::cgi::{BodyLimits, Rejection, build_request, parse_size};
    }
    /// `rwsgi call`'s command line and request.
    pub mod cli {
        pub use crate::cli::{CallArgs, Format, HeaderArg, Target, build_request, parse_header};
    }
    /// App specs (`package.module:name`, `path/to/file.py`, a Lambda Handler setting).
    pub mod app_spec {
        pub use crate::app_spec::{AppSpec, Source};
    }
    /// `multipart/form-data` bodies, as `rwsgi call -F` builds them.
    pub mod multipart {
        pub use crate::multipart::{Part, build, guess_type};
    }
}
