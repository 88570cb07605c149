//! The one harness of the integration tests: start the built `rwsgi` (or another program) with
//! a clean environment and a time limit, capture what it prints, and read it back.
//!
//! Every run starts from a clean environment (only `PATH`, plus what the test sets), in
//! `tests/apps` unless the test says otherwise, so nothing of the caller's environment changes
//! what rwsgi does. Every wait is bounded: a process that outlives its limit is killed and the
//! test fails showing what it printed, so a hang is a failure, never a stuck test run. A
//! process that runs until the test ends it ([`Cmd::spawn`]) has its output drained into memory
//! all along and is killed (with its process group, when it has one of its own) when dropped,
//! so no test leaves one behind, passing or failing.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rwsgi::testing::http::latin1_string;
use serde_json::Value;

/// The longest a single run, or a wait for a condition, may take: far beyond what a working
/// rwsgi needs, there so that a broken one fails instead of hanging.
pub const LIMIT: Duration = Duration::from_secs(30);

/// The search path every run gets unless the test sets another: enough for `/usr/bin/env`, the
/// shell, `echo` and `env`.
pub const SYSTEM_PATH: &str = "/usr/bin:/bin";

/// The crate's version, as `rwsgi --version` and the default User-Agent show it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The binary under test.
pub fn rwsgi_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rwsgi"))
}

/// `tests/apps`, the folder the small apps and the framework apps live in, and where every run
/// starts unless the test says otherwise.
pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

/// Polls `check` until it gives a value or `limit` passes (`None`): the way a test waits for
/// something another process or thread does, instead of sleeping a fixed time.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One run of a program, built up and then started with [`Cmd::run`], [`Cmd::spawn`] or
/// [`Cmd::spawn_piped`].
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    group: bool,
}

/// `rwsgi ARGS...` (no subcommand added).
pub fn rwsgi<I, S>(args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    program(rwsgi_bin(), args)
}

/// `rwsgi call ARGS...`.
pub fn call<I, S>(args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut cmd = rwsgi([OsString::from("call")]);
    cmd.args.extend(args.into_iter().map(Into::into));
    cmd
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
        cwd: apps_dir(),
        env: vec![("PATH".into(), SYSTEM_PATH.into())],
        stdin: None,
        group: false,
    }
}

impl Cmd {
    /// Runs another program (a link to the binary under another name) with the same setup.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Cmd {
        self.program = program.into();
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Cmd {
        self.cwd = cwd.into();
        self
    }

    /// Sets (or replaces) one environment variable; names and values may be any bytes.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cmd {
        let key = key.into();
        self.env.retain(|(k, _)| *k != key);
        self.env.push((key, value.into()));
        self
    }

    /// Leaves out the variables whose names `unwanted` picks (set here before).
    pub fn env_remove_where(mut self, unwanted: impl Fn(&std::ffi::OsStr) -> bool) -> Cmd {
        self.env.retain(|(k, _)| !unwanted(k));
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(data.into());
        self
    }

    /// Starts it as the leader of a process group of its own, so that ending it also ends what
    /// it started (the workers rwsgi forks).
    pub fn group(mut self) -> Cmd {
        self.group = true;
        self
    }

    fn describe(&self) -> String {
        format!(
            "{} {:?} in {}",
            self.program.display(),
            self.args,
            self.cwd.display()
        )
    }

    fn command(&self) -> Command {
        use std::os::unix::process::CommandExt as _;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd);
        // A suite started in the background (`scripts/test &`, some CI runners) has SIGINT and
        // SIGQUIT ignored, and an ignored signal stays ignored across exec (POSIX), which Python
        // then respects. Every program under test starts with them at their defaults instead,
        // as from a terminal, so that the tests see the same process whoever started the suite.
        // SAFETY: signal(2) is async-signal-safe, as a pre_exec hook must be; it touches only
        // the child's dispositions, between fork and exec.
        unsafe {
            command.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGQUIT, libc::SIG_DFL);
                Ok(())
            });
        }
        command
    }

    /// Runs to the end and returns what it printed; kills it and fails the test when it runs
    /// past its limit.
    pub fn run(self) -> Output {
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
        let mut child = spawn(&mut command, &what);
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
        let deadline = started + LIMIT;
        let status = wait_until(&mut child, deadline);
        // A moment more for the output of a process that was just killed.
        let grace = left(deadline).max(Duration::from_secs(1));
        let stdout = stdout.recv_timeout(grace).unwrap_or_default();
        let stderr = stderr.recv_timeout(grace).unwrap_or_default();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        let output = Output {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            stdout,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed: started.elapsed(),
            what,
        };
        assert!(
            status.is_some(),
            "killed after {LIMIT:?}: it did not end\n{}",
            output.dump()
        );
        output
    }

    /// Starts it with no standard input and its output drained all along, for a process that
    /// runs until the test stops it (the Lambda runtime loop).
    pub fn spawn(self) -> Running {
        let what = self.describe();
        let mut command = self.command();
        command.stdin(Stdio::null());
        Running::start(&what, command, self.group)
    }

    /// Starts it with stdin, stdout and stderr all piped and handed to the test, which must
    /// end it with [`Piped::wait_bounded`] (or let [`Piped`]'s drop kill it).
    pub fn spawn_piped(self) -> Piped {
        let what = self.describe();
        let mut command = self.command();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = spawn(&mut command, &what);
        Piped { child, what }
    }
}

