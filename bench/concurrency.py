#!/usr/bin/env python3
"""Lambda Managed Instances, by hand: N slots (AWS_LAMBDA_MAX_CONCURRENCY), a Flask app that
waits on I/O per request (bench/apps/waitapp.py: 20 ms, or --wait-ms), rwsgi against awslambdaric
4.2.2 with apig-wsgi, in its own Managed Instances mode (one process per slot, forked before each
imports the app) and as N of its classic processes side by side.

The Runtime API is bench/runtime-api (native, lean: it must not be what limits throughput),
which takes as many concurrent `/next` long polls as the runtime makes, as Lambda Managed
Instances does. For each run it waits until all N slots poll, hands out a warm-up of 4
invocations per slot, waits until all poll again, takes the memory of the runtime's processes
(PSS from /proc/PID/smaps_rollup summed over the runtime and all its descendants, so pages
shared between processes count once), then hands out --count invocations at once and measures:
invocations per second; CPU time per invocation summed over every process of the runtime (where
its own costs show when the wall clock is the limit), the Runtime API's own, and the whole
machine's busy time over the same span (the machine is shared: what others took shows there,
with the load average); latency; and memory again once every slot polls again.

    bench/concurrency.py [--slots 8] [--count 2000] [--rounds 3] [--wait-ms 20 [0 ...]]
                         [--cpu N] [--sides rwsgi,ric-lmi,ric-n]

--wait-ms runs each given wait in turn (0: the app does no I/O, so CPU time alone decides
throughput); --cpu N runs the Runtime API and the runtime on that one CPU. One JSON line per run,
then a table per wait. Like bench/run, it runs at niceness -20 when it may, ahead of other
processes on the machine.

Needs target/release/rwsgi, target/bench-venv and the release build of bench/runtime-api
(bench/run sets them up).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "bench" / "apps"
VENV = ROOT / "target" / "bench-venv"
PYTHON = VENV / "bin" / "python"
RWSGI = ROOT / "target" / "release" / "rwsgi"
API = ROOT / "bench" / "runtime-api" / "target" / "release" / "bench-runtime-api"

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

SIDES = {
    "rwsgi": "rwsgi (one import, N forked workers)",
    "ric-lmi": "awslambdaric + apig-wsgi, its Managed Instances mode (N processes)",
    "ric-n": "awslambdaric + apig-wsgi, N classic processes",
}


def side_argv(side, slots):
    """The runtime's command and environment (as --env pairs), and how many copies."""
    ric = [str(PYTHON), "-m", "awslambdaric", "waitapp.apig_handler"]
    if side == "rwsgi":
        env = {"AWS_LAMBDA_MAX_CONCURRENCY": str(slots), "RWSGI_APP": "waitapp:app",
               "RWSGI_VENV": str(VENV)}
        return [str(RWSGI), "lambda"], env, 1
    if side == "ric-lmi":
        return ric, {"AWS_LAMBDA_MAX_CONCURRENCY": str(slots), "PYTHONPATH": str(APPS)}, 1
    return ric, {"PYTHONPATH": str(APPS)}, slots


def run(side, slots, count, wait_ms, cpu, event_path):
    command, env, copies = side_argv(side, slots)
    env.update(LAMBDA_TASK_ROOT=str(APPS), BENCH_WAIT_MS=str(wait_ms))
    log = Path(tempfile.gettempdir()) / f"concurrency-{side}.log"
    argv = [str(API), "--event", str(event_path), "--count", str(count),
            "--warmup", str(4 * slots), "--concurrency", str(slots), "--copies", str(copies),
            "--log", str(log), "--timeout", "600"]
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    argv += ["--", *command]
    done = subprocess.run(argv, cwd=APPS, env={"PATH": os.environ.get("PATH", "")},
                          capture_output=True, text=True, timeout=700)
    if done.returncode != 0:
        raise SystemExit(f"{side}: {done.stderr.strip()} (its log: {log})")
    r = json.loads(done.stdout)
    if r["not_200"] or r["errors"] or r["unechoed"]:
        raise SystemExit(f"{side}: {r['not_200']} replies not 200, {r['errors']} errors, "
                         f"{r['unechoed']} without their invocation id (its log: {log})")
    return {
        "side": side,
        "wait_ms": wait_ms,
        "cpu": cpu,
        "per_s": r["warm_per_s"],
        "cpu_ms_per_invocation": r["cpu_us_per_invocation"] / 1000,
        "api_cpu_ms_per_invocation": r["api_cpu_us_per_invocation"] / 1000,
        "machine_busy_ms_per_invocation": r["machine_busy_cpu_us_per_invocation"] / 1000,
        "steal_ms": r["machine_steal_ms"],
        "load": [r["load_before"], r["load_after"]],
        "latency_ms_p50": r["total_ms_p50"],
        "latency_ms_p99": r["total_ms_p99"],
        "pss_idle_mb": r["pss_idle_kb"] / 1024,
        "pss_after_mb": r["pss_kb"] / 1024,
        "processes": r["processes"],
        "max_outstanding_next": r["max_outstanding_next"],
    }


