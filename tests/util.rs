//! Helpers shared by the integration tests: run the built `rwsgi` binary as `rwsgi call` against
//! the apps in `tests/apps/`, and read back what it printed.

// Each test binary (cli, frameworks) uses its own subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

/// The binary under test.
pub fn rwsgi_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rwsgi"))
}

/// `tests/apps`, the folder the small apps and the framework apps live in.
pub fn apps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("apps")
}

/// The crate's version, as `rwsgi --version` and the default User-Agent show it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Variables of the caller's environment that would change what rwsgi does; every run starts
/// without them, and a test that wants one sets it.
const CLEARED_ENV: &[&str] = &[
    "RWSGI_APP",
    "RWSGI_VENV",
    "RWSGI_PATH",
    "RWSGI_EVENT_HANDLER",
    "VIRTUAL_ENV",
    "AWS_LAMBDA_RUNTIME_API",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "GATEWAY_INTERFACE",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "DJANGO_SETTINGS_MODULE",
];

/// One run of the binary, built up and then started with [`Run::run`].
pub struct Run {
    program: PathBuf,
    args: Vec<OsString>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

/// `rwsgi call ARGS...`, run in `tests/apps` with no standard input.
pub fn call<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut run = rwsgi([OsString::from("call")]);
    run.args.extend(args.into_iter().map(Into::into));
    run
}

/// `rwsgi ARGS...` (no subcommand added), run in `tests/apps` with no standard input.
pub fn rwsgi<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    Run {
        program: rwsgi_bin(),
        args: args.into_iter().map(Into::into).collect(),
        cwd: apps_dir(),
        env: Vec::new(),
        stdin: None,
    }
}

impl Run {
    /// Runs another program (a link to the binary under another name) with the same setup.
    pub fn program(mut self, program: impl Into<PathBuf>) -> Run {
        self.program = program.into();
        self
    }

    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Run {
        self.cwd = cwd.into();
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Run {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Run {
        self.stdin = Some(data.into());
        self
    }

    pub fn run(self) -> Output {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in CLEARED_ENV {
            command.env_remove(key);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.stdin(if self.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let described = format!(
            "{} {:?} in {}",
            self.program.display(),
            self.args,
            self.cwd.display()
        );
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
        let writer = self.stdin.map(|data| {
            let mut pipe = child.stdin.take().expect("stdin is piped");
            // A thread, so that a child that writes much before reading cannot block both sides.
            std::thread::spawn(move || {
                // The child may exit without reading all of it; that is its business.
                let _ = pipe.write_all(&data);
            })
        });
        let output = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("cannot wait for {described}: {e}"));
        if let Some(writer) = writer {
            writer.join().expect("stdin writer thread");
        }
        Output {
            code: output.status.code(),
            stdout: output.stdout,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            described,
        }
    }
}

/// What one run printed and how it ended.
pub struct Output {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    described: String,
}

impl Output {
    /// Panics, showing everything the run printed, unless it exited with `code`.
    pub fn assert_code(&self, code: i32) -> &Output {
        assert_eq!(
            self.code,
            Some(code),
            "exit code of {}\n{}",
            self.described,
            self.dump()
        );
        self
    }

    pub fn assert_ok(&self) -> &Output {
        self.assert_code(0)
    }

    pub fn stdout_str(&self) -> &str {
        std::str::from_utf8(&self.stdout)
            .unwrap_or_else(|_| panic!("stdout is not UTF-8\n{}", self.dump()))
    }

    /// stdout parsed as JSON (echo.py's answer, or `--format json`).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.dump()))
    }

    /// Panics unless stderr contains `fragment`.
    pub fn assert_stderr_has(&self, fragment: &str) -> &Output {
        assert!(
            self.stderr.contains(fragment),
            "stderr of {} lacks {fragment:?}\n{}",
            self.described,
            self.dump()
        );
        self
    }

    /// Panics if stderr contains `fragment`.
    pub fn assert_stderr_lacks(&self, fragment: &str) -> &Output {
        assert!(
            !self.stderr.contains(fragment),
            "stderr of {} has {fragment:?}\n{}",
            self.described,
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
            "stderr of {} lacks {fragment:?} (in any case)\n{}",
            self.described,
            self.dump()
        );
        self
    }

    /// Panics unless stdout is exactly `expected`.
    pub fn assert_stdout(&self, expected: impl AsRef<[u8]>) -> &Output {
        let expected = expected.as_ref();
        assert!(
            self.stdout == expected,
            "stdout of {} differs\nexpected: {:?}\n{}",
            self.described,
            String::from_utf8_lossy(expected),
            self.dump()
        );
        self
    }

    /// The exit code, stdout and stderr, for failure messages.
    pub fn dump(&self) -> String {
        let mut stdout = String::from_utf8_lossy(&self.stdout).into_owned();
        if stdout.len() > 4000 {
            let mut cut = 4000;
            while !stdout.is_char_boundary(cut) {
                cut -= 1;
            }
            stdout.truncate(cut);
            stdout.push_str("...(cut)");
        }
        format!(
            "--- exit code: {:?}\n--- stdout:\n{stdout}\n--- stderr:\n{}",
            self.code, self.stderr
        )
    }

    /// Splits `-i/--include` output into the status line, the headers and the body.
    pub fn included(&self) -> Included {
        Included::parse(&self.stdout)
            .unwrap_or_else(|why| panic!("not a status line and headers: {why}\n{}", self.dump()))
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

/// Text whose characters are all below U+0100, turned back into the bytes they stand for. The
/// apps show bytes as latin-1 text (one character per byte), as PEP 3333 does for the environ.
pub fn latin1_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or_else(|_| panic!("{c:?} is not latin-1")))
        .collect()
}

/// Bytes shown as latin-1 text.
pub fn latin1_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
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
                "RWSGI_TEST_VENV is not set: the framework tests need a virtualenv with \
                 tests/requirements.txt installed. Run the project's test command, \
                 scripts/test, which makes one and sets RWSGI_TEST_VENV (or make one yourself \
                 and set RWSGI_TEST_VENV to its folder)."
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