/// Starts `command`, retrying while the program is "text file busy": a script written by this
/// test process can be held open for writing for a moment by a child that another test thread
/// forked meanwhile (the descriptor closes only when that child calls exec).
fn spawn(command: &mut Command, what: &str) -> Child {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Ok(child) => return child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot start {what}: {e}"),
        }
    }
}

fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Polls until the child exits or the deadline passes (then kills it and returns `None`).
fn wait_until(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
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

/// Appends what `pipe` gives to `into` until its end, on a thread.
fn drain(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 16 * 1024];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    })
}

/// Text cut to its first 4000 bytes, for failure messages.
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

/// What a run printed and how it ended.
pub struct Output {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
    what: String,
}

impl Output {
    /// The exit code, the signal, stdout and stderr, for failure messages.
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

    /// Panics, showing everything the run printed, unless it exited with `code`, and never
    /// with a panic message.
    pub fn assert_code(&self, code: i32) -> &Output {
        assert_eq!(self.code, Some(code), "exit code\n{}", self.dump());
        assert!(
            !self.stderr.contains("panicked"),
            "rwsgi panicked\n{}",
            self.dump()
        );
        self
    }

    pub fn assert_ok(&self) -> &Output {
        self.assert_code(0)
    }

    /// Panics unless stdout is exactly `expected`.
    pub fn assert_stdout(&self, expected: impl AsRef<[u8]>) -> &Output {
        let expected = expected.as_ref();
        assert!(
            self.stdout == expected,
            "stdout differs\nexpected: {:?}\n     got: {:?}\n{}",
            latin1_string(expected),
            latin1_string(&self.stdout),
            self.dump()
        );
        self
    }

    /// Panics unless stderr contains `fragment`.
    pub fn assert_stderr_has(&self, fragment: &str) -> &Output {
        assert!(
            self.stderr.contains(fragment),
            "stderr lacks {fragment:?}\n{}",
            self.dump()
        );
        self
    }

    /// Panics if stderr contains `fragment`.
    pub fn assert_stderr_lacks(&self, fragment: &str) -> &Output {
        assert!(
            !self.stderr.contains(fragment),
            "stderr has {fragment:?}\n{}",
            self.dump()
        );
        self
    }

    pub fn assert_stderr_empty(&self) -> &Output {
        assert!(
            self.stderr.is_empty(),
            "stderr is not empty\n{}",
            self.dump()
        );
        self
    }

    /// Panics unless stderr contains `fragment`, compared without regard to case.
    pub fn assert_stderr_has_nocase(&self, fragment: &str) -> &Output {
        assert!(
            self.stderr
                .to_lowercase()
                .contains(&fragment.to_lowercase()),
            "stderr lacks {fragment:?} (in any case)\n{}",
            self.dump()
        );
        self
    }

    /// The lines rwsgi itself wrote (its own prefix), without the app's output or tracebacks.
    pub fn rwsgi_lines(&self) -> Vec<&str> {
        rwsgi_lines(&self.stderr)
    }

    /// Panics unless rwsgi wrote exactly these lines of its own (prefix and all).
    pub fn assert_rwsgi_said(&self, lines: &[&str]) -> &Output {
        assert_eq!(self.rwsgi_lines(), lines, "{}", self.dump());
        self
    }

    pub fn stdout_str(&self) -> &str {
        std::str::from_utf8(&self.stdout)
            .unwrap_or_else(|_| panic!("stdout is not UTF-8\n{}", self.dump()))
    }

    /// stdout parsed as JSON (echo.py's answer, a Lambda reply, or `--format json`).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.dump()))
    }

    /// Splits `-i/--include` output into the status line, the headers and the body.
    pub fn included(&self) -> Included {
        Included::parse(&self.stdout)
            .unwrap_or_else(|why| panic!("not a status line and headers: {why}\n{}", self.dump()))
    }
}