def table(results, sides, slots, wait_ms, cpu):
    """A markdown table of the medians for one wait."""
    where = f"on CPU {cpu} alone" if cpu is not None else f"on {os.cpu_count()} CPUs"
    ceiling = f"; the wall-clock ceiling is {slots} / {wait_ms} ms = {slots * 1000 / wait_ms:.0f}/s" \
        if wait_ms else ""
    out = [f"{slots} slots, the app waiting {wait_ms} ms, {where}{ceiling}:", "",
           "| runtime | invocations/s | CPU ms per invocation (runtime) | (Runtime API) | "
           "(whole machine) | latency p50 / p99 | PSS idle | PSS after | processes |",
           "|---|---|---|---|---|---|---|---|---|"]
    med = {}
    for side in sides:
        mine = [r for r in results if r["side"] == side]
        if not mine:
            continue
        m = {k: statistics.median(r[k] for r in mine)
             for k in ["per_s", "cpu_ms_per_invocation", "api_cpu_ms_per_invocation",
                       "machine_busy_ms_per_invocation", "latency_ms_p50", "latency_ms_p99",
                       "pss_idle_mb", "pss_after_mb", "processes"]}
        med[side] = m
        out.append(f"| {SIDES[side]} | {m['per_s']:.0f} | {m['cpu_ms_per_invocation']:.2f} | "
                   f"{m['api_cpu_ms_per_invocation']:.2f} | {m['machine_busy_ms_per_invocation']:.2f} | "
                   f"{m['latency_ms_p50']:.1f} / {m['latency_ms_p99']:.1f} ms | "
                   f"{m['pss_idle_mb']:.1f} MB | {m['pss_after_mb']:.1f} MB | {m['processes']:.0f} |")
    if "rwsgi" in med:
        for other in ("ric-lmi", "ric-n"):
            if other in med:
                a, b = med["rwsgi"], med[other]
                out.append(f"| rwsgi / {other} | {a['per_s'] / b['per_s']:.2f}x | "
                           f"{a['cpu_ms_per_invocation'] / b['cpu_ms_per_invocation']:.2f}x | | | | "
                           f"{a['pss_idle_mb'] / b['pss_idle_mb']:.2f}x | "
                           f"{a['pss_after_mb'] / b['pss_after_mb']:.2f}x | |")
    loads = [x for r in results for x in r["load"]]
    out += ["", f"Medians of {len(results) // max(len(med), 1)} runs per side, the sides in turn, "
            f"at niceness {os.getpriority(os.PRIO_PROCESS, 0)}; load average {min(loads):.1f} to "
            f"{max(loads):.1f} during the runs; the hypervisor took "
            f"{statistics.median(r['steal_ms'] for r in results):.0f} ms (median) of CPU time "
            "from this machine during a run."]
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wait-ms", type=float, nargs="+", default=[20])
    parser.add_argument("--cpu", type=int, help="run the Runtime API and the runtime on this CPU")
    parser.add_argument("--sides", default="rwsgi,ric-lmi,ric-n")
    args = parser.parse_args()
    sides = [s for s in args.sides.split(",") if s]
    for s in sides:
        if s not in SIDES:
            raise SystemExit(f"unknown side {s}: one of {', '.join(SIDES)}")
    for path in (RWSGI, PYTHON, API):
        if not path.exists():
            raise SystemExit(f"{path} is missing: bench/run builds it")
    try:
        # As bench/run: the highest priority, so that other work on the machine yields.
        os.setpriority(os.PRIO_PROCESS, 0, -20)
    except OSError:
        pass
    tables = []
    with tempfile.NamedTemporaryFile(suffix=".json") as event:
        event.write(EVENT)
        event.flush()
        for wait_ms in args.wait_ms:
            wait_ms = int(wait_ms) if wait_ms == int(wait_ms) else wait_ms
            results = []
            for round_ in range(args.rounds):
                for side in sides:
                    r = run(side, args.slots, args.count, wait_ms, args.cpu, event.name)
                    r["round"] = round_
                    print(json.dumps(r), flush=True)
                    results.append(r)
            tables.append(table(results, sides, args.slots, wait_ms, args.cpu))
    print()
    print("\n\n".join(tables))


if __name__ == "__main__":
    sys.exit(main())
