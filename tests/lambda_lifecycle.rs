//! Integration tests of the two Lambda execution models beside the classic one, against the
//! project's fake Runtime API (`tests/support/runtime_api.rs`): SnapStart (the restore
//! lifecycle of a custom runtime, `AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`) and Lambda
//! Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY` workers serving at once).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::runtime_api::{FakeRuntimeApi, Invocation, PostKind, Posted};
use crate::util::{self, Running, apps_dir, temp_path, wait_for};
use serde_json::{Value, json};

/// The longest any single wait may take before a test gives up.
const WAIT: Duration = Duration::from_secs(30);

fn request_id(n: u64) -> String {
    format!("5d1c2e6a-0b7f-4c41-9a2e-{n:012x}")
}

/// `GET path?query` as an API Gateway HTTP API payload 2.0 event.
fn get(path: &str, query: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"accept": "*/*", "host": "r3pmxmplak.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "r3pmxmplak",
            "domainName": "r3pmxmplak.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "205.255.255.176", "userAgent": "curl/8.5.0"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2020:05:16:23 +0000",
            "timeEpoch": 1_583_817_383_220u64
        },
        "isBase64Encoded": false
    })
}

/// rwsgi as a function's runtime with the app `app` and the extra variables `env`, in a process
/// group of its own, so that the workers it forks end with it.
fn start(api: &FakeRuntimeApi, app: &str, env: &[(&str, &str)]) -> Running {
    let mut cmd = util::rwsgi(Vec::<String>::new())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", apps_dir())
        .env("AWS_LAMBDA_FUNCTION_NAME", "rwsgi-test")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "3")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("RWSGI_APP", app)
        .group();
    for (key, value) in env {
        cmd = cmd.env(key, value);
    }
    cmd.spawn()
}

fn result(api: &FakeRuntimeApi, process: &Running, id: &str) -> Posted {
    api.wait_for(id, WAIT)
        .unwrap_or_else(|| panic!("no result for {id}\n{}", process.dump()))
}

fn body_json(posted: &Posted) -> Value {
    assert_eq!(posted.kind, PostKind::Response, "{posted:?}");
    let reply = posted.json();
    serde_json::from_str(reply["body"].as_str().expect("a text body")).expect("a JSON body")
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// SnapStart

fn snap_env<'a>(log: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start"),
        ("SNAP_LOG", log),
    ];
    env.extend_from_slice(extra);
    env
}

/// The lifecycle in AWS's order: the before-snapshot hooks newest first, then
/// `/restore/next` instead of the first `/next`, and only once it is answered (the restore)
/// the after-restore hooks in registration order, then invocations, on a new connection.
#[test]
fn snapstart_runs_the_hooks_in_order_around_the_restore() {
    let api = FakeRuntimeApi::start();
    let log = temp_path("snap-order");
    let log_text = log.display().to_string();
    let process = start(&api, "snapstart_app:application", &snap_env(&log_text, &[]));
    assert!(
        api.wait_requests("/runtime/restore/next", 1, WAIT),
        "no /restore/next\n{}",
        process.dump()
    );
    // The snapshot is taken now: nothing after it has run yet. What is checked is that nothing
    // happens while the restore is pending, so the test watches for a while; it does not wait
    // for anything.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(lines(&log), ["before second", "before first"]);
    assert!(
        !api.requests()
            .iter()
            .any(|r| r.ends_with("/runtime/invocation/next")),
        "a /next before the restore: {:?}",
        api.requests()
    );
    api.restore();
    let id = request_id(1);
    api.push(Invocation::new(&id, &get("/", "")));
    let posted = result(&api, &process, &id);
    assert_eq!(posted.kind, PostKind::Response, "{}", process.dump());
    let after: Vec<String> = lines(&log)
        .into_iter()
        .filter(|l| !l.starts_with("random "))
        .collect();
    assert_eq!(
        after,
        [
            "before second",
            "before first",
            "after first",
            "after second"
        ]
    );
    // The connection the snapshot was taken with is not used after the restore.
    let requests = api.request_log();
    let restore_conn = requests
        .iter()
        .find(|(_, r)| r.ends_with("/runtime/restore/next"))
        .map(|(c, _)| *c)
        .expect("a /restore/next");
    let next_conns: Vec<u64> = requests
        .iter()
        .filter(|(_, r)| r.ends_with("/runtime/invocation/next"))
        .map(|(c, _)| *c)
        .collect();
    assert!(!next_conns.is_empty());
    assert!(
        next_conns.iter().all(|c| *c != restore_conn),
        "/next reused the connection of /restore/next: {requests:?}"
    );
}

