//! Runs the built `rwsgi` for the reliability tests (faults, soak, security) with every wait
//! bounded: a process that outlives its limit is killed and the test fails showing what it
//! printed, so a hang is a failure, never a stuck test run.
//!
//! Each run starts from a clean environment (only `PATH`, plus what the test sets), in
//! `tests/apps`, so nothing of the caller's environment changes what rwsgi does.

// Each test binary (faults, soak, security) uses its own subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::captured::Captured;

/// The longest a single run may take: far beyond what a working rwsgi needs, there so that a
/// broken one fails instead of hanging.
pub const LIMIT: Duration = Duration::from_secs(30);

/// `tests/apps`, where the test apps live and where every run starts.
pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

pub fn rwsgi_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rwsgi"))
}

/// The search path every run gets: enough for `/usr/bin/env` and the shell.
pub const SYSTEM_PATH: &str = "/usr/bin:/bin";

/// One run of a program, built up and then started with [`Cmd::run`] or [`Cmd::spawn`].
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    limit: Duration,
}

/// `rwsgi ARGS...` with a clean environment, run in `tests/apps`.
pub fn rwsgi<I, S>(args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    program(rwsgi_bin(), args)
}

/// Any program, set up as [`rwsgi`] is.
pub fn program<I, S>(path: impl Into<PathBuf>, args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    Cmd {
        program: path.into(),
        args: args.into_iter().map(Into::into).collect(),
        env: vec![("PATH".into(), SYSTEM_PATH.into())],
        stdin: None,
        limit: LIMIT,
    }
}

impl Cmd {
    /// Sets (or replaces) one environment variable; names and values may be any bytes.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cmd {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(data.into());
        self
    }

    pub fn limit(mut self, limit: Duration) -> Cmd {
        self.limit = limit;
        self
    }

    fn describe(&self) -> String {
        format!("{} {:?}", self.program.display(), self.args)
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(apps_dir());
        command
    }

    /// Runs to the end and returns what it printed; kills it and fails the test when it runs
    /// past its limit.
    pub fn run(self) -> Finished {
        let what = self.describe();
        let started = Instant::now();
        let mut command = self.command();
        command
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        // A thread, so that a child that answers before reading all its input cannot block
        // both sides; a child that exits without reading it all closes the pipe, which is fine.
        let writer = self.stdin.map(|data| {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            })
        });
        let stdout = collect(child.stdout.take().expect("piped stdout"));
        let stderr = collect(child.stderr.take().expect("piped stderr"));
        let deadline = started + self.limit;
        let status = wait_until(&mut child, deadline);
        // A moment more for the output of a process that was just killed.
        let grace = left(deadline).max(Duration::from_secs(1));
        let stdout = stdout.recv_timeout(grace).unwrap_or_default();
        let stderr = stderr.recv_timeout(grace).unwrap_or_default();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let finished = Finished {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed: started.elapsed(),
            what,
        };
        assert!(
            status.is_some(),
            "killed after {:?}: it did not end\n{}",
            self.limit,
            finished.dump()
        );
        finished
    }

    /// Starts it with its output drained all along, for a process that runs until the test
    /// stops it (the Lambda runtime loop).
    pub fn spawn(self) -> Running {
        let what = self.describe();
        Running {
            process: Captured::start(&mut self.command(), &what),
            what,
        }
    }

    /// Starts it with stdin, stdout and stderr all piped and handed to the test, which must
    /// end it with [`wait_bounded`] (or let [`Piped`]'s drop kill it).
    pub fn spawn_piped(self) -> Piped {
        let what = self.describe();
        let mut command = self.command();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Piped { child, what }
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Polls until the child exits or the deadline passes (then kills it and returns `None`).
fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads a pipe to its end on a thread and hands the bytes over a channel, so the wait for
/// them can be bounded too (a grandchild holding the pipe open must not hang the test).
fn collect(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (send, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let _ = pipe.read_to_end(&mut all);
        let _ = send.send(all);
    });
    receive
}

