//! A child process that runs until a test ends it (the Lambda runtime loop, a `make` or a
//! bootstrap under test), with its standard output and error drained into memory all along, so
//! that a chatty process never blocks on a full pipe and the test can read what it printed so
//! far. It is killed (with its process group, when it has one of its own) when dropped, so no
//! test leaves one behind, passing or failing.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct Captured {
    pub child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    /// Started as the leader of a process group of its own, which is killed with it.
    group: bool,
}

impl Captured {
    /// Starts `command` with no standard input and both outputs captured.
    pub fn start(command: &mut Command, what: &str) -> Captured {
        Captured::spawn(command, what, false)
    }

    /// As [`Captured::start`], in a process group of its own, so that ending it also ends
    /// what it started (make's shell and pip, a bootstrap's curl).
    pub fn start_group(command: &mut Command, what: &str) -> Captured {
        std::os::unix::process::CommandExt::process_group(command, 0);
        Captured::spawn(command, what, true)
    }

    fn spawn(command: &mut Command, what: &str, group: bool) -> Captured {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().expect("piped stdout"), stdout.clone()),
            drain(child.stderr.take().expect("piped stderr"), stderr.clone()),
        ];
        Captured {
            child,
            stdout,
            stderr,
            readers,
            group,
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("poll a child").is_none()
    }

    /// stderr once `check` holds for it, or `Err` with what it held after `limit`: the pipe is
    /// read by another thread, so a line written just before something the test saw (a posted
    /// result) may arrive a moment after it.
    pub fn wait_stderr(
        &self,
        limit: Duration,
        check: impl Fn(&str) -> bool,
    ) -> Result<String, String> {
        let end = Instant::now() + limit;
        loop {
            let text = self.stderr();
            if check(&text) {
                return Ok(text);
            }
            if Instant::now() >= end {
                return Err(text);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The exit status once the process ends, with its output complete; `None` when it had not
    /// ended after `limit`, and was killed.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll a child") {
                // The output is complete once both pipes reach their end.
                for reader in std::mem::take(&mut self.readers) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() >= end {
                self.end();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills it (and its group); its output so far stays readable.
    fn end(&mut self) {
        if self.group
            && let Ok(None) = self.child.try_wait()
        {
            // Until the child is reaped its id cannot be reused, so the group signalled is its
            // own.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        self.end();
        for reader in std::mem::take(&mut self.readers) {
            let _ = reader.join();
        }
    }
}

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
