//! Soak: one Lambda runtime process (rwsgi against the fake Runtime API of
//! tests/support/runtime_api.rs) serves many invocations of an app that misbehaves on a
//! schedule, and must answer every one with its scheduled status and body, never post an
//! `/error` for an HTTP event, never exit, and not grow: its resident memory after all N
//! invocations stays within a bound of what it was after the first N/10, once the app and its
//! imports are warm.
//!
//! N is `RWSGI_SOAK_INVOCATIONS` (2,000 by default, a few seconds). The bound is 5 MB for the
//! default run and 10 MB from 20,000 invocations on (`bench/soak` runs that and prints the
//! figures).
//!
//! A slow leak hides in such a bound (a couple of hundred bytes an invocation is 4 MB over
//! 20,000), so what each invocation brings that is new every time, its X-Ray trace id, is also
//! checked on its own, made large enough that keeping it would show at once.

use std::ffi::OsString;
use std::time::{Duration, Instant};

use crate::support::runtime_api::{FakeRuntimeApi, Invocation, PostKind, Posted};
use crate::util::{self, LIMIT, Running, apps_dir};
use base64::Engine as _;
use serde_json::{Value, json};

const DEFAULT_INVOCATIONS: u64 = 2_000;

fn invocations() -> u64 {
    match std::env::var("RWSGI_SOAK_INVOCATIONS") {
        Err(_) => DEFAULT_INVOCATIONS,
        Ok(text) => text
            .trim()
            .parse()
            .ok()
            .filter(|n| *n >= 10)
            .unwrap_or_else(|| {
                panic!("RWSGI_SOAK_INVOCATIONS={text:?}: give a count of 10 or more")
            }),
    }
}

/// How far the resident memory may grow between N/10 and N invocations, in KiB.
fn growth_bound_kib(n: u64) -> u64 {
    if n >= 20_000 { 10 * 1024 } else { 5 * 1024 }
}

fn request_id(n: u64) -> String {
    format!("5d0c1f3e-7a2b-4e11-8c3d-{n:012x}")
}

const ERROR_BODY: &str = "500 Internal Server Error\n";

/// A request body for invocation `n`: 1 to 4 KiB that differ from one invocation to the next.
fn body_of(n: u64) -> Vec<u8> {
    let len = 1024 + (n as usize * 37) % 3072;
    (0..len)
        .map(|i| ((i as u64 * 131 + n * 7) % 251) as u8)
        .collect()
}

/// zlib's Adler-32 (RFC 1950 section 8.2), what faulty.py's `digest` answers with.
fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// What invocation `n` asks tests/apps/faulty.py to do, and the status and body it must get.
fn schedule(n: u64) -> (String, u64, String) {
    let (what, status, body) = match n % 10 {
        0 => ("raises", 500, ERROR_BODY.to_string()),
        1 => ("", 200, "ok\n".to_string()),
        2 => ("raises_mid", 500, ERROR_BODY.to_string()),
        3 => ("stream", 200, "chunk 1\nchunk 2\nchunk 3\n".to_string()),
        4 => ("sys_exit", 500, ERROR_BODY.to_string()),
        5 => ("header_cr", 500, ERROR_BODY.to_string()),
        6 => ("created", 201, "created\n".to_string()),
        7 => ("no_start_response", 500, ERROR_BODY.to_string()),
        8 => ("sys_exit_mid", 500, ERROR_BODY.to_string()),
        _ => {
            let data = body_of(n);
            (
                "digest",
                200,
                format!("{} {}\n", data.len(), adler32(&data)),
            )
        }
    };
    // `i` only makes each event differ; faulty.py does not read it.
    (format!("do={what}&i={n}"), status, body)
}

/// An HTTP API payload 2.0 event for invocation `n`; the `digest` ones carry a binary body.
fn event(n: u64) -> Value {
    let (query, _, _) = schedule(n);
    let digest = query.starts_with("do=digest");
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": query,
        "headers": {
            "accept": "*/*",
            "host": "a1b2c3.execute-api.us-east-1.amazonaws.com",
            "user-agent": "soak/1.0",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3",
            "domainName": "a1b2c3.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": if digest { "POST" } else { "GET" },
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "soak/1.0"
            },
            "requestId": format!("soak-{n}"),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_583_817_383_220u64
        },
        "isBase64Encoded": false
    });
    if digest {
        event["headers"]["content-type"] = json!("application/octet-stream");
        event["body"] = json!(base64::engine::general_purpose::STANDARD.encode(body_of(n)));
        event["isBase64Encoded"] = json!(true);
    }
    event
}

fn function(api: &FakeRuntimeApi) -> Running {
    util::rwsgi(Vec::<OsString>::new())
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("LAMBDA_TASK_ROOT", apps_dir())
        .env("RWSGI_APP", "faulty")
        .env("AWS_LAMBDA_FUNCTION_NAME", "rwsgi-soak")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .spawn()
}

