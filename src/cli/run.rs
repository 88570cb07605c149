//! One `rwsgi call`: the flags checked, the app loaded (or the `--via` front door made), the
//! request sent (again for each redirect with -L), and the transfer finished (`-o`, `-c`, `-w`).

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cookies::Jar;
use super::output::Output;
use super::redirect::resolve;
use super::transfer::{Fail, Transfer, json_response, lock, verbose_request};
use super::*;
use crate::error::{Error, Result};
use crate::http::{Request, ResponseSink};
use crate::python::Outcome;

/// Runs `rwsgi call` with its own arguments; returns the exit status.
pub(crate) fn main(argv: Vec<OsString>) -> Result<ExitStatus> {
    let args = match CallArgs::parse_named(command_name(), argv) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return Ok(if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Success
            });
        }
    };
    let quiet = args.silent && !args.show_error;
    // curl's `curl: (N) message`, under rwsgi's own prefix.
    let say = |exit: &Exit| {
        if !quiet {
            crate::log::plain(format!(
                "rwsgi: ({}) {}\n",
                exit.status.code(),
                exit.message
            ));
        }
    };
    let mut plan = match build_plan(&args, &mut io::stdin().lock()) {
        Ok(plan) => plan,
        Err(exit) if exit.status == ExitStatus::Usage => return Err(exit.into_error()),
        Err(exit) => {
            say(&exit);
            return Ok(exit.status);
        }
    };
    let spec_text = app_spec(&args)?;
    let jar = match cookies_in(&args) {
        Ok(jar) => jar,
        Err(exit) => {
            say(&exit);
            return Ok(exit.status);
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
    let mut sender = sender(&args, spec_text)?;

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
    let mut ended = send(&args, &mut plan, &transfer, &mut sender);
    let elapsed = started.elapsed();
    let mut t = lock(&transfer);
    finish(&args, &mut t, &mut ended, write_out_to.as_ref());
    if let Some(exit) = &ended.failure {
        say(exit);
    }
    if let Some(format) = &args.write_out {
        write_out(format, &t, &plan, &ended, elapsed, write_out_to);
    }
    Ok(ended.status)
}

/// Help and errors name the command as it was typed.
fn command_name() -> &'static str {
    match std::env::args_os()
        .next()
        .as_deref()
        .and_then(|a| Path::new(a).file_name())
    {
        Some(n) if n == "rwsgi-call" => "rwsgi-call",
        _ => "rwsgi call",
    }
}

/// The app's SPEC: `--app`, else `RWSGI_APP`.
fn app_spec(args: &CallArgs) -> Result<String> {
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
    Ok(spec_text)
}

/// What sends a request: the app itself, or the `--via` front door's translation around it.
type Sender = Box<dyn FnMut(Request, Arc<Mutex<Transfer>>) -> Outcome>;