/// The lines of `stderr` that rwsgi itself wrote.
pub fn rwsgi_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("rwsgi: "))
        .collect()
}

/// The resident set size of process `pid`, from `/proc/<pid>/status` (`VmRSS`), in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in {path}:\n{text}"))
}

/// A process whose pipes the test drives itself.
pub struct Piped {
    pub child: Child,
    pub what: String,
}

impl Piped {
    /// Waits up to `limit` for the exit; kills it and fails the test when it does not end.
    /// Returns the exit status and how long the wait took.
    pub fn wait_bounded(&mut self, limit: Duration) -> (ExitStatus, Duration) {
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

/// A process that runs until the test ends it, its output drained into memory all along, so
/// that a chatty process never blocks on a full pipe and the test can read what it printed so
/// far; killed (with its group, when it has one) when dropped.
pub struct Running {
    // Behind a lock so that whoever holds a shared reference can ask whether it still runs.
    child: Mutex<Child>,
    pid: u32,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    group: bool,
    what: String,
    started: Instant,
}

impl Running {
    /// Starts `command` with both outputs drained (its standard input is the caller's choice:
    /// nothing, or a listening socket); `group` makes it the
    /// leader of a process group of its own, ended with it. For a command a test builds
    /// itself, with more of [`Command`] than [`Cmd`] offers (a `make` that keeps the caller's
    /// environment); [`Cmd::spawn`] is the usual way.
    pub fn start(what: &str, mut command: Command, group: bool) -> Running {
        if group {
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = spawn(&mut command, what);
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().expect("piped stdout"), stdout.clone()),
            drain(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Running {
            pid: child.id(),
            child: Mutex::new(child),
            stdout,
            stderr,
            readers,
            group,
            what: what.to_string(),
            started,
        }
    }

    /// Waits up to `limit` for the process to end and returns what it printed; kills it and
    /// fails the test when it does not end.
    pub fn finish(mut self, limit: Duration) -> Output {
        let Some(status) = self.wait_status(limit) else {
            panic!("it did not end within {limit:?}\n{}", self.dump());
        };
        Output {
            code: status.code(),
            signal: std::os::unix::process::ExitStatusExt::signal(&status),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr(),
            elapsed: self.started.elapsed(),
            what: self.what.clone(),
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Everything it wrote so far, stdout then stderr, for a test that looks for a line in
    /// either (a server's log).
    pub fn output(&self) -> String {
        self.stdout() + &self.stderr()
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
        self.pid
    }

    /// Whether the process is still running.
    pub fn running(&self) -> bool {
        self.lock_child()
            .try_wait()
            .expect("poll a child")
            .is_none()
    }

    fn lock_child(&self) -> std::sync::MutexGuard<'_, Child> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn child(&mut self) -> &mut Child {
        self.child.get_mut().unwrap_or_else(|p| p.into_inner())
    }

    /// stdout once `check` holds for it, waiting up to [`LIMIT`].
    pub fn wait_stdout(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        wait_for(LIMIT, || {
            let text = self.stdout();
            check(&text).then_some(text)
        })
        .unwrap_or_else(|| panic!("stdout lacks {what} after {LIMIT:?}\n{}", self.dump()))
    }

    /// stderr once `check` holds for it, waiting up to [`LIMIT`]: the pipe is read by another
    /// thread, so a line written before something the test saw (a posted result) may arrive a
    /// moment after it.
    pub fn wait_stderr(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        wait_for(LIMIT, || {
            let text = self.stderr();
            check(&text).then_some(text)
        })
        .unwrap_or_else(|| panic!("stderr lacks {what} after {LIMIT:?}\n{}", self.dump()))
    }

    /// The exit status once the process ends, with its output complete; `None` when it had not
    /// ended after `limit`, and was killed.
    pub fn wait_status(&mut self, limit: Duration) -> Option<ExitStatus> {
        match wait_until(self.child(), Instant::now() + limit) {
            Some(status) => {
                self.join_readers();
                Some(status)
            }
            None => {
                self.end();
                None
            }
        }
    }

    /// The exit code, waiting up to `limit`; kills the process and fails the test when it does
    /// not end in time.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        match self.wait_status(limit) {
            Some(status) => status.code(),
            None => panic!("it did not exit within {limit:?}\n{}", self.dump()),
        }
    }

    /// The resident set size of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }

    /// Waits for the output to be complete: both pipes at their end. A process it started that
    /// outlives it (a forked worker) may hold them open; after a second, what came is what
    /// there is.
    fn join_readers(&mut self) {
        wait_for(Duration::from_secs(1), || {
            self.readers
                .iter()
                .all(JoinHandle::is_finished)
                .then_some(())
        });
        for reader in std::mem::take(&mut self.readers) {
            if reader.is_finished() {
                let _ = reader.join();
            }
        }
    }

    /// Kills it (and its group); its output so far stays readable.
    fn end(&mut self) {
        if self.group
            && let Ok(None) = self.child().try_wait()
        {
            // Until the child is reaped its id cannot be reused, so the group signalled is its
            // own.
            // SAFETY: kill(2) with a negated process-group id has no memory effects; the group
            // is the one this process started and has not reaped.
            unsafe { libc::kill(-(self.pid as libc::pid_t), libc::SIGKILL) };
        }
        let child = self.child();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.end();
        self.join_readers();
    }
}

/// A response as `-i/--include` prints it: `HTTP/1.1 200 OK\r\n`, `Name: value\r\n` lines,
/// `\r\n`, then the body.
#[derive(Debug)]
pub struct Included {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Included {
    pub fn parse(raw: &[u8]) -> Result<Included, String> {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("no blank line (CRLF CRLF) after the headers")?;
        let head = std::str::from_utf8(&raw[..end]).map_err(|e| e.to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(": ")
                .ok_or_else(|| format!("header line without ': ': {line:?}"))?;
            headers.push((name.to_string(), value.to_string()));
        }
        Ok(Included {
            status_line,
            headers,
            body: raw[end + 4..].to_vec(),
        })
    }

    /// Every value of the header `name` (compared without regard to case), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The one value of the header `name`; panics when it is missing or repeated.
    pub fn one(&self, name: &str) -> &str {
        match self.all(name).as_slice() {
            [value] => value,
            other => panic!("expected one {name} header, found {other:?} in {self:?}"),
        }
    }
}

/// The SHA-256 of `data` in hex, from coreutils' `sha256sum` (a program rwsgi did not write).
pub fn sha256_hex(data: &[u8]) -> String {
    let out = program("sha256sum", Vec::<String>::new()).stdin(data).run();
    out.assert_ok();
    out.stdout_str()
        .split_whitespace()
        .next()
        .expect("a sha256sum line")
        .to_string()
}

/// Text whose characters are all below U+0100, turned back into the bytes they stand for. The
/// apps show bytes as latin-1 text (one character per byte), as PEP 3333 does for the environ.
/// Unlike `rwsgi::testing::http::latin1_bytes`, which rwsgi gives only latin-1 text, it fails the test
/// on any other character rather than keep its low byte: an app's answer is what is checked.
pub fn latin1_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or_else(|_| panic!("{c:?} is not latin-1")))
        .collect()
}

/// A new empty folder under Cargo's temporary folder for integration tests, unique to this
/// process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("remove an old temporary folder");
    }
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// A path for a new file under Cargo's temporary folder for integration tests, unique to this
/// process and `name`; nothing is there yet.
pub fn temp_path(name: &str) -> PathBuf {
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let path =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A new empty folder, removed with everything in it when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Under `base`, unique to this process and `name`, without symbolic links in its path.
    pub fn new_in(base: &Path, name: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("rwsgi-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary folder");
        TempDir(path.canonicalize().expect("canonical temporary folder"))
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `contents` to `dir/name` and returns the file's path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create a folder");
    }
    std::fs::write(&path, contents).expect("write a test file");
    path
}

