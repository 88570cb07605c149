//! FastCGI mode (the FastCGI Specification 1.0,
//! <https://fastcgi-archives.github.io/FastCGI_Specification.html>): the app is imported once,
//! then each request arrives as records on a connection. FastCGI params are CGI meta-variables
//! and FCGI_STDIN is CGI's stdin, so a request is built by CGI's own rules
//! ([`crate::cgi::build_request`]) and answered through CGI's sink ([`crate::cgi::CgiSink`]),
//! whose bytes travel as FCGI_STDOUT records.
//!
//! The record layer is rwsgi's own. The crates were weighed and set aside:
//! - `tokio-fastcgi` 1.3 builds each request whole in memory before handing it over ("Requests
//!   are built in memory": no body streaming, no spooling, no size limit), answers
//!   FCGI_MPXS_CONNS with 1 whatever the application can do, only drops an aborted request that
//!   has not started (an FCGI_ABORT_REQUEST for the request being served never reaches it), and
//!   keys params by `String` in a `HashMap` (order lost);
//! - `fastcgi` 1.0 (2016) runs a thread per connection inside its own accept loop, `assert!`s on
//!   short reads (a peer that vanishes panics the process) and reads params as `String`;
//! - `gfcgi` 0.4 decodes params lossily as UTF-8 and is unmaintained.
//!
//! The protocol is small (eight record types, one header layout), and rwsgi needs control of
//! exactly the parts those crates get wrong: the body streamed from the socket into CGI's
//! spooling, aborts seen while the app is answering, and one request at a time per process.
//!
//! Process shape: one listening socket (fd 0 from the web server, `--bind`, or systemd's fd 3),
//! shared by the workers of [`crate::workers`]; each worker accepts a connection and serves its
//! requests one at a time, so it says so in FCGI_GET_VALUES (FCGI_MPXS_CONNS 0). A worker has
//! nothing to do while the app runs but watch its one connection, so its I/O is plain blocking
//! reads and writes with `poll` where it must wait for two things (its connection and the
//! listening socket, or a signal): an async runtime would add a layer and buy nothing here.
//!
//! `records` reads and writes the bytes of records, `conn` is one connection and its
//! streams, `server` serves its requests and runs the workers, `listen` opens the listening
//! socket.

mod conn;
mod listen;
mod records;
mod server;

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::path::PathBuf;

use clap::Parser;

use crate::cgi::BodyLimits;
use crate::error::{Error, Result};
use crate::exit::ExitStatus;

use server::{Service, worker_loop};

pub(crate) use listen::is_listening_socket;

/// Serve a WSGI app over FastCGI: for nginx's fastcgi_pass, systemd socket units, or any
/// FastCGI web server.
#[derive(Parser, Debug)]
#[command(name = "rwsgi fastcgi", version = crate::VERSION)]
struct FastcgiArgs {
    /// The app's script (a .wsgi or .py file), as an alternative to --app.
    #[arg(value_name = "SCRIPT")]
    script: Option<PathBuf>,
    /// The app (default: $RWSGI_APP).
    #[arg(long, value_name = "SPEC")]
    app: Option<String>,
    /// A virtualenv to import from (default: $RWSGI_VENV, else $VIRTUAL_ENV, else a .venv
    /// beside the script).
    #[arg(long, value_name = "DIR")]
    venv: Option<PathBuf>,
    /// Where to listen: unix:/path/to.sock or HOST:PORT. Without it: the socket systemd passes
    /// (LISTEN_FDS), else fd 0 when the web server started rwsgi with a listening socket there.
    #[arg(long, value_name = "ADDRESS")]
    bind: Option<String>,
    /// How many worker processes serve requests, each one at a time (default: $RWSGI_WORKERS,
    /// else 1 when the web server started rwsgi, else the number of CPUs).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// A worker is replaced after this many requests; 0 for never (default:
    /// $RWSGI_MAX_REQUESTS, else 0).
    #[arg(long, value_name = "N")]
    max_requests: Option<u64>,
    /// The listening socket's backlog (default: $RWSGI_BACKLOG, else 1024).
    #[arg(long, value_name = "N")]
    backlog: Option<i32>,
}

/// A number from the environment, or a usage error naming the variable.
fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>> {
    match crate::env_nonempty(name) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::Usage(format!("{name}={text:?} is not a whole number"))),
    }
}

/// `rwsgi fastcgi [OPTIONS] [SCRIPT]`, or rwsgi started by a web server with a listening socket
/// on fd 0 (`server_started`; `script` is the drop-in script the kernel named, and the options
/// come from the environment, as a web server passes no arguments).
pub(crate) fn main(
    script: Option<PathBuf>,
    args: Vec<OsString>,
    server_started: bool,
) -> Result<ExitStatus> {
    let args = if server_started {
        FastcgiArgs {
            script,
            app: None,
            venv: None,
            bind: None,
            workers: None,
            max_requests: None,
            backlog: None,
        }
    } else {
        match crate::cli::parse_args::<FastcgiArgs>("rwsgi fastcgi", args) {
            Ok(a) => a,
            Err(status) => return Ok(status),
        }
    };
    let (workers, max_requests, backlog) = settings(&args, server_started)?;
    let limits = BodyLimits::from_env()?;

    // The socket first: a mistake there is reported before the app's import time is spent.
    let listener = listen::open(args.bind.as_deref(), server_started, backlog)?;
    listen::prepare_for_workers(&listener);
    // What the app prints goes to the log, never into a socket (fd 0 and 1 are not the
    // response here, but fd 1 may be anything the server left there).
    let _ = rustix::stdio::dup2_stdout(std::io::stderr());

    // The current folder, as for `rwsgi call` and other WSGI servers: `rwsgi fastcgi --app
    // myproject.wsgi:application` started in the project's folder finds it. (A web server starts
    // a script in its own folder, which is first on the path anyway.)
    let base_dirs = vec![PathBuf::from(".")];
    let app =
        match crate::cgi::load_script_app(args.script.as_deref(), args.app, args.venv, base_dirs) {
            Ok(app) => app,
            Err(e) => {
                crate::log::error(&e.to_string());
                return Ok(ExitStatus::from(&e));
            }
        };
    let service = Service {
        app,
        limits,
        max_conns: workers,
    };
    let listen_fd = listener.fd.as_fd();
    let config = crate::workers::PoolConfig {
        workers,
        replace: true,
        name: "FastCGI worker",
    };
    let result = crate::workers::run(&config, || worker_loop(&service, listen_fd, max_requests));
    if let Some(path) = &listener.unix_path {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// `--workers`, `--max-requests` and `--backlog`, else their environment variables, else the
/// defaults.
fn settings(args: &FastcgiArgs, server_started: bool) -> Result<(usize, u64, i32)> {
    let workers = match args.workers {
        Some(n) => n,
        None => match env_number::<usize>("RWSGI_WORKERS")? {
            Some(n) => n,
            // A web server that starts FastCGI programs runs as many as it wants itself.
            None if server_started => 1,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        },
    };
    if workers == 0 {
        return Err(Error::Usage("--workers must be at least 1".into()));
    }
    let max_requests = match args.max_requests {
        Some(n) => n,
        None => env_number("RWSGI_MAX_REQUESTS")?.unwrap_or(0),
    };
    let backlog = match args.backlog {
        Some(n) => n,
        None => env_number("RWSGI_BACKLOG")?.unwrap_or(1024),
    };
    if backlog < 1 {
        return Err(Error::Usage("--backlog must be at least 1".into()));
    }
    Ok((workers, max_requests, backlog))
}
