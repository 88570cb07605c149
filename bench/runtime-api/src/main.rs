//! A fake Lambda Runtime API for benchmarks: it starts a runtime (any command), hands it the
//! same event N times over keep-alive HTTP/1.1, and reports the cold start (process start to the
//! first reply posted), warm invocations per second, the runtime's CPU time per warm invocation,
//! and its resident memory (now, and at its peak).
//!
//! Usage:
//!   bench-runtime-api --event FILE --count N [--env K=V ...] [--reply-out FILE]
//!                     [--timeout SECONDS] [--cpu N] -- COMMAND [ARGS...]
//!   bench-runtime-api --event FILE --count N [--cpu N] --self-client
//! Each invocation carries the headers Lambda sends in 2026, `Lambda-Runtime-Invocation-Id`
//! included, and the Extensions API's registration is served as on Lambda (an internal extension
//! adds a request to init); `--no-extensions` answers it 404, as a local emulator does.
//! `--self-client` drives the server with an in-process client that does nothing else, to show
//! the server's own ceiling. `--reply-out` saves the body of the first reply posted, so a caller
//! can check that the runtime answered what it should. `--cpu N` runs this server and the runtime
//! on that one CPU, as in a Lambda function of up to 1,769 MB, which has one vCPU shared by its
//! runtime and the Runtime API server; it also takes the placement of the two processes, and
//! the cost of waking one on another CPU, out of the numbers. Output: one JSON object on stdout:
//!   cold_ms                process start to the first reply posted
//!   warm_per_s             replies per second after the first one
//!   cpu_us_per_invocation  the runtime's CPU time (all threads) after the first reply, per reply
//!   init_cpu_ms            its CPU time up to the first reply
//!   rss_kb, hwm_kb         its resident set after the last reply, and its peak (VmHWM)
//!   errors                 replies posted as invocation errors
//!   reply_bytes            the mean size of a reply
//!   unechoed               replies that did not carry their invocation's id back
//!   extensions             extensions registered during init

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