/// Without the variable none of it happens: no hooks, no `/restore/next`.
#[test]
fn without_snapstart_no_hooks_run() {
    let api = FakeRuntimeApi::start();
    let log = temp_path("snap-off");
    let log_text = log.display().to_string();
    let process = start(
        &api,
        "snapstart_app:application",
        &[("SNAP_LOG", log_text.as_str())],
    );
    let id = request_id(2);
    api.push(Invocation::new(&id, &get("/", "")));
    assert_eq!(result(&api, &process, &id).kind, PostKind::Response);
    assert!(lines(&log).is_empty(), "{:?}", lines(&log));
    assert!(
        !api.requests().iter().any(|r| r.contains("/restore/")),
        "{:?}",
        api.requests()
    );
}

/// A failing before-snapshot hook is an init error of AWS's type, and rwsgi exits with the
/// status AWS's Python runtime client exits with (64), without asking for the restore.
#[test]
fn a_failing_before_snapshot_hook_is_an_init_error() {
    let api = FakeRuntimeApi::start();
    let log = temp_path("snap-before-fails");
    let log_text = log.display().to_string();
    let mut process = start(
        &api,
        "snapstart_app:application",
        &snap_env(&log_text, &[("SNAP_FAIL", "before")]),
    );
    let status = process.wait_status(WAIT).expect("rwsgi exits");
    assert_eq!(status.code(), Some(64), "{}", process.dump());
    let posted = api.wait_init_error(WAIT).expect("an /init/error");
    assert_eq!(
        posted.error_type.as_deref(),
        Some("Runtime.BeforeSnapshotError")
    );
    let body = posted.json();
    assert_eq!(body["errorType"], "Runtime.BeforeSnapshotError");
    let message = body["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("RuntimeError: cannot flush the cache"),
        "{body}"
    );
    assert!(
        body["stackTrace"].to_string().contains("before_second"),
        "{body}"
    );
    // The older hook did not run after the newer one failed.
    assert_eq!(lines(&log), ["before second"]);
    assert!(!api.requests().iter().any(|r| r.contains("/restore/next")));
}

/// A failing after-restore hook goes to `/restore/error` (`Runtime.AfterRestoreError`), and
/// rwsgi exits with status 65, as AWS's client does, without serving.
#[test]
fn a_failing_after_restore_hook_is_a_restore_error() {
    let api = FakeRuntimeApi::start();
    let log = temp_path("snap-after-fails");
    let log_text = log.display().to_string();
    let mut process = start(
        &api,
        "snapstart_app:application",
        &snap_env(&log_text, &[("SNAP_FAIL", "after")]),
    );
    assert!(api.wait_requests("/runtime/restore/next", 1, WAIT));
    api.restore();
    let status = process.wait_status(WAIT).expect("rwsgi exits");
    assert_eq!(status.code(), Some(65), "{}", process.dump());
    let posted = api.posted();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].kind, PostKind::RestoreError);
    assert_eq!(
        posted[0].error_type.as_deref(),
        Some("Runtime.AfterRestoreError")
    );
    let body = posted[0].json();
    assert!(
        body["errorMessage"]
            .as_str()
            .unwrap()
            .contains("ConnectionError: cannot reconnect"),
        "{body}"
    );
    assert!(
        !api.requests()
            .iter()
            .any(|r| r.ends_with("/runtime/invocation/next"))
    );
}

