#!/usr/bin/env python3
"""Response streaming, buffered vs streamed, run by hand:

    python3 bench/stream.py [--rwsgi target/release/rwsgi] [--runs 5]

For each case a fresh rwsgi runs as a Lambda custom runtime against a small Runtime API served
here (plain sockets, so each chunk's arrival is timed as it comes off the socket). Each process
answers a warm-up invocation, then the measured one, with RWSGI_INVOKE_MODE buffered or
response_stream. Measured:

- time to first byte: from the event handed out by /next to the first body byte the Runtime API
  has (for a buffered reply, the whole reply, since nothing reaches a client before it);
- the whole reply's time;
- rwsgi's peak resident memory (VmHWM) after the measured invocation, and its growth over the
  peak after the warm-up.

Cases: a generator of 10 chunks 100 ms apart, and a 100 MiB download (64 KiB chunks), both
through a function URL event. The results replace the "Response streaming" section of
bench/RESULTS.md.
"""

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
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


class RuntimeApi:
    """Hands out the queued events one by one and times what comes back."""

    def __init__(self, events):
        self.events = list(events)
        self.results = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        f = conn.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                return
            method, target, _ = line.decode().split(" ", 2)
            headers = {}
            while True:
                h = f.readline().decode()
                if h in ("\r\n", ""):
                    break
                k, v = h.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            if "/extension/" in target:
                # rwsgi registers for SHUTDOWN through the Extensions API; no event ever comes.
                if target.endswith("/register"):
                    n = int(headers.get("content-length", "0"))
                    f.read(n)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: x\r\n"
                                 b"Content-Length: 2\r\n\r\n{}")
                    continue
                time.sleep(3600)
                return
            if target.endswith("/invocation/next"):
                if not self.events:
                    self.done.set()
                    time.sleep(3600)
                    return
                body = self.events.pop(0)
                self.handed_at = time.perf_counter()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: req-%d\r\n"
                    b"Lambda-Runtime-Deadline-Ms: %d\r\nContent-Length: %d\r\n\r\n"
                    % (len(self.results), int(time.time() * 1000) + 600_000, len(body)) + body)
                continue
            first = None
            total = 0
            if headers.get("transfer-encoding") == "chunked":
                seen = b""
                while True:
                    size = int(f.readline().split(b";")[0], 16)
                    if size == 0:
                        while f.readline() not in (b"\r\n", b""):
                            pass
                        break
                    data = f.read(size)
                    f.read(2)
                    total += size
                    if first is None:
                        seen += data
                        at = seen.find(b"\0" * 8)
                        if at >= 0 and len(seen) > at + 8:
                            first = time.perf_counter()
            else:
                n = int(headers.get("content-length", "0"))
                total = len(f.read(n))
                first = time.perf_counter()
            end = time.perf_counter()
            handed_at = self.handed_at
            self.results.append({
                "ttfb_ms": (first - handed_at) * 1000 if first else None,
                "total_ms": (end - handed_at) * 1000,
                "bytes": total,
            })
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")


def peak_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one(rwsgi, app_dir, mode, path):
    api = RuntimeApi([event("/warm"), event(path)])
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.port}",
        "LAMBDA_TASK_ROOT": str(app_dir),
        "RWSGI_APP": "streambench:application",
        "RWSGI_INVOKE_MODE": mode,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
    }
    proc = subprocess.Popen([rwsgi], env=env, cwd=app_dir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while len(api.results) < 1:
            time.sleep(0.005)
        base = peak_mib(proc.pid)
        if not api.done.wait(120):
            raise SystemExit("rwsgi did not finish")
        peak = peak_mib(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    r = api.results[1]
    r.update(peak_mib=peak, growth_mib=peak - base)
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rwsgi", default=str(ROOT / "target/release/rwsgi"))
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    app_dir = ROOT / "target/bench-stream"
    app_dir.mkdir(parents=True, exist_ok=True)
    (app_dir / "streambench.py").write_text(APP)
    load_before = os.getloadavg()[0]
    rows = []
    for name, path in [("10 chunks, 100 ms apart", "/ticks"), ("100 MiB download", "/download")]:
        samples = {"buffered": [], "response_stream": []}
        for _ in range(args.runs):
            for mode in samples:  # alternately
                samples[mode].append(one(args.rwsgi, app_dir, mode, path))
        for mode, runs in samples.items():
            med = lambda key: statistics.median(r[key] for r in runs if r[key] is not None)
            rows.append((name, mode, med("ttfb_ms"), med("total_ms"), med("bytes"),
                         med("peak_mib"), med("growth_mib")))
            print(rows[-1], file=sys.stderr)
    load_after = os.getloadavg()[0]
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    out = [MARK, "",
           f"Run {time.strftime('%Y-%m-%d', time.gmtime())} on {cpu}, {os.cpu_count()} vCPUs, a "
           f"virtual machine; {platform.freedesktop_os_release().get('PRETTY_NAME', '')}. Load "
           f"average {load_before:.2f} before, {load_after:.2f} after (other work shared the "
           f"machine). Medians of {args.runs} fresh processes per row, buffered and streamed "
           "alternately; function URL event; release build.", "",
           "Time to first byte: from /next handing out the event to the first body byte the "
           "Runtime API has (a buffered reply arrives whole, so its first byte is its last). "
           "Peak: rwsgi's VmHWM after the invocation; growth: over its peak after a warm-up "
           "invocation.", "",
           "| case | mode | first byte | whole reply | bytes posted (reply JSON, or prelude + body) | peak | growth |",
           "|---|---|---|---|---|---|---|"]
    for name, mode, ttfb, total, nbytes, peak, growth in rows:
        out.append(f"| {name} | {mode} | {ttfb:.1f} ms | {total:.1f} ms | {int(nbytes):,} | "
                   f"{peak:.1f} MiB | {growth:+.1f} MiB |")
    out += ["", "A buffered 100 MiB reply cannot be sent at all: the app's iteration stops at "
            "Lambda's 6 MB limit and the client gets a 500 saying so (its bytes are that 500's). "
            "AWS Lambda Web Adapter's streaming was not run: it is built from source (a large "
            "build of its own), and its mid-stream errors go into the body as text "
            "(lambda_runtime 1.5's StreamResponse), so it would not be a like-for-like error path."]
    results = ROOT / "bench/RESULTS.md"
    text = results.read_text()
    if MARK in text:
        text = text[:text.index(MARK)].rstrip("\n") + "\n"
    results.write_text(text + "\n" + "\n".join(out) + "\n")
    print("\n".join(out))


if __name__ == "__main__":
    main()
