//! The first step of the flow: which mode this process is in, decided from how it was started
//! (argv[0], the first argument) and its environment, as the table in docs/README.md#which-mode lays out.
//! [`detect`] is pure: the environment and the file system are passed in, so the table is tested
//! as a table. [`run`] then hands the process to that mode's front door.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::app::{Hosting, set_hosting};
use crate::{ExitStatus, Result, cgi, cli, fastcgi, lambda, log, python};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One request from the command line; `args` are the call's own arguments.
    Call {
        args: Vec<OsString>,
    },
    /// One Lambda event from a file or stdin.
    Event {
        args: Vec<OsString>,
    },
    /// A CGI request; `script` is the drop-in script the kernel named in argv[1].
    Cgi {
        script: Option<PathBuf>,
        args: Vec<OsString>,
    },
    /// FastCGI: `rwsgi fastcgi` (`server_started` false), or started by a web server with a
    /// listening socket on fd 0 (`server_started` true; `script` is the drop-in script the
    /// kernel named in argv[1]).
    Fastcgi {
        script: Option<PathBuf>,
        args: Vec<OsString>,
        server_started: bool,
    },
    /// The Lambda custom-runtime loop.
    Lambda {
        args: Vec<OsString>,
    },
    Version,
    Help,
    /// Nothing says what to do: usage on stderr, exit 2. `script` is set when argv[1] names a
    /// file, so the message can say how to run it by hand.
    Usage {
        script: Option<PathBuf>,
    },
}

/// Decides the mode. `argv` is the whole command line, argv[0] included; `env` reads one
/// environment variable; `is_file` says whether a path names a file; `fd0_listens` whether
/// fd 0 is a listening socket (FastCGI's FCGI_LISTENSOCK_FILENO: the web server started this
/// process as a FastCGI application, as mod_fcgid and lighttpd's `bin-path` do).
pub(crate) fn detect(
    argv: &[OsString],
    env: impl Fn(&str) -> Option<OsString>,
    is_file: impl Fn(&Path) -> bool,
    fd0_listens: bool,
) -> Mode {
    let rest: Vec<OsString> = argv.iter().skip(1).cloned().collect();
    let program = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .unwrap_or_default();
    if program == OsStr::new("rwsgi-call") {
        return Mode::Call { args: rest };
    }
    let first = rest.first().map(OsString::as_os_str);
    let after_first = || rest.iter().skip(1).cloned().collect::<Vec<_>>();
    match first.and_then(OsStr::to_str) {
        Some("call") => {
            return Mode::Call {
                args: after_first(),
            };
        }
        Some("event") => {
            return Mode::Event {
                args: after_first(),
            };
        }
        Some("lambda") => {
            return Mode::Lambda {
                args: after_first(),
            };
        }
        Some("cgi") => {
            let args = after_first();
            let script = args
                .first()
                .filter(|a| is_file(Path::new(a)))
                .map(PathBuf::from);
            return Mode::Cgi { script, args };
        }
        Some("fastcgi") => {
            return Mode::Fastcgi {
                script: None,
                args: after_first(),
                server_started: false,
            };
        }
        Some("--version" | "-V") => return Mode::Version,
        Some("--help" | "-h" | "help") => return Mode::Help,
        _ => {}
    }
    let set = |name: &str| env(name).is_some_and(|v| !v.is_empty());
    let script = first.filter(|a| is_file(Path::new(a))).map(PathBuf::from);
    if set("AWS_LAMBDA_RUNTIME_API") {
        return Mode::Lambda { args: rest };
    }
    if fd0_listens {
        // The same `#!/usr/bin/env rwsgi` script as under CGI: the server runs the script, so
        // argv[1] names it; the server passes no other arguments.
        return Mode::Fastcgi {
            script,
            args: rest,
            server_started: true,
        };
    }
    if set("GATEWAY_INTERFACE") {
        // The kernel runs `#!/usr/bin/env rwsgi` scripts as `rwsgi /path/to/script`; servers
        // may also pass the query's words as further arguments (RFC 3875 section 4.4), which
        // a WSGI app has no use for.
        return Mode::Cgi { script, args: rest };
    }
    Mode::Usage { script }
}

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