/// Two execution environments restored from one snapshot draw different random numbers.
///
/// A process cannot be snapshotted here, so the snapshot is simulated by forking: the last
/// before-snapshot hook to run forks the process, and parent and child go on from the same
/// memory -- the same `random` state, which the app seeded at import (the forked child takes
/// it back, since `random` re-seeds itself after `os.fork()`) -- as two environments restored
/// from one snapshot do. Both wait on `/restore/next`, both are restored, and each
/// after-restore hook writes its first `random.random()`. Without rwsgi's re-seed the two would
/// be equal (checked by removing the `random.seed()` call: this test then fails).
#[test]
fn two_restores_of_one_snapshot_draw_different_random_numbers() {
    let api = FakeRuntimeApi::start();
    let log = temp_path("snap-random");
    let log_text = log.display().to_string();
    let process = start(
        &api,
        "snapstart_app:application",
        &snap_env(&log_text, &[("SNAP_FORK", "1")]),
    );
    assert!(
        api.wait_requests("/runtime/restore/next", 2, WAIT),
        "two processes should wait for the restore\n{}",
        process.dump()
    );
    api.restore();
    api.restore();
    let random_draws = || -> Vec<String> {
        lines(&log)
            .into_iter()
            .filter(|l| l.starts_with("random "))
            .collect()
    };
    let draws = wait_for(WAIT, || {
        let draws = random_draws();
        (draws.len() >= 2).then_some(draws)
    })
    .unwrap_or_else(random_draws);
    // The forked copy is not the test's child: end it here.
    for line in &draws {
        let pid: i32 = line.split(' ').nth(1).unwrap().parse().unwrap();
        if pid != process.pid() as i32 {
            // SAFETY: signalling a process this test's rwsgi started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    assert_eq!(draws.len(), 2, "{draws:?}\n{}", process.dump());
    let parse = |l: &String| -> (String, String) {
        let mut parts = l.split(' ').skip(1);
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    };
    let (pid_a, value_a) = parse(&draws[0]);
    let (pid_b, value_b) = parse(&draws[1]);
    assert_ne!(pid_a, pid_b, "{draws:?}");
    assert_ne!(
        value_a, value_b,
        "the same draw after two restores: {draws:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Lambda Managed Instances

/// Eight workers serve eight 200 ms invocations at once: together they take far less than the
/// 1.6 s one worker would. Each worker is a process forked after the one import, and init is
/// complete (the first `/next`) only after that import.
#[test]
fn managed_instances_workers_serve_at_once() {
    let api = FakeRuntimeApi::start();
    let process = start(
        &api,
        "slots:application",
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "8")],
    );
    assert!(
        api.wait_next_requests(8, WAIT),
        "eight workers should be polling\n{}",
        process.dump()
    );
    // Init ends with the first `/next`: by then the one shutdown extension had registered.
    assert_eq!(api.extensions_at_first_next(), Some(1));
    assert_eq!(api.extensions(), ["rwsgi-shutdown"]);
    let started = Instant::now();
    let ids: Vec<String> = (0..8).map(|n| request_id(100 + n)).collect();
    for id in &ids {
        api.push(Invocation::new(id, &get("/", "sleep=0.2")));
    }
    let replies: Vec<Value> = ids
        .iter()
        .map(|id| body_json(&result(&api, &process, id)))
        .collect();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(4 * 200),
        "8 x 200 ms took {took:?} with 8 workers"
    );
    let pids: HashSet<i64> = replies.iter().map(|r| r["pid"].as_i64().unwrap()).collect();
    assert_eq!(pids.len(), 8, "{replies:?}");
    let importers: HashSet<i64> = replies
        .iter()
        .map(|r| r["imported_by"].as_i64().unwrap())
        .collect();
    assert_eq!(
        importers,
        HashSet::from([i64::from(process.pid())]),
        "the app is imported once, by the parent"
    );
    assert!(!pids.contains(&i64::from(process.pid())));
    // PEP 3333: other processes run the same app at once.
    assert!(
        replies.iter().all(|r| r["multiprocess"] == true),
        "{replies:?}"
    );
    // Each reply is its own invocation's: request id and trace id.
    for (id, reply) in ids.iter().zip(&replies) {
        assert_eq!(reply["request_id"], id.as_str());
        assert!(reply["trace_id"].as_str().unwrap().starts_with("Root=1-"));
    }
    // An invocation without a trace id sees none in any worker, not the one before it.
    let untraced: Vec<String> = (0..8).map(|n| request_id(150 + n)).collect();
    for id in &untraced {
        api.push(Invocation::new(id, &get("/", "sleep=0.05")).trace_id(None));
    }
    for id in &untraced {
        let reply = body_json(&result(&api, &process, id));
        assert_eq!(reply["request_id"], id.as_str());
        assert_eq!(reply["trace_id"], Value::Null, "{reply}");
    }
}

/// A worker that is killed is replaced (and its death logged); without the variable, or with
/// 1, there is no fork at all.
#[test]
fn managed_instances_replace_a_dead_worker() {
    let api = FakeRuntimeApi::start();
    let process = start(
        &api,
        "slots:application",
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "2")],
    );
    assert!(api.wait_next_requests(2, WAIT), "{}", process.dump());
    let id = request_id(200);
    let first = body_json(&result(&api, &process, &{
        api.push(Invocation::new(&id, &get("/", "sleep=0")));
        id.clone()
    }));
    let victim = first["pid"].as_i64().unwrap() as i32;
    // SAFETY: killing a worker of this test's rwsgi.
    unsafe { libc::kill(victim, libc::SIGKILL) };
    process.wait_stderr("the death logged", |e| {
        e.contains(&format!("Lambda worker {victim} was killed by signal 9"))
    });
    // Two workers poll again: the survivor and the replacement.
    let mut seen = HashSet::new();
    for n in 0..6 {
        let id = request_id(201 + n);
        api.push(Invocation::new(&id, &get("/", "sleep=0.1")));
        let id2 = request_id(301 + n);
        api.push(Invocation::new(&id2, &get("/", "sleep=0.1")));
        for id in [id, id2] {
            let reply = body_json(&result(&api, &process, &id));
            seen.insert(reply["pid"].as_i64().unwrap() as i32);
        }
    }
    assert!(!seen.contains(&victim));
    assert_eq!(seen.len(), 2, "{seen:?}\n{}", process.dump());
}

