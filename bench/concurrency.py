#!/usr/bin/env python3
"""Lambda Managed Instances, by hand: N slots (AWS_LAMBDA_MAX_CONCURRENCY), a Flask app that
waits 20 ms on I/O per request (bench/apps/waitapp.py), rwsgi against awslambdaric 4.2.2 with
apig-wsgi in its Managed Instances mode. A threaded fake Runtime API answers as many concurrent
`/next` long polls as the runtime makes; the script measures throughput over a fixed number of
invocations and the total memory of the runtime's processes (PSS from
/proc/PID/smaps_rollup, summed over the process and its descendants), after a warm-up and again
after the run.

    bench/concurrency.py [--slots 8] [--count 2000] [--rounds 3] [--ric-lmi]

Needs target/release/rwsgi and target/bench-venv (bench/run sets it up).
"""

import argparse
import http.server
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "bench" / "apps"
VENV = ROOT / "target" / "bench-venv"
PYTHON = VENV / "bin" / "python"
RWSGI = ROOT / "target" / "release" / "rwsgi"

EVENT = json.dumps(
    {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/wait",
        "rawQueryString": "q=1",
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", "accept": "*/*"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": "GET", "path": "/wait", "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.7", "userAgent": "bench"},
            "requestId": "bench",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Dec/2026:00:00:00 +0000",
            "timeEpoch": 1796083200000,
        },
        "isBase64Encoded": False,
    }
).encode()


class Api:
    def __init__(self):
        self.events = queue.Queue()
        self.done = 0
        self.bad = 0
        self.polling = 0
        self.lock = threading.Condition()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The head and the body go in two writes: with Nagle's algorithm the second waits
            # for the client's delayed ACK of the first.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.endswith("/runtime/invocation/next"):
                    with api.lock:
                        api.polling += 1
                        api.lock.notify_all()
                    n = api.events.get()
                    with api.lock:
                        api.polling -= 1
                    self._send(200, EVENT, [
                        ("Content-Type", "application/json"),
                        ("Lambda-Runtime-Aws-Request-Id", f"8476a536-e9f4-11e8-9739-{n:012x}"),
                        ("Lambda-Runtime-Invocation-Id", f"5d1c2f0a-9b7e-4c3d-8e21-{n:012x}"),
                        ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000)),
                        ("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                        ("Lambda-Runtime-Trace-Id", f"Root=1-5e1b4151-{n:024x}"),
                    ])
                else:
                    self._send(404, b"{}")

            def do_POST(self):
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size + 2)
                        if size == 0:
                            break
                        body += chunk[:-2]
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "/runtime/invocation/" in self.path:
                    try:
                        ok = self.path.endswith("/response") and json.loads(body)["statusCode"] == 200
                    except (ValueError, KeyError, TypeError):
                        ok = False
                    with api.lock:
                        api.done += 1
                        api.bad += 0 if ok else 1
                        api.lock.notify_all()
                    self._send(202, b'{"status":"OK"}')
                else:
                    self._send(404, b"{}")

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        return "%s:%d" % self.server.server_address

    def run(self, count, start_at):
        with self.lock:
            target = self.done + count
        for n in range(count):
            self.events.put(start_at + n)
        with self.lock:
            while self.done < target:
                if not self.lock.wait(120):
                    raise SystemExit("the runtime stopped answering")

    def wait_polling(self, n, limit=60):
        end = time.time() + limit
        with self.lock:
            while self.polling < n:
                if time.time() > end:
                    raise SystemExit(f"only {self.polling} of {n} workers polled")
                self.lock.wait(0.1)


def tree(pid):
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def pss_kb(pid):
    total = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total, len(tree(pid))


def side(name, command, env, slots, count, copies=1):
    """One runtime with `slots` workers, or (`copies` > 1) that many single-slot runtime
    processes side by side."""
    api = Api()
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_MAX_CONCURRENCY": str(slots),
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "LAMBDA_TASK_ROOT": str(APPS),
        **env,
    }
    if copies > 1:
        del full_env["AWS_LAMBDA_MAX_CONCURRENCY"]
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"concurrency-{name}.log", "wb")
    processes = [
        subprocess.Popen(command, env=full_env, cwd=APPS, stdout=log, stderr=log)
        for _ in range(copies)
    ]
    try:
        api.wait_polling(slots)
        api.run(4 * slots, 0)
        api.wait_polling(slots)
        idle_pss, procs = map(sum, zip(*(pss_kb(p.pid) for p in processes)))
        started = time.perf_counter()
        api.run(count, 10_000)
        took = time.perf_counter() - started
        api.wait_polling(slots)
        after_pss = sum(pss_kb(p.pid)[0] for p in processes)
        return {
            "side": name,
            "per_s": count / took,
            "pss_idle_mb": idle_pss / 1024,
            "pss_after_mb": after_pss / 1024,
            "processes": procs,
            "bad": api.bad,
        }
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                for p in tree(process.pid):
                    try:
                        os.kill(p, 9)
                    except OSError:
                        pass
                process.wait()
        api.server.shutdown()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ric-lmi", action="store_true",
                        help="also run awslambdaric's own Managed Instances mode")
    args = parser.parse_args()
    ric = [str(PYTHON), "-m", "awslambdaric", "waitapp.apig_handler"]
    # awslambdaric 4.2.2's Managed Instances mode forks its workers before the import, so each
    # imports the app itself: N of its classic single-slot processes are the same memory model.
    # Its mode itself is run too, and reported when it works against this fake.
    sides = [
        ("rwsgi", [str(RWSGI), "lambda"], {"RWSGI_APP": "waitapp:app", "RWSGI_VENV": str(VENV)}, 1),
        ("awslambdaric+apig-wsgi x N processes", ric, {"PYTHONPATH": str(APPS)}, args.slots),
    ]
    if args.ric_lmi:
        sides.append(("awslambdaric+apig-wsgi LMI mode", ric, {"PYTHONPATH": str(APPS)}, 1))
    results = []
    for round_ in range(args.rounds):
        for name, command, env, copies in sides:
            r = side(name, command, env, args.slots, args.count, copies)
            r["round"] = round_
            print(json.dumps(r), flush=True)
            results.append(r)
    for name, _, _, _ in sides:
        mine = sorted((r for r in results if r["side"] == name), key=lambda r: r["per_s"])
        mid = mine[len(mine) // 2]
        print(f"{name}: median {mid['per_s']:.0f} invocations/s, PSS {mid['pss_idle_mb']:.1f} MB idle, "
              f"{mid['pss_after_mb']:.1f} MB after, {mid['processes']} processes", flush=True)


if __name__ == "__main__":
    sys.exit(main())