/// Queues invocations `from..to` and waits until all of them have been answered.
fn run_batch(api: &FakeRuntimeApi, rwsgi: &Running, from: u64, to: u64) -> Vec<Posted> {
    for n in from..to {
        api.push(Invocation::new(&request_id(n), &event(n)));
    }
    // Far more than a working rwsgi needs (a few milliseconds each), so a stuck one fails.
    let limit = LIMIT + Duration::from_millis(50 * (to - from));
    api.wait_posted(to as usize, limit).unwrap_or_else(|| {
        panic!(
            "{} of {to} answered within {limit:?}\n{}",
            api.posted().len(),
            rwsgi.dump()
        )
    })
}

fn reply_body(reply: &Value) -> Vec<u8> {
    let text = reply["body"].as_str().expect("a string body");
    if reply["isBase64Encoded"] == json!(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("a base64 body")
    } else {
        text.as_bytes().to_vec()
    }
}

#[test]
fn many_invocations_of_a_misbehaving_app_are_all_answered_without_growing() {
    let total = invocations();
    let warm = total / 10;
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api);
    let started = Instant::now();

    run_batch(&api, &rwsgi, 0, warm);
    let rss_warm = rwsgi.rss_kib();
    let posted = run_batch(&api, &rwsgi, warm, total);
    let rss_end = rwsgi.rss_kib();
    let took = started.elapsed();

    let growth = rss_end.saturating_sub(rss_warm);
    let bound = growth_bound_kib(total);
    println!(
        "rwsgi soak: {total} invocations in {took:.1?}; VmRSS after {warm}: {rss_warm} kB, \
         after {total}: {rss_end} kB, growth {growth} kB (bound {bound} kB)"
    );

    assert_eq!(posted.len(), total as usize);
    let errors = posted
        .iter()
        .filter(|p| p.kind != PostKind::Response)
        .count();
    assert_eq!(errors, 0, "/error posts for HTTP events\n{}", rwsgi.dump());
    let mut wrong = Vec::new();
    for (n, post) in (0..total).zip(&posted) {
        let (query, status, body) = schedule(n);
        let id = request_id(n);
        if post.request_id.as_deref() != Some(id.as_str()) {
            wrong.push(format!("#{n}: answered for {:?}", post.request_id));
            continue;
        }
        let reply = post.json();
        let got = (reply["statusCode"].clone(), reply_body(&reply));
        if got != (json!(status), body.clone().into_bytes()) {
            let seen: String = String::from_utf8_lossy(&got.1).chars().take(200).collect();
            wrong.push(format!(
                "#{n} ({query}): {} {seen:?}, want {status} {body:?}",
                got.0
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {total} answered wrongly:\n{}",
        wrong.len(),
        wrong
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(rwsgi.running(), "rwsgi exited\n{}", rwsgi.dump());
    assert!(!rwsgi.stderr().contains("panicked"), "{}", rwsgi.dump());
    assert!(
        growth <= bound,
        "VmRSS grew by {growth} kB from invocation {warm} to {total} ({rss_warm} kB -> \
         {rss_end} kB), over the {bound} kB bound"
    );
}

/// Every invocation brings a trace id of its own (`Lambda-Runtime-Trace-Id`), which rwsgi puts
/// in `os.environ`; once the invocation is over, the old id must not stay in memory. Ids of
/// 8 KiB make a leak of them plain: 1,000 of them are 8 MiB, against a 2 MiB bound.
#[test]
fn trace_ids_do_not_accumulate() {
    const WARM: u64 = 100;
    const COUNT: u64 = 1_000;
    const ID_BYTES: usize = 8 * 1024;
    const BOUND_KIB: u64 = 2 * 1024;
    let api = FakeRuntimeApi::start();
    let rwsgi = function(&api);
    // `Root=1-...` with a `Self=` field long enough to carry the size: X-Ray passes on the
    // fields it does not know.
    let trace = |n: u64| {
        let head = format!("Root=1-5e1b4151-{n:024x};Parent=53995c3f42cd8ad8;Sampled=1;Self=");
        let fill = ID_BYTES - head.len() - 12;
        format!("{head}{}{n:012}", "x".repeat(fill))
    };
    let push = |from: u64, to: u64| {
        for n in from..to {
            api.push(Invocation::new(&request_id(n), &event(1)).trace_id(Some(&trace(n))));
        }
        let limit = LIMIT + Duration::from_millis(50 * (to - from));
        let posted = api
            .wait_posted(to as usize, limit)
            .unwrap_or_else(|| panic!("{} of {to} answered\n{}", api.posted().len(), rwsgi.dump()));
        assert!(
            posted.iter().all(|p| p.kind == PostKind::Response),
            "{}",
            rwsgi.dump()
        );
    };
    push(0, WARM);
    let before = rwsgi.rss_kib();
    push(WARM, WARM + COUNT);
    let after = rwsgi.rss_kib();
    let growth = after.saturating_sub(before);
    println!(
        "rwsgi trace ids: {COUNT} invocations with {ID_BYTES}-byte trace ids; VmRSS {before} kB \
         -> {after} kB, growth {growth} kB (bound {BOUND_KIB} kB)"
    );
    assert!(
        growth <= BOUND_KIB,
        "VmRSS grew by {growth} kB over {COUNT} invocations with {ID_BYTES}-byte trace ids \
         ({before} kB -> {after} kB): the old ids stay in memory"
    );
}