struct Shared {
    event: Vec<u8>,
    count: usize,
    handed_out: AtomicUsize,
    /// When each reply arrived; the main thread waits on `progress` for the last one.
    replies: Mutex<Vec<Instant>>,
    progress: Condvar,
    errors: AtomicUsize,
    init_errors: AtomicUsize,
    bytes_in: AtomicUsize,
    /// The runtime's process id (0 for the self-client), to read its CPU time at the first reply.
    pid: AtomicU32,
    init_cpu_ns: Mutex<Option<u64>>,
    reply_out: Option<String>,
    /// Replies without `Lambda-Runtime-Invocation-Id`, or with another invocation's.
    unechoed: AtomicUsize,
    /// Serves the Extensions API (`--no-extensions` turns it off).
    extensions_api: bool,
    extensions: AtomicUsize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut event_path = None;
    let mut count = 1000usize;
    let mut envs: Vec<(String, String)> = Vec::new();
    let mut command: Vec<String> = Vec::new();
    let mut self_client = false;
    let mut extensions_api = true;
    let mut reply_out = None;
    let mut timeout = Duration::from_secs(600);
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--event" => {
                event_path = args.get(i + 1).cloned();
                i += 1;
            }
            "--count" => {
                count = match args.get(i + 1).and_then(|c| c.parse().ok()) {
                    Some(n) if n > 0 => n,
                    _ => fail("--count needs a positive number"),
                };
                i += 1;
            }
            "--env" => {
                match args.get(i + 1).and_then(|kv| kv.split_once('=')) {
                    Some((k, v)) => envs.push((k.to_string(), v.to_string())),
                    None => fail("--env needs NAME=VALUE"),
                }
                i += 1;
            }
            "--reply-out" => {
                reply_out = args.get(i + 1).cloned();
                i += 1;
            }
            "--timeout" => {
                match args.get(i + 1).and_then(|s| s.parse::<f64>().ok()) {
                    Some(s) if s > 0.0 => timeout = Duration::from_secs_f64(s),
                    _ => fail("--timeout needs a number of seconds"),
                }
                i += 1;
            }
            "--cpu" => {
                match args.get(i + 1).and_then(|s| s.parse::<usize>().ok()) {
                    Some(cpu) => pin_to_cpu(cpu),
                    None => fail("--cpu needs a CPU number"),
                }
                i += 1;
            }
            "--self-client" => self_client = true,
            "--no-extensions" => extensions_api = false,
            "--" => {
                command = args[i + 1..].to_vec();
                break;
            }
            other => fail(&format!("unknown argument {other}")),
        }
        i += 1;
    }
    let event = match event_path {
        Some(p) => std::fs::read(&p).unwrap_or_else(|e| fail(&format!("cannot read {p}: {e}"))),
        None => fail("--event FILE is required"),
    };
    if command.is_empty() && !self_client {
        fail("give a command after --, or --self-client");
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&e.to_string()));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let shared = Arc::new(Shared {
        event,
        count,
        handed_out: AtomicUsize::new(0),
        replies: Mutex::new(Vec::with_capacity(count)),
        progress: Condvar::new(),
        errors: AtomicUsize::new(0),
        init_errors: AtomicUsize::new(0),
        bytes_in: AtomicUsize::new(0),
        pid: AtomicU32::new(0),
        init_cpu_ns: Mutex::new(None),
        reply_out,
        unechoed: AtomicUsize::new(0),
        extensions_api,
        extensions: AtomicUsize::new(0),
    });
    {
        let shared = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
    }

    let start = Instant::now();
    let mut child: Option<Child> = None;
    if self_client {
        let address = format!("127.0.0.1:{port}");
        std::thread::spawn(move || do_nothing_client(&address));
    } else {
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..])
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        // SAFETY: prctl is async-signal-safe, and only it runs between fork and exec.
        // The runtime must not outlive this process, however this process ends (a benchmark
        // driver interrupted with ^C, a timeout): it is killed when this thread exits.
        unsafe {
            cmd.pre_exec(|| {
                die_with_parent();
                Ok(())
            });
        }
        let spawned = cmd
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start {}: {e}", command[0])));
        shared.pid.store(spawned.id(), Ordering::Relaxed);
        child = Some(spawned);
    }

    let deadline = start + timeout;
    let mut early_exit = None;
    {
        let mut replies = shared.replies.lock().unwrap_or_else(|e| e.into_inner());
        while replies.len() < count
            && Instant::now() < deadline
            && shared.init_errors.load(Ordering::Relaxed) == 0
        {
            if let Some(c) = child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                early_exit = Some(status);
                break;
            }
            // Woken by the last reply; the timeout serves to notice a runtime that died.
            replies = shared
                .progress
                .wait_timeout(replies, Duration::from_millis(20))
                .map(|(r, _)| r)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
    if let Some(status) = early_exit {
        fail(&format!("the runtime exited early: {status}"));
    }
    let pid = child.as_ref().map(|c| c.id());
    let rss_kb = pid.map(|p| status_kb(p, "VmRSS:")).unwrap_or(0);
    let hwm_kb = pid.map(|p| status_kb(p, "VmHWM:")).unwrap_or(0);
    let end_cpu_ns = pid.and_then(cpu_ns);
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    let replies = shared.replies.lock().map(|r| r.clone()).unwrap_or_default();
    if replies.len() < count {
        fail(&format!(
            "only {} of {count} replies arrived (init errors: {})",
            replies.len(),
            shared.init_errors.load(Ordering::Relaxed)
        ));
    }
    let cold_ms = replies[0].duration_since(start).as_secs_f64() * 1000.0;
    let warm = if replies.len() > 1 {
        let span = replies[replies.len() - 1]
            .duration_since(replies[0])
            .as_secs_f64();
        (replies.len() - 1) as f64 / span.max(1e-9)
    } else {
        0.0
    };
    let init_cpu_ns = shared.init_cpu_ns.lock().ok().and_then(|c| *c);
    let cpu_per_invocation_us = match (init_cpu_ns, end_cpu_ns) {
        (Some(a), Some(b)) if count > 1 => b.saturating_sub(a) as f64 / 1000.0 / (count - 1) as f64,
        _ => 0.0,
    };
    println!(
        "{{\"count\": {count}, \"cold_ms\": {cold_ms:.3}, \"warm_per_s\": {warm:.1}, \
         \"cpu_us_per_invocation\": {cpu_per_invocation_us:.2}, \"init_cpu_ms\": {:.2}, \
         \"rss_kb\": {rss_kb}, \"hwm_kb\": {hwm_kb}, \"errors\": {}, \"reply_bytes\": {}, \
         \"unechoed\": {}, \"extensions\": {}}}",
        init_cpu_ns.unwrap_or(0) as f64 / 1e6,
        shared.errors.load(Ordering::Relaxed),
        shared.bytes_in.load(Ordering::Relaxed) / count,
        shared.unechoed.load(Ordering::Relaxed),
        shared.extensions.load(Ordering::Relaxed),
    );
}