/// An environment variable, when it is set and not empty.
pub(crate) fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Runs the mode: the front door it names, or the text `--version`, `--help` and a bare start print.
pub(crate) fn run(mode: Mode) -> Result<ExitStatus> {
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
fn version_text() -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn run(argv: &[&str], env: &[(&str, &str)]) -> Mode {
        run_fd0(argv, env, false)
    }

    fn run_fd0(argv: &[&str], env: &[(&str, &str)], fd0_listens: bool) -> Mode {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        detect(
            &os(argv),
            |k| {
                env.iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| OsString::from(v))
            },
            |p| p.to_str().is_some_and(|s| s.ends_with(".wsgi")),
            fd0_listens,
        )
    }

    #[test]
    fn fastcgi() {
        let cgi = [("GATEWAY_INTERFACE", "CGI/1.1")];
        let lambda = [("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")];
        // Started by mod_fcgid or lighttpd's bin-path: the script in argv[1], fd 0 listening,
        // with or without CGI variables in the environment.
        for env in [&[][..], &cgi[..]] {
            assert_eq!(
                run_fd0(&["rwsgi", "/srv/cgi-bin/app.wsgi"], env, true),
                Mode::Fastcgi {
                    script: Some("/srv/cgi-bin/app.wsgi".into()),
                    args: os(&["/srv/cgi-bin/app.wsgi"]),
                    server_started: true,
                }
            );
        }
        assert_eq!(
            run_fd0(&["/usr/bin/rwsgi"], &[], true),
            Mode::Fastcgi {
                script: None,
                args: vec![],
                server_started: true,
            }
        );
        assert_eq!(
            run(&["rwsgi", "fastcgi", "--bind", "unix:/run/a.sock"], &cgi),
            Mode::Fastcgi {
                script: None,
                args: os(&["--bind", "unix:/run/a.sock"]),
                server_started: false,
            }
        );
        // Subcommands and Lambda come first.
        assert_eq!(run_fd0(&["rwsgi", "--version"], &[], true), Mode::Version);
        assert_eq!(
            run_fd0(&["rwsgi"], &lambda, true),
            Mode::Lambda { args: vec![] }
        );
        assert_eq!(
            run_fd0(&["rwsgi", "cgi"], &[], true),
            Mode::Cgi {
                script: None,
                args: vec![]
            }
        );
    }

    #[test]
    fn the_table() {
        let lambda = [("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")];
        let cgi = [("GATEWAY_INTERFACE", "CGI/1.1")];
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], Mode);
        let cases: Vec<Case> = vec![
            (
                &["/usr/bin/rwsgi-call", "GET", "/"],
                &[],
                Mode::Call {
                    args: os(&["GET", "/"]),
                },
            ),
            (
                &["rwsgi-call", "/x"],
                &lambda,
                Mode::Call { args: os(&["/x"]) },
            ),
            (
                &["rwsgi", "call", "/x"],
                &cgi,
                Mode::Call { args: os(&["/x"]) },
            ),
            (
                &["rwsgi", "event", "e.json"],
                &[],
                Mode::Event {
                    args: os(&["e.json"]),
                },
            ),
            (&["rwsgi", "lambda"], &[], Mode::Lambda { args: vec![] }),
            (
                &["rwsgi", "cgi", "app.wsgi"],
                &[],
                Mode::Cgi {
                    script: Some("app.wsgi".into()),
                    args: os(&["app.wsgi"]),
                },
            ),
            (
                &["rwsgi", "cgi"],
                &[],
                Mode::Cgi {
                    script: None,
                    args: vec![],
                },
            ),
            (&["rwsgi"], &lambda, Mode::Lambda { args: vec![] }),
            (
                &["/var/task/bootstrap-rwsgi"],
                &[
                    ("AWS_LAMBDA_RUNTIME_API", "x"),
                    ("GATEWAY_INTERFACE", "CGI/1.1"),
                ],
                Mode::Lambda { args: vec![] },
            ),
            (
                &["rwsgi", "/srv/cgi-bin/app.wsgi"],
                &cgi,
                Mode::Cgi {
                    script: Some("/srv/cgi-bin/app.wsgi".into()),
                    args: os(&["/srv/cgi-bin/app.wsgi"]),
                },
            ),
            (
                &["rwsgi", "a+b"],
                &cgi,
                Mode::Cgi {
                    script: None,
                    args: os(&["a+b"]),
                },
            ),
            (
                &["rwsgi"],
                &cgi,
                Mode::Cgi {
                    script: None,
                    args: vec![],
                },
            ),
            (&["rwsgi", "--version"], &lambda, Mode::Version),
            (&["rwsgi", "-V"], &[], Mode::Version),
            (&["rwsgi", "--help"], &[], Mode::Help),
            (&["rwsgi"], &[], Mode::Usage { script: None }),
            (
                &["rwsgi"],
                &[("GATEWAY_INTERFACE", ""), ("AWS_LAMBDA_RUNTIME_API", "")],
                Mode::Usage { script: None },
            ),
            (
                &["rwsgi", "hello.wsgi"],
                &[],
                Mode::Usage {
                    script: Some("hello.wsgi".into()),
                },
            ),
            (&["rwsgi", "frobnicate"], &[], Mode::Usage { script: None }),
            (&[], &[], Mode::Usage { script: None }),
        ];
        for (argv, env, want) in cases {
            assert_eq!(run(argv, env), want, "{argv:?} {env:?}");
        }
    }
}