fn sender(args: &CallArgs, spec_text: String) -> Result<Sender> {
    let sender: Sender = match args.via {
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
    Ok(sender)
}

/// How the transfer ended: the exit status, curl's failure if there was one, and how many
/// redirects were followed.
struct Ended {
    status: ExitStatus,
    failure: Option<Exit>,
    redirects: i64,
}

/// Sends the request, and the next one for each redirect that -L follows.
fn send(
    args: &CallArgs,
    plan: &mut Plan,
    transfer: &Arc<Mutex<Transfer>>,
    sender: &mut Sender,
) -> Ended {
    let fail = Fail::from_args(args);
    let mut redirects: i64 = 0;
    let mut failure: Option<Exit> = None;
    let mut status = ExitStatus::Success;
    loop {
        let request = {
            let t = lock(transfer);
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
            let mut t = lock(transfer);
            if args.verbose {
                crate::log::plain(verbose_request(&request));
            }
            t.begin(plan, &request);
        }
        let outcome = sender(request, transfer.clone());
        let mut t = lock(transfer);
        t.end_response();
        if let Some((stop_status, stop_failure)) = stopped(&mut t, outcome) {
            status = stop_status;
            failure = stop_failure;
            break;
        }
        let status = t.status();
        if let Some(location) = t.location.clone().filter(|_| t.following) {
            if args.max_redirs >= 0 && redirects >= args.max_redirs {
                failure = Some(Exit::new(
                    ExitStatus::TooManyRedirects,
                    format!("Maximum ({}) redirects followed", args.max_redirs),
                ));
                break;
            }
            if let Err(exit) = plan.redirect(args, status, &location) {
                failure = Some(exit);
                break;
            }
            redirects += 1;
            continue;
        }
        if fail != Fail::No && status >= 400 {
            failure = Some(Exit::new(
                ExitStatus::HttpError,
                format!("The requested URL returned error: {status}"),
            ));
        }
        break;
    }
    if let Some(exit) = &failure {
        status = exit.status;
    }
    Ended {
        status,
        failure,
        redirects,
    }
}

/// Why a response ended the transfer before its status was looked at: the exit status and
/// curl's failure, if any. `None` when the app answered in full.
fn stopped(t: &mut Transfer, outcome: Outcome) -> Option<(ExitStatus, Option<Exit>)> {
    if let Some(message) = t.decode_error.take() {
        let exit = Exit::new(ExitStatus::BadContentEncoding, message);
        return Some((exit.status, Some(exit)));
    }
    if let Some(e) = t.write_error.take() {
        let exit = write_failure(&e);
        return Some((exit.status, Some(exit)));
    }
    match outcome {
        Outcome::Complete => None,
        Outcome::FailedBeforeHeaders | Outcome::FailedAfterHeaders => {
            Some((ExitStatus::Failure, None))
        }
        Outcome::SinkFailed(e) => {
            let exit = write_failure(&e);
            Some((exit.status, Some(exit)))
        }
        Outcome::Interrupted => Some((ExitStatus::Interrupted, None)),
    }
}

/// Ends the transfer: `--format json` printed, the `-o` file put in place (or left alone) and
/// the cookie jar (-c) saved.
fn finish(args: &CallArgs, t: &mut Transfer, ended: &mut Ended, write_out_to: Option<&File>) {
    let fail = t.fail;
    if t.json
        && let Some(head) = t.head.clone()
        && !(fail == Fail::Silent && head.status.code >= 400)
        && matches!(
            ended.status,
            ExitStatus::Success | ExitStatus::HttpError | ExitStatus::Failure
        )
    {
        let mut text = json_response(&head, &t.body);
        text.push('\n');
        if let Err(e) = t.out.write(text.as_bytes()) {
            ended.failure = Some(write_failure(&e));
            ended.status = ExitStatus::WriteError;
        }
    }
    // -o FILE takes the place of the old file only when the transfer worked: `-f` and a failed
    // app leave what was there (curl leaves it as well, and creates nothing).
    let keep = ended.status.is_success()
        || (ended.status == ExitStatus::HttpError && fail == Fail::WithBody);
    if let Err(e) = t.out.finish(keep)
        && ended.failure.is_none()
    {
        ended.failure = Some(write_failure(&e));
        ended.status = ExitStatus::WriteError;
    }
    if let (Some(path), Some(jar)) = (&args.cookie_jar, &t.jar) {
        // `-c -` is stdout, as with curl (the response's own stdout: fd 1 is stderr by now).
        let saved = match (path == Path::new("-"), write_out_to) {
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
}

/// `-w FORMAT`: written after everything else, as curl writes it.
fn write_out(
    format: &str,
    t: &Transfer,
    plan: &Plan,
    ended: &Ended,
    elapsed: Duration,
    write_out_to: Option<File>,
) {
    let info = writeout::Info {
        head: t.head.as_ref(),
        url: plan.url(),
        method: plan.method.clone(),
        size_download: t.size_download,
        size_header: t.size_header,
        size_upload: plan.body.as_ref().map_or(0, |b| b.len() as u64),
        num_redirects: ended.redirects as u64,
        // The redirect that was not followed: without -L, or past --max-redirs.
        redirect_url: t
            .location
            .clone()
            .filter(|_| !t.following || ended.status == ExitStatus::TooManyRedirects)
            .and_then(|l| resolve(&plan.url(), &l).ok()),
        time_total: elapsed.as_secs_f64(),
        exitcode: ended.status.code(),
        errormsg: ended
            .failure
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
            crate::log::plain(&to_stderr);
        }
        Err(e) => crate::log::warn(&e),
    }
}

fn write_failure(e: &io::Error) -> Exit {
    Exit::new(
        ExitStatus::WriteError,
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
                    ExitStatus::ReadError,
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