fn fail(message: &str) -> ! {
    eprintln!("bench-runtime-api: {message}");
    std::process::exit(1)
}

/// Binds this thread, and so every thread and process it starts from now on, to one CPU.
fn pin_to_cpu(cpu: usize) {
    unsafe extern "C" {
        fn sched_setaffinity(pid: i32, cpusetsize: usize, mask: *const u64) -> i32;
    }
    let mut mask = [0u64; 16];
    if cpu >= mask.len() * 64 {
        fail(&format!("no CPU {cpu}"));
    }
    mask[cpu / 64] |= 1 << (cpu % 64);
    // SAFETY: the mask is a live array of exactly the size passed.
    let status = unsafe { sched_setaffinity(0, std::mem::size_of_val(&mask), mask.as_ptr()) };
    if status != 0 {
        fail(&format!(
            "cannot run on CPU {cpu}: {}",
            std::io::Error::last_os_error()
        ));
    }
}

/// Asks the kernel to SIGKILL this (forked) process when the thread that forked it exits.
fn die_with_parent() {
    unsafe extern "C" {
        fn prctl(option: i32, ...) -> i32;
    }
    const PR_SET_PDEATHSIG: i32 = 1;
    const SIGKILL: u64 = 9;
    // SAFETY: PR_SET_PDEATHSIG takes one integer argument; nothing is dereferenced.
    unsafe {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    }
}

/// CPU time a process has used, all its threads together, in nanoseconds: the sum of the
/// threads' on-CPU times in /proc/PID/task/*/schedstat, which count nanoseconds, where clock
/// ticks (/proc/PID/stat) would only give 10 ms steps. Falls back to the ticks.
fn cpu_ns(pid: u32) -> Option<u64> {
    let from_schedstat = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .and_then(|tasks| {
            let mut total = 0u64;
            let mut any = false;
            for task in tasks.flatten() {
                let line = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
                total += line.split_whitespace().next()?.parse::<u64>().ok()?;
                any = true;
            }
            any.then_some(total)
        });
    from_schedstat.or_else(|| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces) start after the last ')'.
        let rest = stat.rsplit_once(')').map(|(_, r)| r)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
            .sum();
        // USER_HZ is 100 on Linux for /proc times.
        Some(ticks * 10_000_000)
    })
}

