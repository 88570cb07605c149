//! A fake Lambda Runtime API for benchmarks: it starts a runtime (any command), hands it events
//! over keep-alive HTTP/1.1, and reports how fast and at what cost in CPU time and memory the
//! runtime answered them.
//!
//! Why the benchmarks keep this fake beside the integration tests' one: the tests' fake Runtime
//! API is scripted and instrumented (it records every request, body and chunk for the test to
//! inspect, can fail on demand, and wakes its idle connections every 50 ms to notice
//! a stop), which is what a test needs and what a benchmark must not pay for. Here the Runtime
//! API shares the CPU with the runtime being measured (on one pinned CPU, as in a Lambda
//! function of up to 1,769 MB), so every microsecond it spends is charged to the runtime: it
//! keeps nothing but counters and timestamps in preallocated slots, parses only the headers it
//! needs, answers each request in one write, and wakes the main thread only when a phase ends.
//! On one CPU it and a client that does nothing else (`--self-client`) take about 60 µs per
//! invocation together, mostly the kernel's TCP and the switches between them; serving 8
//! concurrent workers on two CPUs it takes 0.06 to 0.15 ms, where the Python fake it replaced
//! took about 0.7 ms.
//!
//! Usage:
//!   bench-runtime-api --event FILE --count N [--env K=V ...] [--reply-out FILE]
//!                     [--timeout SECONDS] [--cpu N] [--no-extensions]
//!                     [--concurrency S] [--warmup W] [--warmup-event FILE] [--copies K]
//!                     [--watch-pid PID ...] [--log FILE] [--timings-out FILE]
//!                     -- COMMAND [ARGS...]
//!   bench-runtime-api --event FILE --count N [--cpu N] --self-client
//!
//! Each invocation carries the headers Lambda sends in 2026, `Lambda-Runtime-Invocation-Id`
//! included, and the Extensions API's registration is served as on Lambda (an internal extension
//! adds a request to init); `--no-extensions` answers it 404, as a local emulator does.
//! Replies may be buffered (`Content-Length`) or streamed (`Transfer-Encoding: chunked` with
//! `Lambda-Runtime-Function-Response-Mode: streaming`, and the error trailers of a stream that
//! fails: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html#runtimes-custom-response-streaming).
//!
//! Two ways of running:
//! - Classic (neither `--concurrency` nor `--warmup`): the events go out as fast as `/next` asks
//!   for them, from the start; the first reply ends the cold start.
//! - Phased (`--concurrency S` and/or `--warmup W`): as on Lambda Managed Instances, where the
//!   Runtime API takes up to `AWS_LAMBDA_MAX_CONCURRENCY` concurrent `/next` long polls
//!   (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html, "Lambda Managed Instances
//!   support concurrent requests"), any number of `/next` may wait at once. It waits until S
//!   long polls are outstanding (every worker is up), hands out W warm-up events
//!   (`--warmup-event`, or the event), waits until S long polls wait again, takes the idle
//!   snapshot, then hands out the N measured events at once and times them; after the last
//!   reply it waits for S long polls once more and takes the final snapshot. S is 1 when only
//!   `--warmup` is given.
//!
//! `--copies K` starts K copies of the command (K single-slot runtimes side by side);
//! `--watch-pid` adds a process started elsewhere (and its descendants) to the memory figures;
//! `--log` sends the runtime's stdout and stderr to a file (else stdout is dropped and stderr
//! inherited). `--self-client` drives the server with an in-process client that does nothing
//! else, to show the server's own ceiling. `--reply-out` saves the body of the first reply
//! posted (of a streamed one, its first MiB). `--timings-out` writes one JSON line per
//! invocation: phase, time to first body byte and to the whole reply from the moment `/next`
//! handed the event out, bytes posted, status code. `--cpu N` runs this server and the runtime
//! on that one CPU.
//!
//! Output: one JSON object on stdout:
//!   count                  measured invocations
//!   cold_ms                process start to the first reply posted
//!   warm_per_s             classic: replies per second after the first one;
//!                          phased: the measured replies per second, from their release
//!   cpu_us_per_invocation  classic: the runtime's CPU time (all threads) after the first reply,
//!                          per reply; phased: the CPU time of every process of the runtime
//!                          (the copies and all their descendants) over the measured phase, per
//!                          invocation
//!   api_cpu_us_per_invocation  this server's own CPU time over the same span (classic: after
//!                          the first reply), per invocation
//!   machine_busy_cpu_us_per_invocation  the whole machine's busy CPU time (/proc/stat) over
//!                          the same span, per invocation: beside the two above, it shows what
//!                          other work took on a shared machine; machine_steal_ms is the time
//!                          the hypervisor gave to other guests
//!   load_before, load_after  the 1-minute load average around the measured phase
//!   init_cpu_ms            the runtime's CPU time up to the first reply
//!   rss_kb, hwm_kb         the (first) runtime process's resident set after the last reply,
//!                          and its peak (VmHWM)
//!   pss_idle_kb, pss_kb    phased: PSS summed over the runtime's processes (and --watch-pid's)
//!                          at the idle snapshot and after the run: pages shared between
//!                          processes count once
//!   tree_hwm_idle_kb, tree_hwm_kb  the same processes' peaks (VmHWM) summed, at both points
//!   processes              how many processes those are, after the run
//!   errors                 replies posted as invocation errors, or streams ended by an error
//!                          trailer
//!   not_200                measured replies whose statusCode (buffered JSON, or a streamed
//!                          reply's prelude) is not 200, errors included
//!   ttfb_ms_p50, total_ms_p50, total_ms_p99  the measured invocations' time to first body
//!                          byte and to the whole reply, from the event handed out
//!   max_outstanding_next   the most `/next` long polls that waited at once
//!   reply_bytes            the mean size of a reply
//!   unechoed               replies that did not carry their invocation's id back
//!   lost                   invocations not answered by their deadline (30 s) after the
//!                          connection that took them closed (a worker killed in the middle):
//!                          counted as failed, so a run ends
//!   late                   replies to an invocation already counted
//!   extensions             extensions registered during init

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Of a streamed reply, the most `--reply-out` keeps, and the most of its start searched for
/// the end of the prelude.
const KEEP: usize = 1 << 20;