/// The virtualenv with `tests/requirements.txt` installed, from `RWSGI_TEST_VENV`. Without it
/// the framework tests cannot run, and they fail rather than pass unseen.
pub fn test_venv() -> PathBuf {
    let venv = std::env::var_os("RWSGI_TEST_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "RWSGI_TEST_VENV is not set: the framework and Lambda emulator tests need a \
                 virtualenv with tests/requirements.txt installed (Flask, Django, cargo-lambda, \
                 the Runtime API emulator). Run the project's test command, scripts/test, \
                 which makes one and sets RWSGI_TEST_VENV (or make one yourself and set \
                 RWSGI_TEST_VENV to its folder)."
            )
        });
    assert!(
        venv.join("pyvenv.cfg").is_file(),
        "RWSGI_TEST_VENV={} is not a virtualenv (it has no pyvenv.cfg); run scripts/test",
        venv.display()
    );
    venv
}

/// The `MAJOR.MINOR` of the Python the binary embeds, from `rwsgi --version` (which says, for
/// example, `Python 3.11.7`).
pub fn embedded_python_minor() -> String {
    let out = rwsgi(["--version"]).run();
    out.assert_ok();
    let text = out.stdout_str();
    let version = text
        .split("Python ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no 'Python X.Y.Z' in --version output\n{}", out.dump()));
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => panic!("cannot read the Python version {version:?}"),
    }
}