/// A `kB` line of /proc/PID/status (VmRSS, VmHWM), or 0 where that is not available.
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// One keep-alive connection: `/next` hands out the event until `count` have gone, then
/// holds the request open (as Lambda does between invocations); posts are counted.
fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    let mut line = String::new();
    let mut body = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length = 0usize;
        let mut invocation_id = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("lambda-runtime-invocation-id") {
                    invocation_id = Some(value.trim().to_string());
                }
            }
        }
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if path.starts_with("/2020-01-01/extension/") {
            if !shared.extensions_api {
                let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            } else if method == "POST" && path.ends_with("/register") {
                let n = shared.extensions.fetch_add(1, Ordering::Relaxed);
                let answer = br#"{"functionName":"bench","functionVersion":"$LATEST","handler":"app.handler"}"#;
                let mut message = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                     Lambda-Extension-Identifier: ext-{n}\r\nContent-Length: {}\r\n\r\n",
                    answer.len()
                )
                .into_bytes();
                message.extend_from_slice(answer);
                let _ = writer.write_all(&message);
            } else {
                // `/event/next` of an extension that asked for no events: never answered.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
        } else if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let n = shared.handed_out.fetch_add(1, Ordering::Relaxed);
            if n >= shared.count {
                // Nothing more to hand out: hold the long poll until the runtime is killed.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            }
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or(0);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-{n:012x}\r\n\
                 Lambda-Runtime-Invocation-Id: 5d1c2f0a-9b7e-4c3d-8e21-{n:012x}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n\
                 Content-Length: {}\r\n\r\n",
                shared.event.len()
            );
            // One write, one segment for small events: the head and the event together.
            let mut message = head.into_bytes();
            message.extend_from_slice(&shared.event);
            let _ = writer.write_all(&message);
        } else if method == "POST" {
            if path.ends_with("/init/error") {
                shared.init_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("init error: {}", String::from_utf8_lossy(&body));
                shared.progress.notify_all();
            } else {
                if path.ends_with("/error") {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                }
                // The reply's path ends `.../{request id}/response`; its invocation id must be
                // the one handed out with that request id (the same counter).
                let request_tail = path.rsplit('/').nth(1).and_then(|id| id.rsplit('-').next());
                if invocation_id.as_deref().and_then(|i| i.rsplit('-').next()) != request_tail {
                    shared.unechoed.fetch_add(1, Ordering::Relaxed);
                }
                shared.bytes_in.fetch_add(body.len(), Ordering::Relaxed);
                record_reply(shared, &body);
            }
            let _ = writer.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n",
            );
        } else {
            let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
}

/// Notes a reply's arrival; the first one also fixes the end of init for the CPU count and is
/// saved for `--reply-out`.
fn record_reply(shared: &Shared, body: &[u8]) {
    let now = Instant::now();
    let (first, last) = {
        let Ok(mut replies) = shared.replies.lock() else {
            return;
        };
        replies.push(now);
        (replies.len() == 1, replies.len() >= shared.count)
    };
    if first {
        let pid = shared.pid.load(Ordering::Relaxed);
        if pid != 0
            && let Ok(mut c) = shared.init_cpu_ns.lock()
        {
            *c = cpu_ns(pid);
        }
        if let Some(path) = &shared.reply_out
            && let Err(e) = std::fs::write(path, body)
        {
            eprintln!("bench-runtime-api: cannot write {path}: {e}");
        }
    }
    // Only the last reply wakes the main thread: waking it for each one would put a futex call
    // and two context switches into every invocation, on the CPU the runtime is measured on.
    if last {
        shared.progress.notify_all();
    }
}

/// A runtime that does no work: the server's ceiling.
fn do_nothing_client(address: &str) {
    let Ok(stream) = TcpStream::connect(address) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        if writer
            .write_all(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            .is_err()
        {
            return;
        }
        let (id, len) = read_head(&mut reader);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = b"{\"statusCode\":200,\"body\":\"\"}";
        let mut post = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        )
        .into_bytes();
        post.extend_from_slice(reply);
        if writer.write_all(&post).is_err() {
            return;
        }
        let (_, len) = read_head(&mut reader);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
    }
}

fn read_head(reader: &mut BufReader<TcpStream>) -> (String, usize) {
    let mut id = String::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            return (id, len);
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            } else if n.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                id = v.trim().to_string();
            }
        }
    }
}
