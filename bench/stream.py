#!/usr/bin/env python3
"""Response streaming, buffered vs streamed, run by hand:

    python3 bench/stream.py [--rwsgi target/release/rwsgi] [--runs 5] [--lwa PATH]

For each case a fresh rwsgi runs as a Lambda custom runtime against bench/runtime-api, the
benchmarks' native fake Runtime API, which reads a streamed reply chunk by chunk and times the
arrival of its first body byte as it comes off the socket. Each process answers a warm-up
invocation, then the measured one, with RWSGI_INVOKE_MODE buffered or response_stream.

A third side, when the AWS Lambda Web Adapter binary is given (--lwa, or BENCH_LWA=/path/to/
lambda-adapter; `cargo install lambda_web_adapter` builds it), runs the same app under gunicorn
(one sync worker, from target/bench-venv: bench/requirements.txt) with the adapter in front of it
in AWS_LWA_INVOKE_MODE=response_stream, the adapter being both the function's runtime and an
extension, as in its Lambda layer. Without the binary that side is skipped, saying so.

Everything (the Runtime API and the processes under test) runs on one CPU, the last this process
may use, as bench/run does. Measured:

- time to first byte: from the event handed out by /next to the first body byte the Runtime API
  has (for a buffered reply, the whole reply, since nothing reaches a client before it);
- the whole reply's time;
- rwsgi's peak resident memory (VmHWM) after the measured invocation, and its growth over the
  peak after the warm-up (taken once the runtime polls /next again); for the adapter's side, the
  sum of the adapter's, gunicorn's master's and its worker's.

Cases: a generator of 10 chunks 100 ms apart, and a 100 MiB download (64 KiB chunks), both
through a function URL event. The results replace the "Response streaming" section of
bench/RESULTS.md. Needs the release build of bench/runtime-api (bench/run builds it).
"""

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "## Response streaming (by hand: bench/stream.py)"

APP = r'''
import time

def application(environ, start_response):
    path = environ["PATH_INFO"]
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    if path == "/ticks":
        def ticks():
            for i in range(10):
                if i:
                    time.sleep(0.1)
                yield b"tick %d\n" % i
        return ticks()
    if path == "/download":
        block = b"x" * 65536
        return (block for _ in range(1600))
    return [b"warm\n"]
'''