/// With `AWS_LAMBDA_MAX_CONCURRENCY=1` the app is served by the process that imported it.
#[test]
fn managed_instances_with_one_slot_do_not_fork() {
    let api = FakeRuntimeApi::start();
    let process = start(
        &api,
        "slots:application",
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "1")],
    );
    let id = request_id(400);
    api.push(Invocation::new(&id, &get("/", "sleep=0")));
    let reply = body_json(&result(&api, &process, &id));
    assert_eq!(reply["pid"].as_i64(), Some(i64::from(process.pid())));
    assert_eq!(reply["multiprocess"], false);
}

/// SIGTERM to the runtime reaches every worker: all exit, and the parent with them.
#[test]
fn managed_instances_pass_sigterm_on() {
    let api = FakeRuntimeApi::start();
    let mut process = start(
        &api,
        "slots:application",
        &[("AWS_LAMBDA_MAX_CONCURRENCY", "3")],
    );
    assert!(api.wait_next_requests(3, WAIT), "{}", process.dump());
    // SAFETY: signalling this test's rwsgi.
    unsafe { libc::kill(process.pid() as i32, libc::SIGTERM) };
    let status = process.wait_status(WAIT).expect("rwsgi exits on SIGTERM");
    // The pipes reached their end: no worker holds them any more.
    assert_eq!(status.code(), Some(0), "{}", process.dump());
}

/// With `_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET` set, each worker's stdout and stderr go to
/// that unix socket (two connections per worker, plain lines), and in JSON log mode rwsgi's
/// lines there carry the request id of the invocation they are about.
#[test]
fn managed_instances_log_through_the_socket() {
    let socket = temp_path("log.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind the log socket");
    let received: Arc<Mutex<HashMap<usize, Vec<u8>>>> = Arc::default();
    {
        let received = received.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                received.lock().unwrap().entry(n).or_default();
                let received = received.clone();
                std::thread::spawn(move || {
                    let mut chunk = [0u8; 4096];
                    while let Ok(read) = stream.read(&mut chunk) {
                        if read == 0 {
                            return;
                        }
                        let mut map = received.lock().unwrap();
                        map.entry(n).or_default().extend_from_slice(&chunk[..read]);
                    }
                });
            }
        });
    }
    let api = FakeRuntimeApi::start();
    let socket_text = socket.display().to_string();
    let process = start(
        &api,
        "slots:application",
        &[
            ("AWS_LAMBDA_MAX_CONCURRENCY", "2"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            (
                "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
                socket_text.as_str(),
            ),
        ],
    );
    assert!(api.wait_next_requests(2, WAIT), "{}", process.dump());
    let ok = request_id(500);
    let failing = request_id(501);
    api.push(Invocation::new(&ok, &get("/", "sleep=0")));
    api.push(Invocation::new(&failing, &get("/", "raise=1")));
    result(&api, &process, &ok);
    result(&api, &process, &failing);
    let telemetry = || -> String {
        received
            .lock()
            .unwrap()
            .values()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    };
    let text = wait_for(WAIT, || {
        let text = telemetry();
        (text.contains(&format!("handling {ok}")) && text.contains("failing ")).then_some(text)
    })
    .unwrap_or_else(telemetry);
    assert!(
        text.contains(&format!("handling {ok}")),
        "{text}\n{}",
        process.dump()
    );
    assert!(text.contains(&format!("handling {failing}")), "{text}");
    // rwsgi's own line about the failure is JSON with the failing invocation's request id.
    let traceback = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("failing "))
        })
        .unwrap_or_else(|| panic!("no JSON line about the failure:\n{text}"));
    assert_eq!(traceback["requestId"], failing.as_str(), "{traceback}");
    assert_eq!(traceback["level"], "ERROR");
    // Nothing of the workers' output went to the inherited stdout.
    assert!(
        !process.stdout().contains("handling "),
        "{}",
        process.dump()
    );
    // Two connections per worker, plus those of any replacement.
    assert!(received.lock().unwrap().len() >= 4);
    let _ = std::fs::remove_file(&socket);
}