/// The content type of a streamed reply that starts with a JSON prelude (status and headers)
/// and eight NUL bytes, then the body (as the AWS Lambda Web Adapter and rwsgi send it to a
/// function URL).
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// How long an invocation may take (`Lambda-Runtime-Deadline-Ms`).
const DEADLINE: Duration = Duration::from_secs(30);

/// What happened to one invocation, as nanoseconds since the server started plus one (0: not
/// yet), so that the serving threads record it without a lock.
#[derive(Default)]
struct Timing {
    handed: AtomicU64,
    first_byte: AtomicU64,
    end: AtomicU64,
    bytes: AtomicU64,
    /// The reply's statusCode; 0 when it has none, 1 for an error reply.
    status: AtomicU32,
}

struct Shared {
    start: Instant,
    event: Vec<u8>,
    warmup_event: Option<Vec<u8>>,
    warmup: usize,
    /// Warm-up and measured invocations together.
    total: usize,
    /// How many events `/next` may hand out so far; raised by the main thread, phase by phase.
    released: AtomicUsize,
    handed_out: AtomicUsize,
    gate: Mutex<()>,
    opened: Condvar,
    /// `/next` long polls waiting now, and the most that ever waited at once.
    polling: AtomicUsize,
    max_polling: AtomicUsize,
    timings: Vec<Timing>,
    replies: AtomicUsize,
    /// The reply count at which the main thread is woken.
    wake_at: AtomicUsize,
    progress_lock: Mutex<()>,
    progress: Condvar,
    errors: AtomicUsize,
    init_errors: AtomicUsize,
    bytes_in: AtomicUsize,
    /// The runtime's process id (0 for the self-client), to read its CPU time at the first reply.
    pid: AtomicU32,
    init_cpu_ns: Mutex<Option<u64>>,
    /// This server's CPU time and the machine's busy and stolen time at the first reply.
    init_api_cpu_ns: AtomicU64,
    init_machine_ms: Mutex<(f64, f64)>,
    reply_out: Option<String>,
    /// Replies without `Lambda-Runtime-Invocation-Id`, or with another invocation's.
    unechoed: AtomicUsize,
    /// Invocations whose connection closed before their reply came, and replies that came for
    /// an invocation already counted.
    lost: AtomicUsize,
    late: AtomicUsize,
    /// Serves the Extensions API (`--no-extensions` turns it off).
    extensions_api: bool,
    extensions: AtomicUsize,
}

impl Shared {
    fn since_start(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64 + 1
    }

    fn at(&self, stamp: u64) -> Option<Instant> {
        (stamp > 0).then(|| self.start + Duration::from_nanos(stamp - 1))
    }
}

#[derive(Default)]
struct Options {
    event: Option<String>,
    warmup_event: Option<String>,
    count: usize,
    warmup: usize,
    concurrency: usize,
    copies: usize,
    envs: Vec<(String, String)>,
    command: Vec<String>,
    self_client: bool,
    no_extensions: bool,
    reply_out: Option<String>,
    timeout: Duration,
    watch: Vec<u32>,
    log: Option<String>,
    timings_out: Option<String>,
}

