//! A fake Lambda Runtime API for benchmarks: it starts a runtime (any command), hands it the
//! same event N times over keep-alive HTTP/1.1, and reports the cold start (process start to the
//! first reply posted), warm invocations per second, and the runtime's resident memory.
//!
//! Usage:
//!   bench-runtime-api --event FILE --count N [--env K=V ...] -- COMMAND [ARGS...]
//!   bench-runtime-api --event FILE --count N --self-client
//! `--self-client` drives the server with an in-process client that does nothing else, to show
//! the server's own ceiling. Output: one JSON object on stdout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Shared {
    event: Vec<u8>,
    count: usize,
    handed_out: AtomicUsize,
    replies: Mutex<Vec<Instant>>,
    errors: AtomicUsize,
    init_errors: AtomicUsize,
    bytes_in: AtomicUsize,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut event_path = None;
    let mut count = 1000usize;
    let mut envs: Vec<(String, String)> = Vec::new();
    let mut command: Vec<String> = Vec::new();
    let mut self_client = false;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--event" => {
                event_path = args.get(i + 1).cloned();
                i += 1;
            }
            "--count" => {
                count = args.get(i + 1).and_then(|c| c.parse().ok()).unwrap_or(count);
                i += 1;
            }
            "--env" => {
                if let Some((k, v)) = args.get(i + 1).and_then(|kv| kv.split_once('=')) {
                    envs.push((k.to_string(), v.to_string()));
                }
                i += 1;
            }
            "--self-client" => self_client = true,
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
        errors: AtomicUsize::new(0),
        init_errors: AtomicUsize::new(0),
        bytes_in: AtomicUsize::new(0),
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
        child = Some(cmd.spawn().unwrap_or_else(|e| fail(&format!("cannot start {}: {e}", command[0]))));
    }

    let deadline = start + Duration::from_secs(600);
    loop {
        let done = shared.replies.lock().map(|r| r.len()).unwrap_or(0);
        if done >= count || Instant::now() > deadline {
            break;
        }
        if shared.init_errors.load(Ordering::Relaxed) > 0 {
            break;
        }
        if let Some(c) = child.as_mut()
            && let Ok(Some(status)) = c.try_wait()
        {
            fail(&format!("the runtime exited early: {status}"));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let rss_kb = child.as_ref().map(|c| rss_kb(c.id())).unwrap_or(0);
    let cpu_ms = child.as_ref().map(|c| cpu_ms(c.id())).unwrap_or(0.0);
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
        let span = replies[replies.len() - 1].duration_since(replies[0]).as_secs_f64();
        (replies.len() - 1) as f64 / span.max(1e-9)
    } else {
        0.0
    };
    println!(
        "{{\"count\": {count}, \"cold_ms\": {cold_ms:.2}, \"warm_per_s\": {warm:.1}, \"cpu_us_per_invocation\": {:.1}, \"rss_kb\": {rss_kb}, \"errors\": {}, \"reply_bytes\": {}}}",
        cpu_ms * 1000.0 / count as f64,
        shared.errors.load(Ordering::Relaxed),
        shared.bytes_in.load(Ordering::Relaxed) / count.max(1)
    );
}

fn fail(message: &str) -> ! {
    eprintln!("bench-runtime-api: {message}");
    std::process::exit(1)
}

/// User plus system CPU time a process has used, in milliseconds (from /proc/PID/stat).
fn cpu_ms(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux for /proc times.
    let hz = 100.0;
    ticks * 1000.0 / hz
}

/// The resident set of a process, from /proc (0 where that is not available).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
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
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if method == "GET" && path.ends_with("/runtime/invocation/next") {
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
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n\
                 Content-Length: {}\r\n\r\n",
                shared.event.len()
            );
            // One write, one segment: the head and the event together.
            let mut message = head.into_bytes();
            message.extend_from_slice(&shared.event);
            let _ = writer.write_all(&message);
        } else if method == "POST" {
            if path.ends_with("/init/error") {
                shared.init_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("init error: {}", String::from_utf8_lossy(&body));
            } else if path.ends_with("/error") {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            shared.bytes_in.fetch_add(body.len(), Ordering::Relaxed);
            if !path.ends_with("/init/error")
                && let Ok(mut r) = shared.replies.lock()
            {
                r.push(Instant::now());
            }
            let _ = writer.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n",
            );
            let _ = writer.flush();
        } else {
            let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
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
        let post = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        );
        if writer.write_all(post.as_bytes()).is_err() || writer.write_all(reply).is_err() {
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