def event(path):
    host = "abc123xmpl.lambda-url.us-east-1.on.aws"
    return json.dumps({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"host": host, "x-forwarded-proto": "https", "x-forwarded-port": "443"},
        "requestContext": {
            "apiId": "abc123xmpl", "domainName": host, "domainPrefix": "abc123xmpl",
            "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.1", "userAgent": "bench"},
            "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "02/Dec/2026:00:00:00 +0000", "timeEpoch": 0,
        },
        "isBase64Encoded": False,
    }).encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one(side, app_dir, mode, path, cpu):
    """One fresh runtime (rwsgi, or the adapter and gunicorn) for a warm-up and a measured
    invocation, under bench/runtime-api on one CPU."""
    warm = app_dir / "warm.json"
    warm.write_bytes(event("/warm"))
    measured = app_dir / f"event{path.replace('/', '-')}.json"
    measured.write_bytes(event(path))
    timings = app_dir / "timings.jsonl"
    argv = [side["api"], "--cpu", str(cpu), "--warmup", "1", "--warmup-event", str(warm),
            "--event", str(measured), "--count", "1", "--timings-out", str(timings),
            "--log", str(app_dir / f"{mode}.log"), "--timeout", "120",
            # What Lambda sets beside what the Runtime API server sets for every runtime; the
            # adapter's runtime client (lambda_runtime) reads these at start.
            # https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html
            "--env", "AWS_REGION=us-east-1"]
    gunicorn = None
    try:
        if mode == "lwa":
            port = free_port()
            gunicorn = subprocess.Popen(
                ["taskset", "-c", str(cpu), side["gunicorn"], "--workers", "1",
                 "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
                 "streambench:application"],
                env={"PATH": os.environ.get("PATH", "")}, cwd=app_dir,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # The adapter's settings: https://github.com/awslabs/aws-lambda-web-adapter
            # (README, "Configurations"); its readiness check GETs / until the app answers.
            argv += ["--watch-pid", str(gunicorn.pid), "--env", f"AWS_LWA_PORT={port}",
                     "--env", "AWS_LWA_INVOKE_MODE=response_stream", "--", side["lwa"]]
        else:
            argv += ["--env", f"LAMBDA_TASK_ROOT={app_dir}",
                     "--env", "RWSGI_APP=streambench:application",
                     "--env", f"RWSGI_INVOKE_MODE={mode}", "--", side["rwsgi"]]
        done = subprocess.run(argv, cwd=app_dir, env={"PATH": os.environ.get("PATH", "")},
                              capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise SystemExit(f"{mode}: {done.stderr.strip()}")
        out = json.loads(done.stdout)
        if out["lost"]:
            raise SystemExit(f"{mode}: an invocation was never answered (its log: "
                             f"{app_dir / (mode + '.log')})")
    finally:
        if gunicorn is not None:
            # The whole group at once: a gunicorn worker outlives a killed master for seconds.
            for pid in [gunicorn.pid, *children(gunicorn.pid)]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            gunicorn.wait()
    r = [json.loads(line) for line in timings.read_text().splitlines()][-1]
    high = out["tree_hwm_kb"] / 1024
    return {"ttfb_ms": r["ttfb_ms"], "total_ms": r["total_ms"], "bytes": r["bytes"],
            "peak_mib": high, "growth_mib": high - out["tree_hwm_idle_kb"] / 1024,
            "own_mib": out["hwm_kb"] / 1024}


def children(pid):
    """The processes under `pid` (gunicorn's worker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += [int(child), *children(int(child))]
    return found


def lwa_version(binary):
    """The crate version `cargo install --root R` recorded for the binary in R/.crates.toml."""
    crates = Path(binary).resolve().parent.parent / ".crates.toml"
    if crates.exists():
        for line in crates.read_text().splitlines():
            if line.startswith('"lambda_web_adapter '):
                return "lambda_web_adapter " + line.split()[1]
    return "lambda-adapter (version unknown)"


def gunicorn_version(gunicorn):
    out = subprocess.run([gunicorn, "--version"], capture_output=True, text=True)
    # It prints "gunicorn (version X)".
    return (out.stdout or out.stderr).strip().replace("(version ", "").rstrip(")")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rwsgi", default=str(ROOT / "target/release/rwsgi"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lwa", default=os.environ.get("BENCH_LWA", ""),
                    help="AWS Lambda Web Adapter's lambda-adapter binary (or BENCH_LWA)")
    ap.add_argument("--gunicorn", default=str(ROOT / "target/bench-venv/bin/gunicorn"))
    args = ap.parse_args()
    api = ROOT / "bench/runtime-api/target/release/bench-runtime-api"
    if not os.access(api, os.X_OK):
        raise SystemExit(f"{api} is missing: cargo build --release --manifest-path "
                         "bench/runtime-api/Cargo.toml")
    # Absolute: the processes start in the app's folder.
    side = {"rwsgi": os.path.abspath(args.rwsgi), "lwa": args.lwa and os.path.abspath(args.lwa),
            "gunicorn": os.path.abspath(args.gunicorn), "api": str(api)}
    modes = ["buffered", "response_stream"]
    if not args.lwa:
        print("AWS Lambda Web Adapter side skipped: no binary given (--lwa or "
              "BENCH_LWA=/path/to/lambda-adapter)", file=sys.stderr)
    elif not os.access(args.lwa, os.X_OK):
        raise SystemExit(f"--lwa/BENCH_LWA: {args.lwa} is not an executable")
    elif not os.access(args.gunicorn, os.X_OK):
        raise SystemExit(f"the adapter's side needs gunicorn: {args.gunicorn} is missing "
                         "(pip install -r bench/requirements.txt into target/bench-venv)")
    else:
        modes.append("lwa")
    # One CPU for everything, as bench/run pins its Runtime API and the runtime together.
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    app_dir = ROOT / "target/bench-stream"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "streambench.py").write_text(APP)
    load_before = os.getloadavg()[0]
    rows = []
    adapter_mib = []
    lwa_ttfb = []
    for name, path in [("10 chunks, 100 ms apart", "/ticks"), ("100 MiB download", "/download")]:
        samples = {mode: [] for mode in modes}
        for _ in range(args.runs):
            for mode in samples:  # alternately
                samples[mode].append(one(side, app_dir, mode, path, cpu))
        for mode, runs in samples.items():
            med = lambda key: statistics.median(r[key] for r in runs if r[key] is not None)
            rows.append((name, mode, med("ttfb_ms"), med("total_ms"), med("bytes"),
                         med("peak_mib"), med("growth_mib")))
            if mode == "lwa":
                adapter_mib.append(med("own_mib"))
                lwa_ttfb.append(", ".join(f"{r['ttfb_ms']:.1f}" for r in runs))
            print(rows[-1], file=sys.stderr)
    load_after = os.getloadavg()[0]
    pinned = cpu
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    names = {"buffered": "rwsgi, buffered", "response_stream": "rwsgi, response_stream",
             "lwa": "Web Adapter + gunicorn, response_stream"}
    out = [MARK, "",
           f"Run {time.strftime('%Y-%m-%d', time.gmtime())} on {cpu}, {os.cpu_count()} vCPUs, a "
           f"virtual machine; {platform.freedesktop_os_release().get('PRETTY_NAME', '')}. Load "
           f"average {load_before:.2f} before, {load_after:.2f} after"
           f"{' (a busy machine)' if max(load_before, load_after) > 0.5 else ''}. Medians of {args.runs} fresh processes per row, the sides alternately; "
           f"everything on CPU {pinned}; function URL event; release build.", "",
           "Time to first byte: from /next handing out the event to the first body byte the "
           "Runtime API has (a buffered reply arrives whole, so its first byte is its last). "
           "Peak: rwsgi's VmHWM after the invocation (for the Web Adapter's side, the sum of the "
           "adapter's, gunicorn's master's and its worker's); growth: over that peak after a "
           "warm-up invocation.", "",
           "| case | mode | first byte | whole reply | bytes posted (reply JSON, or prelude + body) | peak | growth |",
           "|---|---|---|---|---|---|---|"]
    for name, mode, ttfb, total, nbytes, peak, growth in rows:
        out.append(f"| {name} | {names[mode]} | {ttfb:.1f} ms | {total:.1f} ms | {int(nbytes):,} | "
                   f"{peak:.1f} MiB | {growth:+.1f} MiB |")
    out += ["", "A buffered 100 MiB reply cannot be sent at all: the app's iteration stops at "
            "Lambda's 6 MB limit and the client gets a 500 saying so (its bytes are that 500's)."]
    if "lwa" in modes:
        out += ["", f"The Web Adapter: {lwa_version(args.lwa)} (`cargo install`, release "
                "profile), as the function's runtime and an extension (it registers with the "
                f"Extensions API, as in its layer), in front of {gunicorn_version(args.gunicorn)} "
                "with one sync worker serving the same WSGI app over loopback HTTP/1.1 "
                "(chunked); AWS_LWA_INVOKE_MODE=response_stream. Of its side's peak, the adapter "
                f"itself held {' and '.join(f'{m:.1f}' for m in adapter_mib)} MiB (the two cases), "
                "gunicorn's two processes the rest.", "",
                f"The adapter's first bytes, run by run: {lwa_ttfb[0]} ms (chunks) and "
                f"{lwa_ttfb[1]} ms (download). Where one is about 40 ms later than the others, "
                "its prelude reached the Runtime API at about 2 ms and the 8-byte separator that "
                "follows it, a write of its own, waited for the prelude's ACK (Nagle's "
                "algorithm: the adapter's Runtime API client, lambda_runtime on hyper-util's "
                "HttpConnector, leaves TCP_NODELAY off, and Linux delays that ACK on this "
                "loopback connection); how often that happens against Lambda's own Runtime API "
                "was not measured here."]
    else:
        out += ["", "AWS Lambda Web Adapter's side was not run (no binary given: BENCH_LWA)."]
    results = ROOT / "bench/RESULTS.md"
    text = results.read_text()
    if MARK in text:
        text = text[:text.index(MARK)].rstrip("\n") + "\n"
    results.write_text(text + "\n" + "\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