fn parse_args() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = Options {
        count: 1000,
        copies: 1,
        timeout: Duration::from_secs(600),
        ..Options::default()
    };
    let mut i = 0;
    let value = |i: usize, what: &str| -> String {
        args.get(i + 1)
            .cloned()
            .unwrap_or_else(|| fail(&format!("{what} needs a value")))
    };
    let number = |i: usize, what: &str, least: usize| -> usize {
        match args.get(i + 1).and_then(|c| c.parse::<usize>().ok()) {
            Some(n) if n >= least => n,
            _ => fail(&format!("{what} needs a number of at least {least}")),
        }
    };
    while i < args.len() {
        match args[i].as_str() {
            "--event" => o.event = Some(value(i, "--event")),
            "--warmup-event" => o.warmup_event = Some(value(i, "--warmup-event")),
            "--count" => o.count = number(i, "--count", 1),
            "--warmup" => o.warmup = number(i, "--warmup", 0),
            "--concurrency" => o.concurrency = number(i, "--concurrency", 1),
            "--copies" => o.copies = number(i, "--copies", 1),
            "--watch-pid" => o.watch.push(number(i, "--watch-pid", 1) as u32),
            "--env" => match args.get(i + 1).and_then(|kv| kv.split_once('=')) {
                Some((k, v)) => o.envs.push((k.to_string(), v.to_string())),
                None => fail("--env needs NAME=VALUE"),
            },
            "--reply-out" => o.reply_out = Some(value(i, "--reply-out")),
            "--log" => o.log = Some(value(i, "--log")),
            "--timings-out" => o.timings_out = Some(value(i, "--timings-out")),
            "--timeout" => match args.get(i + 1).and_then(|s| s.parse::<f64>().ok()) {
                Some(s) if s > 0.0 => o.timeout = Duration::from_secs_f64(s),
                _ => fail("--timeout needs a number of seconds"),
            },
            "--cpu" => pin_to_cpu(number(i, "--cpu", 0)),
            "--self-client" => {
                o.self_client = true;
                i += 1;
                continue;
            }
            "--no-extensions" => {
                o.no_extensions = true;
                i += 1;
                continue;
            }
            "--" => {
                o.command = args[i + 1..].to_vec();
                break;
            }
            other => fail(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    if o.command.is_empty() && !o.self_client {
        fail("give a command after --, or --self-client");
    }
    if o.warmup > 0 && o.concurrency == 0 {
        o.concurrency = 1;
    }
    o
}

fn read_event(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| fail(&format!("cannot read {path}: {e}")))
}

fn main() {
    let o = parse_args();
    let event = read_event(
        o.event
            .as_deref()
            .unwrap_or_else(|| fail("--event FILE is required")),
    );
    let phased = o.concurrency > 0;
    let total = o.warmup + o.count;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| fail(&e.to_string()));
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let shared = Arc::new(Shared {
        start: Instant::now(),
        event,
        warmup_event: o.warmup_event.as_deref().map(read_event),
        warmup: o.warmup,
        total,
        // Classic: everything may go out from the start.
        released: AtomicUsize::new(if phased { 0 } else { total }),
        handed_out: AtomicUsize::new(0),
        gate: Mutex::new(()),
        opened: Condvar::new(),
        polling: AtomicUsize::new(0),
        max_polling: AtomicUsize::new(0),
        timings: (0..total).map(|_| Timing::default()).collect(),
        replies: AtomicUsize::new(0),
        wake_at: AtomicUsize::new(total),
        progress_lock: Mutex::new(()),
        progress: Condvar::new(),
        errors: AtomicUsize::new(0),
        init_errors: AtomicUsize::new(0),
        bytes_in: AtomicUsize::new(0),
        pid: AtomicU32::new(0),
        init_cpu_ns: Mutex::new(None),
        init_api_cpu_ns: AtomicU64::new(0),
        init_machine_ms: Mutex::new((0.0, 0.0)),
        reply_out: o.reply_out.clone(),
        unechoed: AtomicUsize::new(0),
        lost: AtomicUsize::new(0),
        late: AtomicUsize::new(0),
        extensions_api: !o.no_extensions,
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

    let start = shared.start;
    let mut children: Vec<Child> = Vec::new();
    if o.self_client {
        let address = format!("127.0.0.1:{port}");
        std::thread::spawn(move || do_nothing_client(&address));
    } else {
        for _ in 0..o.copies {
            children.push(spawn_runtime(&o, port));
        }
        shared.pid.store(children[0].id(), Ordering::Relaxed);
    }
    let mut run = Run {
        shared: &shared,
        children,
        deadline: start + o.timeout,
    };
    let report = if phased {
        run.phased(&o)
    } else {
        run.classic(o.count)
    };
    let first_pid = run.children.first().map(|c| c.id());
    let rss_kb = first_pid.map(|p| status_kb(p, "VmRSS:")).unwrap_or(0);
    let hwm_kb = first_pid.map(|p| status_kb(p, "VmHWM:")).unwrap_or(0);
    run.kill_all();

    let measured = o.warmup..total;
    if let Some(path) = &o.timings_out {
        write_timings(&shared, path);
    }
    let mut ttfb: Vec<f64> = Vec::new();
    let mut whole: Vec<f64> = Vec::new();
    let mut not_200 = 0;
    for t in &shared.timings[measured.clone()] {
        let handed = t.handed.load(Ordering::Relaxed);
        let first = t.first_byte.load(Ordering::Relaxed);
        let end = t.end.load(Ordering::Relaxed);
        if first > 0 {
            ttfb.push((first - handed) as f64 / 1e6);
        }
        if end > 0 {
            whole.push((end - handed) as f64 / 1e6);
        }
        if t.status.load(Ordering::Relaxed) != 200 {
            not_200 += 1;
        }
    }
    println!(
        "{{\"count\": {}, \"cold_ms\": {:.3}, \"warm_per_s\": {:.1}, \
         \"cpu_us_per_invocation\": {:.2}, \"api_cpu_us_per_invocation\": {:.2}, \
         \"machine_busy_cpu_us_per_invocation\": {:.2}, \"machine_steal_ms\": {:.1}, \
         \"load_before\": {:.2}, \"load_after\": {:.2}, \"init_cpu_ms\": {:.2}, \
         \"rss_kb\": {rss_kb}, \"hwm_kb\": {hwm_kb}, \"pss_idle_kb\": {}, \"pss_kb\": {}, \
         \"tree_hwm_idle_kb\": {}, \"tree_hwm_kb\": {}, \"processes\": {}, \"errors\": {}, \
         \"not_200\": {not_200}, \"ttfb_ms_p50\": {:.3}, \"total_ms_p50\": {:.3}, \
         \"total_ms_p99\": {:.3}, \"max_outstanding_next\": {}, \"reply_bytes\": {}, \
         \"unechoed\": {}, \"lost\": {}, \"late\": {}, \"extensions\": {}}}",
        o.count,
        report.cold_ms,
        report.per_s,
        report.cpu_us_per_invocation,
        report.api_cpu_us_per_invocation,
        report.machine_busy_us_per_invocation,
        report.machine_steal_ms,
        report.load_before,
        report.load_after,
        shared.init_cpu_ns.lock().ok().and_then(|c| *c).unwrap_or(0) as f64 / 1e6,
        report.idle.pss_kb,
        report.end.pss_kb,
        report.idle.hwm_kb,
        report.end.hwm_kb,
        report.end.processes,
        shared.errors.load(Ordering::Relaxed),
        percentile(&mut ttfb, 0.5),
        percentile(&mut whole, 0.5),
        percentile(&mut whole, 0.99),
        shared.max_polling.load(Ordering::Relaxed),
        shared.bytes_in.load(Ordering::Relaxed) / total.max(1),
        shared.unechoed.load(Ordering::Relaxed),
        shared.lost.load(Ordering::Relaxed),
        shared.late.load(Ordering::Relaxed),
        shared.extensions.load(Ordering::Relaxed),
    );
}

fn spawn_runtime(o: &Options, port: u16) -> Child {
    let mut cmd = Command::new(&o.command[0]);
    cmd.args(&o.command[1..])
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(path) = &o.log {
        let file = File::options()
            .create(true)
            .append(true)
            .open(path)
            .unwrap_or_else(|e| fail(&format!("cannot open {path}: {e}")));
        let copy = file
            .try_clone()
            .unwrap_or_else(|e| fail(&format!("cannot share {path}: {e}")));
        cmd.stdout(file).stderr(copy);
    }
    for (k, v) in &o.envs {
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
    cmd.spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start {}: {e}", o.command[0])))
}

/// Memory of the runtime's processes at one moment.
#[derive(Default, Clone, Copy)]
struct Memory {
    pss_kb: u64,
    hwm_kb: u64,
    processes: usize,
}

#[derive(Default)]
struct Report {
    cold_ms: f64,
    per_s: f64,
    cpu_us_per_invocation: f64,
    api_cpu_us_per_invocation: f64,
    machine_busy_us_per_invocation: f64,
    machine_steal_ms: f64,
    load_before: f64,
    load_after: f64,
    idle: Memory,
    end: Memory,
}

struct Run<'a> {
    shared: &'a Shared,
    children: Vec<Child>,
    deadline: Instant,
}

impl Run<'_> {
    /// Fails when a runtime process has exited (a worker pool's parent counts, its workers
    /// are its business), or an init error was posted.
    fn check_alive(&mut self) {
        if self.shared.init_errors.load(Ordering::Relaxed) > 0 {
            self.kill_all();
            fail("the runtime posted an init error");
        }
        let exited = self
            .children
            .iter_mut()
            .find_map(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            self.kill_all();
            fail(&format!("the runtime exited early: {status}"));
        }
        if Instant::now() > self.deadline {
            let (r, p) = (
                self.shared.replies.load(Ordering::Relaxed),
                self.shared.polling.load(Ordering::Relaxed),
            );
            self.kill_all();
            fail(&format!(
                "timed out with {r} of {} replies, {p} long polls waiting",
                self.shared.total
            ));
        }
    }

    /// Sleeps until `replies` replies have arrived; woken by the one that completes them.
    fn wait_replies(&mut self, replies: usize) {
        self.shared.wake_at.store(replies, Ordering::Relaxed);
        loop {
            {
                let guard = self
                    .shared
                    .progress_lock
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if self.shared.replies.load(Ordering::Relaxed) >= replies {
                    return;
                }
                // The timeout serves to notice a runtime that died.
                let _ = self
                    .shared
                    .progress
                    .wait_timeout(guard, Duration::from_millis(20));
            }
            if self.shared.replies.load(Ordering::Relaxed) >= replies {
                return;
            }
            self.check_alive();
        }
    }

    /// Waits until `slots` `/next` long polls wait at once: every worker is idle. Only between
    /// phases, so polling every millisecond costs nothing that is measured.
    fn wait_polling(&mut self, slots: usize) {
        while self.shared.polling.load(Ordering::Relaxed) < slots {
            self.check_alive();
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn release(&self, upto: usize) {
        let _guard = self.shared.gate.lock().unwrap_or_else(|e| e.into_inner());
        self.shared.released.store(upto, Ordering::Release);
        self.shared.opened.notify_all();
    }

    fn classic(&mut self, count: usize) -> Report {
        let load_before = loadavg();
        self.wait_replies(count);
        let end_cpu_ns = self.children.first().and_then(|c| cpu_ns(c.id()));
        let api_after = cpu_ns(std::process::id()).unwrap_or(0);
        let machine_after = machine_cpu_ms();
        let ends = self.reply_ends(0..count);
        let first = ends.iter().min().copied().unwrap_or(self.shared.start);
        let last = ends.iter().max().copied().unwrap_or(first);
        let mut report = Report {
            cold_ms: first.duration_since(self.shared.start).as_secs_f64() * 1000.0,
            load_before,
            load_after: loadavg(),
            ..Report::default()
        };
        if count > 1 {
            report.per_s = (count - 1) as f64 / last.duration_since(first).as_secs_f64().max(1e-9);
        }
        let init_cpu_ns = self.shared.init_cpu_ns.lock().ok().and_then(|c| *c);
        if let (Some(a), Some(b)) = (init_cpu_ns, end_cpu_ns)
            && count > 1
        {
            report.cpu_us_per_invocation = b.saturating_sub(a) as f64 / 1000.0 / (count - 1) as f64;
        }
        if count > 1 {
            let n = (count - 1) as f64;
            let api_before = self.shared.init_api_cpu_ns.load(Ordering::Relaxed);
            let machine_before = *self
                .shared
                .init_machine_ms
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            report.api_cpu_us_per_invocation =
                api_after.saturating_sub(api_before) as f64 / 1000.0 / n;
            report.machine_busy_us_per_invocation =
                (machine_after.0 - machine_before.0) * 1000.0 / n;
            report.machine_steal_ms = machine_after.1 - machine_before.1;
        }
        report
    }

    fn phased(&mut self, o: &Options) -> Report {
        let slots = o.concurrency;
        let mut report = Report::default();
        self.wait_polling(slots);
        self.release(o.warmup);
        self.wait_replies(o.warmup);
        self.wait_polling(slots);
        report.idle = self.memory(&o.watch);
        if let Some(first) = self.reply_ends(0..o.warmup).into_iter().min() {
            report.cold_ms = first.duration_since(self.shared.start).as_secs_f64() * 1000.0;
        }

        report.load_before = loadavg();
        let tree_before = self.tree_cpu_ns();
        let api_before = cpu_ns(std::process::id()).unwrap_or(0);
        let machine_before = machine_cpu_ms();
        let released_at = Instant::now();
        self.release(self.shared.total);
        self.wait_replies(self.shared.total);
        let tree_after = self.tree_cpu_ns();
        let api_after = cpu_ns(std::process::id()).unwrap_or(0);
        let machine_after = machine_cpu_ms();
        report.load_after = loadavg();
        let last = self
            .reply_ends(o.warmup..self.shared.total)
            .into_iter()
            .max()
            .unwrap_or(released_at);
        let n = o.count as f64;
        report.per_s = n / last.duration_since(released_at).as_secs_f64().max(1e-9);
        report.cpu_us_per_invocation = tree_after.saturating_sub(tree_before) as f64 / 1000.0 / n;
        report.api_cpu_us_per_invocation = api_after.saturating_sub(api_before) as f64 / 1000.0 / n;
        report.machine_busy_us_per_invocation = (machine_after.0 - machine_before.0) * 1000.0 / n;
        report.machine_steal_ms = machine_after.1 - machine_before.1;

        // Memory once every worker waits again, as after the warm-up; a worker that does not
        // come back within a few seconds is reported by the process count instead.
        let settle = Instant::now() + Duration::from_secs(5);
        while self.shared.polling.load(Ordering::Relaxed) < slots && Instant::now() < settle {
            self.check_alive();
            std::thread::sleep(Duration::from_millis(1));
        }
        report.end = self.memory(&o.watch);
        report
    }

    fn reply_ends(&self, range: std::ops::Range<usize>) -> Vec<Instant> {
        self.shared.timings[range]
            .iter()
            .filter_map(|t| self.shared.at(t.end.load(Ordering::Relaxed)))
            .collect()
    }

    fn runtime_pids(&self) -> Vec<u32> {
        let roots: Vec<u32> = self.children.iter().map(|c| c.id()).collect();
        descendants(&roots)
    }

    fn tree_cpu_ns(&self) -> u64 {
        self.runtime_pids().into_iter().filter_map(cpu_ns).sum()
    }

    fn memory(&self, watch: &[u32]) -> Memory {
        let mut pids = self.runtime_pids();
        pids.extend(descendants(watch));
        Memory {
            pss_kb: pids.iter().map(|&p| pss_kb(p)).sum(),
            hwm_kb: pids.iter().map(|&p| status_kb(p, "VmHWM:")).sum(),
            processes: pids.len(),
        }
    }

    /// Kills every process of the runtime (a worker pool's workers too: killing only its
    /// parent would leave them polling), then reaps the direct children.
    fn kill_all(&mut self) {
        let pids = self.runtime_pids();
        for pid in &pids {
            kill(*pid);
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

fn write_timings(shared: &Shared, path: &str) {
    let mut out = String::new();
    for (n, t) in shared.timings.iter().enumerate() {
        let handed = t.handed.load(Ordering::Relaxed);
        let ms = |stamp: u64| {
            if stamp == 0 || handed == 0 {
                "null".to_string()
            } else {
                format!("{:.3}", (stamp - handed) as f64 / 1e6)
            }
        };
        out.push_str(&format!(
            "{{\"n\": {n}, \"phase\": \"{}\", \"ttfb_ms\": {}, \"total_ms\": {}, \"bytes\": {}, \
             \"status\": {}}}\n",
            if n < shared.warmup {
                "warmup"
            } else {
                "measured"
            },
            ms(t.first_byte.load(Ordering::Relaxed)),
            ms(t.end.load(Ordering::Relaxed)),
            t.bytes.load(Ordering::Relaxed),
            t.status.load(Ordering::Relaxed),
        ));
    }
    if let Err(e) = std::fs::write(path, out) {
        eprintln!("bench-runtime-api: cannot write {path}: {e}");
    }
}

fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let i = ((values.len() - 1) as f64 * q).round() as usize;
    values[i]
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

fn kill(pid: u32) {
    unsafe extern "C" {
        fn kill(pid: i32, signal: i32) -> i32;
    }
    // SAFETY: kill takes two integers; a process that has gone already only makes it fail.
    unsafe {
        kill(pid as i32, 9);
    }
}

/// The given processes and all their descendants, parents before children, from the parent
/// ids in /proc/PID/stat.
fn descendants(roots: &[u32]) -> Vec<u32> {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command name (which may hold spaces) start after the last ')'.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut found: Vec<u32> = Vec::new();
    let mut todo: Vec<u32> = roots
        .iter()
        .copied()
        .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
        .collect();
    while let Some(p) = todo.pop() {
        if found.contains(&p) {
            continue;
        }
        found.push(p);
        if let Some(c) = children.get(&p) {
            todo.extend(c);
        }
    }
    found
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

/// The whole machine's busy CPU time and the time stolen by the hypervisor, in milliseconds
/// (the first line of /proc/stat, in USER_HZ ticks: user nice system idle iowait irq softirq
/// steal).
fn machine_cpu_ms() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let field = |i: usize| ticks.get(i).copied().unwrap_or(0) as f64 * 10.0;
    let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
    (busy, field(7))
}

fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse().ok()))
        .unwrap_or(0.0)
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

/// A process's proportional set size (/proc/PID/smaps_rollup): its private pages plus its
/// share of the pages it shares.
fn pss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The headers of a request this server acts on.
#[derive(Default)]
struct Head {
    method: String,
    path: String,
    length: usize,
    chunked: bool,
    invocation_id: Option<String>,
    prelude: bool,
}

/// Reads a request line and its headers; `None` when the connection ended.
fn read_head(reader: &mut BufReader<TcpStream>, line: &mut String) -> Option<Head> {
    line.clear();
    if reader.read_line(line).unwrap_or(0) == 0 {
        return None;
    }
    let mut head = Head::default();
    let mut parts = line.split_whitespace();
    head.method = parts.next().unwrap_or("").to_string();
    head.path = parts.next().unwrap_or("").to_string();
    loop {
        line.clear();
        if reader.read_line(line).unwrap_or(0) == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            return Some(head);
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                head.length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                head.chunked = value.eq_ignore_ascii_case("chunked");
            } else if name.eq_ignore_ascii_case("lambda-runtime-invocation-id") {
                head.invocation_id = Some(value.to_string());
            } else if name.eq_ignore_ascii_case("content-type") {
                head.prelude = value.eq_ignore_ascii_case(HTTP_INTEGRATION);
            }
        }
    }
}

/// One keep-alive connection: `/next` hands out the next released event, waiting (a long
/// poll) while there is none, as Lambda holds it between invocations; replies are timed.
fn serve(stream: TcpStream, shared: &Shared) {
    let mut last_handed = None;
    serve_requests(stream, shared, &mut last_handed);
    // The connection ended with an invocation unanswered. A runtime may answer on another
    // connection (an HTTP client's pool), but one that died with it in hand (a killed worker)
    // never will: as Lambda does, it fails at its deadline, so that the run does not wait
    // for it forever.
    if let Some(n) = last_handed {
        let t = &shared.timings[n];
        let deadline = t.handed.load(Ordering::Relaxed) + DEADLINE.as_nanos() as u64;
        while t.end.load(Ordering::Relaxed) == 0 && shared.since_start() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        mark_lost(shared, n);
    }
}

fn serve_requests(stream: TcpStream, shared: &Shared, last_handed: &mut Option<usize>) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    let mut line = String::new();
    let mut body = Vec::new();
    while let Some(head) = read_head(&mut reader, &mut line) {
        if head.path.starts_with("/2020-01-01/extension/") {
            if skip_body(&mut reader, &head, &mut body).is_none() {
                return;
            }
            if !shared.extensions_api {
                let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
            } else if head.method == "POST" && head.path.ends_with("/register") {
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
        } else if head.method == "GET" && head.path.ends_with("/runtime/invocation/next") {
            let Some(n) = take_event(shared, &writer) else {
                // Nothing more to hand out (or nobody to hand it to): hold the long poll until
                // the runtime is killed.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            };
            let event = match &shared.warmup_event {
                Some(e) if n < shared.warmup => e,
                _ => &shared.event,
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + DEADLINE.as_millis())
                .unwrap_or(0);
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                 Lambda-Runtime-Aws-Request-Id: 8476a536-e9f4-11e8-9739-{n:012x}\r\n\
                 Lambda-Runtime-Invocation-Id: 5d1c2f0a-9b7e-4c3d-8e21-{n:012x}\r\n\
                 Lambda-Runtime-Deadline-Ms: {deadline}\r\n\
                 Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:bench\r\n\
                 Lambda-Runtime-Trace-Id: Root=1-5bef4de7-{n:024x};Parent=9a9197af755a6419;Sampled=1\r\n\
                 Content-Length: {}\r\n\r\n",
                event.len()
            );
            // One write, one segment for small events: the head and the event together.
            let mut message = head.into_bytes();
            message.extend_from_slice(event);
            shared.timings[n]
                .handed
                .store(shared.since_start(), Ordering::Relaxed);
            *last_handed = Some(n);
            let _ = writer.write_all(&message);
        } else if head.method == "POST" {
            let Some(reply) = read_reply(&mut reader, &head, &mut body) else {
                return;
            };
            if head.path.ends_with("/init/error") {
                shared.init_errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("init error: {}", String::from_utf8_lossy(&body));
            } else if head.path.contains("/runtime/invocation/") {
                record_reply(shared, &head, &body, reply);
            }
            let _ = writer.write_all(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n",
            );
        } else {
            if skip_body(&mut reader, &head, &mut body).is_none() {
                return;
            }
            let _ = writer.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        }
    }
}

/// Takes the number of the next event `/next` may hand out, waiting for the main thread to
/// release one; `None` once all have gone, or when the runtime closed the connection while it
/// waited (a worker that died must not be handed an event: it would be lost, and the run would
/// never end).
fn take_event(shared: &Shared, stream: &TcpStream) -> Option<usize> {
    let now = shared.polling.fetch_add(1, Ordering::Relaxed) + 1;
    shared.max_polling.fetch_max(now, Ordering::Relaxed);
    let taken = loop {
        let n = shared.handed_out.load(Ordering::Relaxed);
        if n >= shared.total {
            return None;
        }
        if n < shared.released.load(Ordering::Acquire) {
            if shared
                .handed_out
                .compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                break Some(n);
            }
            continue;
        }
        // Checked again under the lock the main thread takes to release more, so that no
        // release is missed between the check and the wait.
        let guard = shared.gate.lock().unwrap_or_else(|e| e.into_inner());
        if shared.handed_out.load(Ordering::Relaxed) >= shared.released.load(Ordering::Acquire) {
            drop(shared.opened.wait(guard));
            if peer_closed(stream) {
                break None;
            }
        }
    };
    shared.polling.fetch_sub(1, Ordering::Relaxed);
    taken
}

/// Whether the peer has closed the connection: a read would find its end without blocking.
fn peer_closed(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    let closed = match stream.peek(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    let _ = stream.set_nonblocking(false);
    closed
}

/// What a reply's body showed while it was read.
struct Reply {
    /// When the first byte of the body a client would get arrived (after a streamed reply's
    /// prelude), if it did.
    first_byte: Option<Instant>,
    bytes: usize,
    /// A stream that ended with `Lambda-Runtime-Function-Error-Type` in its trailers.
    error_trailer: bool,
}

fn skip_body(reader: &mut BufReader<TcpStream>, head: &Head, body: &mut Vec<u8>) -> Option<()> {
    if head.chunked {
        let mut sink = Vec::new();
        read_chunked(reader, false, &mut sink).map(|_| ())
    } else {
        body.resize(head.length, 0);
        reader.read_exact(body).ok()
    }
}

/// Reads a reply's body: whole when it has a length, else chunk by chunk (RFC 9112 section
/// 7.1), keeping only its start. `body` holds what was kept.
fn read_reply(reader: &mut BufReader<TcpStream>, head: &Head, body: &mut Vec<u8>) -> Option<Reply> {
    if !head.chunked {
        body.resize(head.length, 0);
        reader.read_exact(body).ok()?;
        return Some(Reply {
            first_byte: None,
            bytes: body.len(),
            error_trailer: false,
        });
    }
    body.clear();
    let (first_byte, bytes, error_trailer) = read_chunked(reader, head.prelude, body)?;
    Some(Reply {
        first_byte,
        bytes,
        error_trailer,
    })
}

/// Reads chunks into `keep` (up to [`KEEP`] bytes) and the trailers; returns when the first
/// byte of the body proper arrived (after the prelude and its eight NULs when `prelude`), the
/// bytes read, and whether an error trailer came.
fn read_chunked(
    reader: &mut BufReader<TcpStream>,
    prelude: bool,
    keep: &mut Vec<u8>,
) -> Option<(Option<Instant>, usize, bool)> {
    let mut line = String::new();
    let mut first_byte = None;
    let mut total = 0usize;
    let mut scratch = vec![0u8; 64 << 10];
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let size_text = line.split(';').next().unwrap_or("").trim();
        let mut size = usize::from_str_radix(size_text, 16).ok()?;
        if size == 0 {
            break;
        }
        while size > 0 {
            let n = size.min(scratch.len());
            reader.read_exact(&mut scratch[..n]).ok()?;
            if first_byte.is_none() {
                let at = keep.len();
                let room = KEEP.saturating_sub(at);
                keep.extend_from_slice(&scratch[..n.min(room)]);
                // Only the bytes just added (and the eight before them) can complete the
                // separator.
                let from = at.saturating_sub(8);
                if !prelude
                    || keep[from..]
                        .windows(8)
                        .position(|w| w == [0u8; 8])
                        .is_some_and(|i| keep.len() > from + i + 8)
                {
                    first_byte = Some(Instant::now());
                }
            } else if keep.len() < KEEP {
                let room = KEEP - keep.len();
                keep.extend_from_slice(&scratch[..n.min(room)]);
            }
            total += n;
            size -= n;
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).ok()?;
    }
    let mut error_trailer = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, _)) = line.split_once(':')
            && name
                .trim()
                .eq_ignore_ascii_case("lambda-runtime-function-error-type")
        {
            error_trailer = true;
        }
    }
    Some((first_byte, total, error_trailer))
}