/// What a run printed and how it ended.
pub struct Finished {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
    what: String,
}

impl Finished {
    pub fn dump(&self) -> String {
        format!(
            "--- {}\n--- exit code {:?}, signal {:?}, after {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what,
            self.code,
            self.signal,
            self.elapsed,
            shorten(&String::from_utf8_lossy(&self.stdout)),
            self.stderr
        )
    }

    /// The lines rwsgi itself wrote (its own prefix), without the app's output or tracebacks.
    pub fn rwsgi_lines(&self) -> Vec<&str> {
        rwsgi_lines(&self.stderr)
    }

    /// Fails unless it exited with `code`, and never with a panic message.
    pub fn exited(&self, code: i32) -> &Finished {
        assert_eq!(self.code, Some(code), "exit code\n{}", self.dump());
        self.no_panic()
    }

    pub fn no_panic(&self) -> &Finished {
        assert!(
            !self.stderr.contains("panicked"),
            "rwsgi panicked\n{}",
            self.dump()
        );
        self
    }

    pub fn stdout_is(&self, expected: &[u8]) -> &Finished {
        assert!(
            self.stdout == expected,
            "stdout differs\nexpected: {:?}\n{}",
            String::from_utf8_lossy(expected),
            self.dump()
        );
        self
    }

    pub fn stderr_has(&self, fragment: &str) -> &Finished {
        assert!(
            self.stderr.contains(fragment),
            "stderr lacks {fragment:?}\n{}",
            self.dump()
        );
        self
    }

    /// Fails unless rwsgi wrote exactly these lines of its own (prefix and all).
    pub fn rwsgi_said(&self, lines: &[&str]) -> &Finished {
        assert_eq!(self.rwsgi_lines(), lines, "{}", self.dump());
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.dump()))
    }
}

/// The lines of `stderr` that rwsgi itself wrote.
pub fn rwsgi_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("rwsgi: "))
        .collect()
}

fn shorten(text: &str) -> String {
    if text.len() <= 4000 {
        return text.to_string();
    }
    let mut cut = 4000;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...(cut)", &text[..cut])
}

/// A process whose pipes the test drives itself.
pub struct Piped {
    pub child: Child,
    pub what: String,
}

impl Piped {
    /// Waits up to `limit` for the exit; kills it and fails the test when it does not end.
    /// Returns the exit status and how long the wait took.
    pub fn wait_bounded(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let started = Instant::now();
        match wait_until(&mut self.child, started + limit) {
            Some(status) => (status, started.elapsed()),
            None => panic!("{} did not end within {limit:?}; killed it", self.what),
        }
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process that runs until the test ends it; killed when dropped, so none is left behind.
pub struct Running {
    process: Captured,
    what: String,
}

impl Running {
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }

    pub fn stdout(&self) -> String {
        self.process.stdout()
    }

    pub fn dump(&self) -> String {
        format!(
            "--- {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.what,
            shorten(&self.stdout()),
            shorten(&self.stderr())
        )
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.process.running()
    }

    /// stderr once `check` holds for it, waiting up to [`LIMIT`]: the pipe is read by another
    /// thread, so a line written before a result was posted may arrive a moment after it.
    pub fn wait_stderr(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.process
            .wait_stderr(LIMIT, check)
            .unwrap_or_else(|_| panic!("stderr lacks {what} after {LIMIT:?}\n{}", self.dump()))
    }

    /// The exit code, waiting up to `limit`; kills the process and fails the test when it does
    /// not end in time.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        match self.process.wait_exit(limit) {
            Some(status) => status.code(),
            None => panic!("rwsgi did not exit within {limit:?}\n{}", self.dump()),
        }
    }

    /// The resident set size of the process, from `/proc/<pid>/status` (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let path = format!("/proc/{}/status", self.pid());
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        text.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no VmRSS in {path}:\n{text}"))
    }
}