/// The statusCode of a reply's JSON (a buffered reply, or a streamed one's prelude), found
/// without parsing the JSON: the number after the first `"statusCode"` and its colon.
fn status_code(body: &[u8]) -> u32 {
    let key = b"\"statusCode\"";
    let Some(at) = body.windows(key.len()).position(|w| w == key) else {
        return 0;
    };
    let rest = &body[at + key.len()..];
    let rest = rest
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b':'))
        .map(|i| &rest[i..])
        .unwrap_or(&[]);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// Notes a reply: its timings, whether it was an error, and that it echoed its invocation id.
fn record_reply(shared: &Shared, head: &Head, body: &[u8], reply: Reply) {
    let now = shared.since_start();
    // The reply's path ends `.../{request id}/response`; its invocation id must be the one
    // handed out with that request id (the same counter).
    let request_tail = head
        .path
        .rsplit('/')
        .nth(1)
        .and_then(|id| id.rsplit('-').next());
    if head
        .invocation_id
        .as_deref()
        .and_then(|i| i.rsplit('-').next())
        != request_tail
    {
        shared.unechoed.fetch_add(1, Ordering::Relaxed);
    }
    let error = head.path.ends_with("/error") || reply.error_trailer;
    if error {
        shared.errors.fetch_add(1, Ordering::Relaxed);
    }
    shared.bytes_in.fetch_add(reply.bytes, Ordering::Relaxed);
    if let Some(t) = request_tail
        .and_then(|hex| usize::from_str_radix(hex, 16).ok())
        .and_then(|n| shared.timings.get(n))
    {
        // Set once: a reply to an invocation already counted (lost with its connection, or
        // answered twice) is noted, not counted again.
        if t.end
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            shared.late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let end = match reply.first_byte {
            Some(at) => at.duration_since(shared.start).as_nanos() as u64 + 1,
            None => now,
        };
        t.first_byte.store(end.min(now), Ordering::Relaxed);
        t.bytes.store(reply.bytes as u64, Ordering::Relaxed);
        let status = if error { 1 } else { status_code(body) };
        t.status.store(status, Ordering::Relaxed);
    }
    count_reply(shared, body);
}

/// Counts an invocation lost with its connection as failed, unless it was answered.
fn mark_lost(shared: &Shared, n: usize) {
    let t = &shared.timings[n];
    if t.end
        .compare_exchange(0, shared.since_start(), Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
    {
        t.status.store(1, Ordering::Relaxed);
        shared.lost.fetch_add(1, Ordering::Relaxed);
        count_reply(shared, b"");
    }
}

/// Counts one more invocation finished. The first also fixes the end of init for the CPU count
/// and is saved for `--reply-out`.
fn count_reply(shared: &Shared, body: &[u8]) {
    let count = shared.replies.fetch_add(1, Ordering::AcqRel) + 1;
    if count == 1 {
        let pid = shared.pid.load(Ordering::Relaxed);
        if pid != 0
            && let Ok(mut c) = shared.init_cpu_ns.lock()
        {
            *c = cpu_ns(pid);
        }
        shared
            .init_api_cpu_ns
            .store(cpu_ns(std::process::id()).unwrap_or(0), Ordering::Relaxed);
        if let Ok(mut m) = shared.init_machine_ms.lock() {
            *m = machine_cpu_ms();
        }
        if let Some(path) = &shared.reply_out
            && let Err(e) = std::fs::write(path, body)
        {
            eprintln!("bench-runtime-api: cannot write {path}: {e}");
        }
    }
    // Only the reply that ends a phase wakes the main thread: waking it for each one would put
    // a futex call and two context switches into every invocation, on the CPU the runtime is
    // measured on.
    if count == shared.wake_at.load(Ordering::Relaxed) {
        let _guard = shared
            .progress_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
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
        let (id, invocation, len) = read_answer_head(&mut reader);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply = b"{\"statusCode\":200,\"body\":\"\"}";
        let mut post = format!(
            "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\n\
             Lambda-Runtime-Invocation-Id: {invocation}\r\nContent-Length: {}\r\n\r\n",
            reply.len()
        )
        .into_bytes();
        post.extend_from_slice(reply);
        if writer.write_all(&post).is_err() {
            return;
        }
        let (_, _, len) = read_answer_head(&mut reader);
        let mut body = vec![0u8; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
    }
}

fn read_answer_head(reader: &mut BufReader<TcpStream>) -> (String, String, usize) {
    let mut id = String::new();
    let mut invocation = String::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            return (id, invocation, len);
        }
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            } else if n.eq_ignore_ascii_case("lambda-runtime-aws-request-id") {
                id = v.trim().to_string();
            } else if n.eq_ignore_ascii_case("lambda-runtime-invocation-id") {
                invocation = v.trim().to_string();
            }
        }
    }
}
