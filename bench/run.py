"""rwsgi's benchmark suite: runs every comparison, then writes results.json (every raw number),
RESULTS.md (the tables, targets and verdicts) and results.png (the same numbers drawn).

Started by bench/run, which installs what this needs and builds the binaries; run that, not this.

Every comparison runs its sides alternately (A B C A B C ...), so that a machine that drifts
(turbo, a noisy neighbour, a page cache filling) drifts for all sides alike, and reports medians.
Ratios are always rwsgi / the other side.
"""

import argparse
import base64
import datetime
import json
import os
import platform
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
APPS = BENCH / "apps"
VENV = ROOT / "target" / "bench-venv"
PYTHON = VENV / "bin" / "python"
RWSGI = ROOT / "target" / "release" / "rwsgi"
API = BENCH / "runtime-api" / "target" / "release" / "bench-runtime-api"
EVENT = BENCH / "events" / "http-api-v2.json"
LIGHTTPD_CONF = ROOT / "cgi" / "lighttpd.conf"
GNU_TIME = "/usr/bin/time"

MIB = 1 << 20
HELLO = b"Hello, world!\n"
# Lambda's limit on a synchronous reply, as rwsgi applies it (src/lambda/reply.rs).
LAMBDA_REPLY_LIMIT = 6_291_556

COMPARISONS = [
    "lambda-warm", "lambda-cold", "lambda-package", "cgi", "cli", "big-bodies", "memory", "fastcgi",
]
TITLES = {
    "lambda-warm": "Lambda, warm invocations",
    "lambda-cold": "Lambda, cold start",
    "lambda-package": "Lambda, cold start of the deployed package",
    "cgi": "CGI",
    "cli": "One-shot CLI",
    "big-bodies": "Big bodies",
    "memory": "Memory after many invocations",
    "fastcgi": "FastCGI under nginx",
}

# How much of everything a run does. The full plan takes six or seven minutes on a 2-core machine;
# the quick one checks that every path works and gives rough numbers.
PLANS = {
    "full": {
        "ceiling_runs": 5,
        "ceiling_count": 20000,
        # Many short rounds rather than a few long ones: on a shared VM one runtime process
        # runs up to 15% faster or slower than the next one started a second later (the fake
        # Runtime API's own CPU per invocation moves with it), so the median needs many pairs.
        "warm_rounds": 25,
        "warm_count": {"hello": 2000, "flaskapp": 800},
        "cold_rounds": 60,
        "package_rounds": 30,
        "cgi_rounds": {"hello": 60, "flaskapp": 30},
        "peak_rounds": 5,
        "lighttpd_rounds": 5,
        "lighttpd_requests": {"hello": 400, "flaskapp": 100},
        "cli_rounds": {"hello": 60, "flaskapp": 30},
        "big_lambda_rounds": 7,
        "big_lambda_count": 6,
        "big_cgi_rounds": 15,
        "memory_rounds": 5,
        "memory_count": 10000,
        "fastcgi_rounds": 3,
        "fastcgi_seconds": 8,
        "warmup": 2,
    },
    "quick": {
        "ceiling_runs": 1,
        "ceiling_count": 5000,
        "warm_rounds": 2,
        "warm_count": {"hello": 1500, "flaskapp": 500},
        "cold_rounds": 6,
        "package_rounds": 3,
        "cgi_rounds": {"hello": 10, "flaskapp": 5},
        "peak_rounds": 2,
        "lighttpd_rounds": 1,
        "lighttpd_requests": {"hello": 60, "flaskapp": 30},
        "cli_rounds": {"hello": 10, "flaskapp": 5},
        "big_lambda_rounds": 2,
        "big_lambda_count": 3,
        "big_cgi_rounds": 3,
        "memory_rounds": 1,
        "memory_count": 2000,
        "fastcgi_rounds": 1,
        "fastcgi_seconds": 2,
        "warmup": 1,
    },
}

# The apps, as each side names them.
APP_SPECS = {"hello": "hello:application", "flaskapp": "flaskapp:app", "bodies": "bodies:application"}
APP_LABELS = {"hello": "hello world", "flaskapp": "Flask"}

# Side names, as they appear in the results.
RWSGI_SIDE = "rwsgi"
APIG = "awslambdaric+apig-wsgi"
SLS = "awslambdaric+serverless-wsgi"
CGIHANDLER = "wsgiref CGIHandler"
FLOOR = "python -c 'import app'"
WERKZEUG = "werkzeug test Client"

# A plain environment for everything started, so that the caller's shell (PYTHONPATH, a
# virtualenv it activated) changes nothing.
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}


class BenchError(Exception):
    pass


class OtherLoad:
    """CPU time that processes outside the benchmark used while it ran: the machine's user and
    system time (/proc/stat) minus this process's and its children's. Every process the benchmark
    starts is waited for, by this process or by one that this process waits for, so all of it
    is in RUSAGE_CHILDREN by the time a comparison ends. Interrupt time is left out on both
    sides: the loopback traffic of the Lambda comparisons lands there."""

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = fields
        hz = os.sysconf("SC_CLK_TCK")
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        mine = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        return (user + nice + system) / hz, steal / hz, mine, time.monotonic()

    def result(self):
        busy0, steal0, mine0, t0 = self.start
        busy1, steal1, mine1, t1 = self._sample()
        capacity = max(t1 - t0, 1e-9) * (os.cpu_count() or 1)
        other = max(0.0, (busy1 - busy0) - (mine1 - mine0))
        return {
            "other_cpu_s": round(other, 2),
            "other_share": round(other / capacity, 4),
            "steal_share": round((steal1 - steal0) / capacity, 4),
        }


# The niceness the benchmark runs at when it may: the highest priority.
PRIORITY = -20

# Above this share of the machine's CPU time taken by other processes, a comparison's numbers
# are flagged as disturbed.
BUSY_SHARE = 0.05


def log(message):
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------
# Numbers


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b in (None, 0):
        return None
    return a / b


def medians(samples):
    """The median of each numeric field of a list of result dicts."""
    keys = [k for k, v in samples[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return {k: median([s[k] for s in samples]) for k in keys}


def alternate(sides, rounds, warmup, measure):
    """Runs measure(side) for every side in turn, `rounds` times after `warmup` unrecorded
    rounds; returns {side name: [result, ...]}."""
    for _ in range(warmup):
        for side in sides:
            measure(side)
    samples = {side.name: [] for side in sides}
    for _ in range(rounds):
        for side in sides:
            samples[side.name].append(measure(side))
    return samples


# ---------------------------------------------------------------------------------------------
# Processes


def run_checked(argv, timeout, what, **kwargs):
    result = subprocess.run(argv, capture_output=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise BenchError(
            f"{what} failed (exit {result.returncode}): {' '.join(map(str, argv))}\n"
            + result.stderr.decode(errors="replace")[-3000:]
        )
    return result.stdout.decode(errors="replace")


@dataclass
class Timed:
    wall_ms: float
    exit: int
    stdout: bytes
    # When the whole response had arrived: the CGI headers and as many body bytes as their
    # Content-Length says (else the end of the output). A web server can finish the client's
    # response then, while the process may still be tearing down.
    response_ms: float


def timed_run(argv, env, cwd, stdin_data=None, stderr=None, timeout=120):
    """Starts one process, feeds it stdin_data (if any), reads its stdout to the end and reaps
    it; returns the wall time from just before the start to just after the reaping. One select
    loop does the feeding and the reading, so no thread is started inside the timed span."""
    response_at = None
    expected = None  # the output's length once its CGI headers are in, when they give one
    start = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.DEVNULL,
    )
    try:
        out = bytearray()
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout.fileno(), selectors.EVENT_READ)
            pending = memoryview(stdin_data) if stdin_data is not None else None
            if pending is not None:
                os.set_blocking(proc.stdin.fileno(), False)
                selector.register(proc.stdin.fileno(), selectors.EVENT_WRITE)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BenchError(f"{argv[0]} took longer than {timeout} s")
                for key, _ in selector.select(left):
                    if key.events & selectors.EVENT_READ:
                        chunk = os.read(key.fd, 1 << 16)
                        if chunk:
                            out += chunk
                            if expected is None:
                                expected = cgi_length(out)
                            if response_at is None and expected is not None and 0 <= expected <= len(out):
                                response_at = time.perf_counter()
                        else:
                            selector.unregister(key.fd)
                            if response_at is None:
                                response_at = time.perf_counter()
                    else:
                        try:
                            pending = pending[os.write(key.fd, pending[: 1 << 16]) :]
                        except BrokenPipeError:
                            pending = pending[:0]
                        if not pending:
                            selector.unregister(key.fd)
                            proc.stdin.close()
        proc.wait()
        elapsed = time.perf_counter() - start
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        raise
    finally:
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
    return Timed(elapsed * 1000.0, proc.returncode, bytes(out), (response_at - start) * 1000.0)


def cgi_length(out):
    """The full length of a CGI output whose headers are all in `out` and name a Content-Length;
    -1 when they are in and do not (the end of the output ends the response); None before."""
    end = out.find(b"\r\n\r\n")
    gap = 4
    if end < 0:
        end, gap = out.find(b"\n\n"), 2
    if end < 0:
        return None
    match = re.search(rb"(?im)^content-length:[ \t]*(\d+)", bytes(out[:end]))
    return end + gap + int(match.group(1)) if match else -1


def peak_run(argv, env, cwd, stdin_data=None, stderr=None):
    """Runs one process as timed_run does, under GNU time, and returns (its peak RSS in KiB,
    the Timed of the whole). A process started from this one cannot report its own peak: at exec
    the kernel carries the high-water mark of the address space it leaves, a copy of (or, after
    vfork, the very) address space of this Python process, into the process's ru_maxrss. GNU
    time is a small program: what it carries over is far below any Python process's peak."""
    with tempfile.NamedTemporaryFile("r", prefix="peak-") as report:
        result = timed_run([GNU_TIME, "-f", "%M", "-o", report.name, *argv], env, cwd, stdin_data, stderr)
        lines = report.read().split()
    if not lines or not lines[-1].isdigit():
        raise BenchError(f"{GNU_TIME} reported no peak for {argv[0]}: {lines}")
    return int(lines[-1]), result


# ---------------------------------------------------------------------------------------------
# Lambda through the fake Runtime API


@dataclass
class LambdaSide:
    name: str
    command: list
    env: dict = field(default_factory=dict)


def lambda_sides(module, with_sls=True):
    spec = APP_SPECS[module]
    sides = [
        # As the deployment's bootstrap starts it.
        LambdaSide(
            RWSGI_SIDE,
            [str(RWSGI), "lambda"],
            {"RWSGI_APP": spec, "RWSGI_VENV": str(VENV), "LAMBDA_TASK_ROOT": str(APPS)},
        ),
        # As AWS's Python container images start their runtime client
        # (`python -m awslambdaric module.handler`), the function's folder on the path.
        LambdaSide(
            APIG,
            [str(PYTHON), "-m", "awslambdaric", f"{module}.apig_handler"],
            {"LAMBDA_TASK_ROOT": str(APPS), "PYTHONPATH": str(APPS)},
        ),
    ]
    if with_sls:
        sides.append(
            LambdaSide(
                SLS,
                [str(PYTHON), "-m", "awslambdaric", f"{module}.sls_handler"],
                {"LAMBDA_TASK_ROOT": str(APPS), "PYTHONPATH": str(APPS)},
            )
        )
    return sides


class FakeApi:
    """Runs bench-runtime-api and the runtime it starts, both on one CPU (its --cpu): the last
    one this process may use."""

    def __init__(self, work):
        self.work = work
        self.cpu = max(os.sched_getaffinity(0))

    def ceiling(self, count):
        out = run_checked(
            [str(API), "--cpu", str(self.cpu), "--event", str(EVENT), "--count", str(count), "--self-client"],
            120,
            "bench-runtime-api --self-client",
            env=BASE_ENV,
        )
        return json.loads(out)

    def run(self, side, event, count, expect):
        """One runtime process, `count` invocations of `event`. `expect(side, reply)` checks
        the first reply and returns what to record of it."""
        reply_path = self.work / "reply.json"
        if reply_path.exists():
            reply_path.unlink()
        argv = [str(API), "--cpu", str(self.cpu), "--event", str(event), "--count", str(count)]
        argv += ["--reply-out", str(reply_path), "--timeout", "300"]
        for key, value in side.env.items():
            argv += ["--env", f"{key}={value}"]
        argv += ["--", *side.command]
        result = json.loads(run_checked(argv, 330, f"{side.name} under bench-runtime-api", env=BASE_ENV))
        try:
            reply = json.loads(reply_path.read_bytes())
        except (OSError, ValueError) as e:
            raise BenchError(f"{side.name}: no readable reply was posted ({e})") from e
        result.update(expect(side, reply))
        return result


def reply_body(reply):
    body = reply.get("body") or ""
    if reply.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode("utf-8")


def expect_status_body(status, check_body, what):
    def expect(side, reply):
        got = reply.get("statusCode")
        if got != status or not check_body(reply_body(reply)):
            raise BenchError(
                f"{side.name} answered {what} wrongly: status {got}, body " f"{reply_body(reply)[:200]!r}"
            )
        return {"status": got}

    return expect


def expect_hello(side, reply):
    return expect_status_body(200, lambda b: b == HELLO, "the hello request")(side, reply)


# ---------------------------------------------------------------------------------------------
# Comparisons: Lambda


def compare_lambda_warm(ctx):
    plan = ctx.plan
    ceilings = [ctx.api.ceiling(plan["ceiling_count"]) for _ in range(plan["ceiling_runs"])]
    ceiling = median([c["warm_per_s"] for c in ceilings])
    log(f"  fake Runtime API ceiling (a client that does nothing): {ceiling:,.0f} invocations/s")
    cases = {}
    for module in ("hello", "flaskapp"):
        count = plan["warm_count"][module]
        samples = alternate(
            lambda_sides(module),
            plan["warm_rounds"],
            1,
            lambda side: ctx.api.run(side, EVENT, count, expect_hello),
        )
        summary = {name: medians(runs) for name, runs in samples.items()}
        cases[module] = {"count": count, "samples": samples, "median": summary}
        log(
            f"  {module}: "
            + ", ".join(
                f"{n} {s['warm_per_s']:,.0f}/s ({s['cpu_us_per_invocation']:.0f} us CPU)"
                for n, s in summary.items()
            )
            + f"; rwsgi/apig-wsgi {ratio(summary[RWSGI_SIDE]['warm_per_s'], summary[APIG]['warm_per_s']):.2f}x"
        )
    return {
        "cpu": ctx.api.cpu,
        "ceiling": {"samples": ceilings, "warm_per_s": ceiling},
        "cases": cases,
    }


def compare_lambda_cold(ctx):
    cases = {}
    for module in ("hello", "flaskapp"):
        samples = alternate(
            lambda_sides(module),
            ctx.plan["cold_rounds"],
            ctx.plan["warmup"],
            lambda side: ctx.api.run(side, EVENT, 1, expect_hello),
        )
        summary = {name: medians(runs) for name, runs in samples.items()}
        cases[module] = {"samples": samples, "median": summary}
        log(
            f"  {module}: "
            + ", ".join(f"{n} {s['cold_ms']:.1f} ms" for n, s in summary.items())
            + f"; rwsgi/apig-wsgi {ratio(summary[RWSGI_SIDE]['cold_ms'], summary[APIG]['cold_ms']):.2f}x"
        )
    return {"cpu": ctx.api.cpu, "cases": cases}


# ---------------------------------------------------------------------------------------------
# Comparison: the deployed Lambda package's cold start
#
# The other Lambda comparisons import the apps from the bench virtualenv, whose packages pip
# compiled when it installed them. A function's package is another thing: Lambda's /var/task is
# read-only, so what Python compiles there at a cold start is never cached. This comparison
# builds the packages a deployment builds, for the managed runtime's Python (PACKAGE_PYTHON,
# 3.12 by default), and starts each as Lambda does with Python unable to write bytecode.

# The Python of the packages: the runtime's version, as the template's Makefile targets it.
PACKAGE_PYTHON = os.environ.get("BENCH_PACKAGE_PYTHON", "python3.12")
# rwsgi built for that Python, here (bench/run's own build embeds the bench virtualenv's).
PACKAGE_TARGET_DIR = ROOT / "target" / "bench-package"
TEMPLATE = ROOT / "template"

# The apps' requirements, pinned: what a user's requirements.txt would name. The awslambdaric
# package also needs apig-wsgi.
PACKAGE_REQUIREMENTS = {
    "flaskapp": [
        "Flask==3.1.3",
        "Werkzeug==3.1.9",
        "Jinja2==3.1.6",
        "MarkupSafe==3.0.4",
        "itsdangerous==2.2.0",
        "click==8.5.1",
        "blinker==1.9.0",
    ],
    "djangoapp": ["Django==5.2.19", "asgiref==3.13.0", "sqlparse==0.6.1"],
}
PACKAGE_HANDLERS = {"flaskapp": "flaskapp.app", "djangoapp": "djangoapp.application"}
PACKAGE_LABELS = {"flaskapp": "Flask", "djangoapp": "Django"}
# What Lambda's python3.x images hold in /var/runtime, compiled as part of the image.
RUNTIME_REQUIREMENTS = ["awslambdaric==4.2.2", "simplejson==4.3.0", "snapshot-restore-py==1.0.0"]
APIG_REQUIREMENT = "apig-wsgi==2.20.0"

PKG_RWSGI = "rwsgi package"
PKG_RWSGI_BARE = "rwsgi package, no bytecode"
PKG_PIP = "awslambdaric+apig-wsgi, pip -t"
PKG_SAM = "awslambdaric+apig-wsgi, sam build"


def package_python():
    """The packages' Python: (executable, X.Y)."""
    try:
        out = subprocess.run(
            [PACKAGE_PYTHON, "-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            env=dict(os.environ),
        )
    except OSError:
        out = None
    if out is None or out.returncode != 0:
        raise BenchError(
            f"lambda-package needs the Python of the packages: {PACKAGE_PYTHON} does not run; "
            "set BENCH_PACKAGE_PYTHON=/path/to/python3.X (with its shared library)"
        )
    executable, version = out.stdout.split()
    return executable, version


def tree_files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def folder_kb(folder):
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024)


def read_only(folder):
    """Takes write permission away, as /var/task has none. Root ignores it: every side also
    runs with PYTHONDONTWRITEBYTECODE=1, and the folders are compared before and after."""
    for p in [folder, *folder.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode & ~0o222)


def writable(folder):
    for p in [folder, *folder.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200)


def build_packages(work, python, version, module):
    """The four packages of `module`'s app: rwsgi's, with and without bytecode (the template's
    Makefile, BYTECODE=yes and no), and awslambdaric+apig-wsgi's, installed by `pip install -t`
    (which compiles, with timestamp-checked bytecode) and as `sam build` installs it (the
    aws-lambda-builders python_pip workflow downloads wheels and unpacks them: no bytecode)."""
    binary = PACKAGE_TARGET_DIR / "release" / "rwsgi"
    function = work / f"function-{module}"
    function.mkdir()
    shutil.copy(TEMPLATE / "Makefile", function / "Makefile")
    shutil.copy(APPS / f"{module}.py", function / f"{module}.py")
    (function / "requirements.txt").write_text("\n".join(PACKAGE_REQUIREMENTS[module]) + "\n")
    packages = {}
    for side, bytecode in ((PKG_RWSGI, "yes"), (PKG_RWSGI_BARE, "no")):
        out = work / f"package-{module}-{bytecode}"
        run_checked(
            [
                "make",
                "-C",
                str(function),
                "build-RwsgiFunction",
                f"ARTIFACTS_DIR={out}",
                f"PYTHON_VERSION={version}",
                f"PYTHON={python}",
                f"RWSGI_BINARY={binary}",
                f"RWSGI_BOOTSTRAP={ROOT / 'bootstrap'}",
                f"BYTECODE={bytecode}",
            ],
            600,
            f"make build-RwsgiFunction BYTECODE={bytecode}",
            env=dict(BASE_ENV, HOME=os.environ.get("HOME", "/root")),
        )
        packages[side] = out
    peer_requirements = work / f"requirements-{module}-peer.txt"
    peer_requirements.write_text("\n".join(PACKAGE_REQUIREMENTS[module] + [APIG_REQUIREMENT]) + "\n")
    for side, compile_flag in ((PKG_PIP, "--compile"), (PKG_SAM, "--no-compile")):
        out = work / f"package-{module}-{'pip' if side == PKG_PIP else 'sam'}"
        run_checked(
            [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", compile_flag]
            + ["--requirement", str(peer_requirements), "--target", str(out)],
            600,
            f"pip install for {side}",
            env=dict(BASE_ENV, HOME=os.environ.get("HOME", "/root")),
        )
        # The app's own module, copied as `sam build` copies it: source only.
        shutil.copy(APPS / f"{module}.py", out / f"{module}.py")
        packages[side] = out
    return packages


def compare_lambda_package(ctx):
    python, version = package_python()
    log(f"  packages for Python {version} ({python}); building rwsgi for it")
    run_checked(
        ["cargo", "build", "--release", "--quiet", "--target-dir", str(PACKAGE_TARGET_DIR)],
        1800,
        f"cargo build for Python {version}",
        cwd=ROOT,
        env=dict(os.environ, PYO3_PYTHON=python),
    )
    runtime = ctx.work / "runtime"
    run_checked(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(runtime)]
        + RUNTIME_REQUIREMENTS,
        600,
        "pip install awslambdaric",
        env=dict(BASE_ENV, HOME=os.environ.get("HOME", "/root")),
    )
    read_only(runtime)
    cases = {}
    try:
        for module in ("flaskapp", "djangoapp"):
            packages = build_packages(ctx.work, python, version, module)
            sizes = {}
            for side, folder in packages.items():
                files = tree_files(folder)
                sizes[side] = {
                    "package_kb": folder_kb(folder),
                    "files": len(files),
                    "pyc_files": sum(1 for f in files if f.endswith(".pyc")),
                }
                read_only(folder)
            before = {side: tree_files(folder) for side, folder in packages.items()}
            common = {"PYTHONDONTWRITEBYTECODE": "1"}
            sides = []
            for side in (PKG_RWSGI, PKG_RWSGI_BARE):
                folder = packages[side]
                # As the managed runtime starts its AWS_LAMBDA_EXEC_WRAPPER: the wrapper, the
                # runtime's interpreter and its start script.
                sides.append(
                    LambdaSide(
                        side,
                        [str(folder / "bootstrap"), python, "/var/runtime/bootstrap.py"],
                        dict(
                            common,
                            LAMBDA_TASK_ROOT=str(folder),
                            _HANDLER=PACKAGE_HANDLERS[module],
                            AWS_LAMBDA_EXEC_WRAPPER=str(folder / "bootstrap"),
                        ),
                    )
                )
            for side in (PKG_PIP, PKG_SAM):
                folder = packages[side]
                # As the managed runtime starts its own client: the function's folder first on
                # the path, then the runtime's.
                sides.append(
                    LambdaSide(
                        side,
                        [python, "-m", "awslambdaric", f"{module}.apig_handler"],
                        dict(common, LAMBDA_TASK_ROOT=str(folder), PYTHONPATH=f"{folder}:{runtime}"),
                    )
                )
            samples = alternate(
                sides,
                ctx.plan["package_rounds"],
                ctx.plan["warmup"],
                lambda side: ctx.api.run(side, EVENT, 1, expect_hello),
            )
            for side, folder in packages.items():
                if tree_files(folder) != before[side]:
                    raise BenchError(f"{side}: the run wrote into the package {folder}")
            summary = {name: medians(runs) for name, runs in samples.items()}
            cases[module] = {"samples": samples, "median": summary, "sizes": sizes}
            m = summary
            log(
                f"  {module}: "
                + ", ".join(f"{n} {s['cold_ms']:.1f} ms" for n, s in m.items())
                + f"; rwsgi/no bytecode {ratio(m[PKG_RWSGI]['cold_ms'], m[PKG_RWSGI_BARE]['cold_ms']):.2f}x"
                + f", rwsgi/pip -t {ratio(m[PKG_RWSGI]['cold_ms'], m[PKG_PIP]['cold_ms']):.2f}x"
            )
    finally:
        for folder in ctx.work.iterdir():
            if folder.is_dir() and (folder.name.startswith("package-") or folder.name == "runtime"):
                writable(folder)
    return {"cpu": ctx.api.cpu, "python": version, "cases": cases}


def compare_memory(ctx):
    count = ctx.plan["memory_count"]
    samples = alternate(
        lambda_sides("hello"),
        ctx.plan["memory_rounds"],
        0,
        lambda side: ctx.api.run(side, EVENT, count, expect_hello),
    )
    summary = {name: medians(runs) for name, runs in samples.items()}
    log(
        f"  hello after {count:,} invocations: "
        + ", ".join(f"{n} {s['rss_kb'] / 1024:.1f} MiB" for n, s in summary.items())
    )
    return {"cpu": ctx.api.cpu, "count": count, "samples": samples, "median": summary}


# ---------------------------------------------------------------------------------------------
# Comparisons: CGI and the command line


@dataclass
class Side:
    name: str
    argv: list


class CgiScripts:
    """A cgi-bin folder: for each app, an rwsgi drop-in script (`NAME.wsgi`, rwsgi as its
    interpreter) and a wsgiref CGIHandler script (`NAME-cgihandler.wsgi`, the virtualenv's python
    as its interpreter), with the app's module beside them. Both end in .wsgi, the one extension
    cgi/lighttpd.conf runs as a program."""

    def __init__(self, work):
        self.dir = work / "cgi-bin"
        self.dir.mkdir()
        for module, spec in APP_SPECS.items():
            shutil.copy(APPS / f"{module}.py", self.dir)
            name = spec.split(":")[1]
            self._script(f"{module}.wsgi", f"#!{RWSGI}\nfrom {module} import {name}\n")
            self._script(
                f"{module}-cgihandler.wsgi",
                f"#!{PYTHON}\nimport wsgiref.handlers\n\nfrom {module} import {name}\n\n"
                f"wsgiref.handlers.CGIHandler().run({name})\n",
            )
        self.stderr = open(work / "cgi-stderr.log", "ab")

    def _script(self, name, text):
        path = self.dir / name
        path.write_text(text)
        path.chmod(0o755)

    def sides(self, module, floor=True):
        sides = [
            Side(RWSGI_SIDE, [str(self.dir / f"{module}.wsgi")]),
            Side(CGIHANDLER, [str(self.dir / f"{module}-cgihandler.wsgi")]),
        ]
        if floor:
            sides.append(Side(FLOOR, [str(PYTHON), "-c", f"import {module}"]))
        return sides

    def env(self, module, method="GET", query="", body_length=None):
        script = f"/cgi-bin/{module}.wsgi"
        env = dict(
            BASE_ENV,
            GATEWAY_INTERFACE="CGI/1.1",
            SERVER_SOFTWARE="bench",
            SERVER_NAME="localhost",
            SERVER_PORT="80",
            SERVER_PROTOCOL="HTTP/1.1",
            REMOTE_ADDR="127.0.0.1",
            REQUEST_METHOD=method,
            SCRIPT_NAME=script,
            SCRIPT_FILENAME=str(self.dir / f"{module}.wsgi"),
            PATH_INFO="/",
            QUERY_STRING=query,
            REQUEST_URI=script + "/" + ("?" + query if query else ""),
            HTTP_HOST="localhost",
            HTTP_USER_AGENT="bench",
            RWSGI_VENV=str(VENV),
        )
        if body_length is not None:
            env["CONTENT_LENGTH"] = str(body_length)
            env["CONTENT_TYPE"] = "application/octet-stream"
        return env

    def request(self, side, env, stdin_data=None, peak=False):
        """Runs one request: returns its Timed, or with peak=True (peak RSS KiB, Timed)."""
        if peak:
            maxrss, result = peak_run(side.argv, env, self.dir, stdin_data, stderr=self.stderr)
        else:
            result = timed_run(side.argv, env, self.dir, stdin_data, stderr=self.stderr)
        if result.exit != 0:
            self.stderr.flush()
            tail = (self.dir.parent / "cgi-stderr.log").read_bytes()[-2000:].decode(errors="replace")
            raise BenchError(f"{side.name} exited {result.exit}: {' '.join(side.argv)}\n{tail}")
        return (maxrss, result) if peak else result


def cgi_response(out):
    """(status code, body) of a CGI program's output."""
    head, _, body = out.partition(b"\r\n\r\n")
    if not _:
        head, _, body = out.partition(b"\n\n")
    match = re.search(rb"^Status: (\d{3})", head, re.MULTILINE)
    return (int(match.group(1)) if match else None), body


def compare_cgi(ctx):
    cgi = ctx.cgi
    cases = {}
    for module in ("hello", "flaskapp"):
        env = cgi.env(module)

        def check(side, result):
            if side.name != FLOOR:
                status, body = cgi_response(result.stdout)
                if status != 200 or body != HELLO:
                    raise BenchError(f"{side.name} answered {status} {body[:200]!r}")

        def measure(side, env=env):
            result = cgi.request(side, env)
            check(side, result)
            return {"wall_ms": result.wall_ms, "response_ms": result.response_ms}

        def measure_peak(side, env=env):
            maxrss, result = cgi.request(side, env, peak=True)
            check(side, result)
            return {"maxrss_kb": maxrss}

        sides = cgi.sides(module)
        samples = alternate(sides, ctx.plan["cgi_rounds"][module], ctx.plan["warmup"], measure)
        peaks = alternate(sides, ctx.plan["peak_rounds"], 0, measure_peak)
        summary = {name: {**medians(samples[name]), **medians(peaks[name])} for name in samples}
        cases[module] = {"samples": samples, "peak_samples": peaks, "median": summary}
        log(
            f"  {module}, one request: " + ", ".join(f"{n} {s['wall_ms']:.1f} ms" for n, s in summary.items())
        )
    with Lighttpd(ctx.work, cgi.dir) as server:
        for module in ("hello", "flaskapp"):
            url = f"http://127.0.0.1:{server.port}/cgi-bin/{{}}/"
            sides = [
                Side(RWSGI_SIDE, [url.format(f"{module}.wsgi")]),
                Side(CGIHANDLER, [url.format(f"{module}-cgihandler.wsgi")]),
            ]
            n = ctx.plan["lighttpd_requests"][module]
            # A few requests first, so that lighttpd and the page cache are warm.
            for side in sides:
                ab(side.argv[0], 10, side.name)
            samples = alternate(
                sides, ctx.plan["lighttpd_rounds"], 0, lambda side, n=n: ab(side.argv[0], n, side.name)
            )
            summary = {name: medians(runs) for name, runs in samples.items()}
            cases[module]["lighttpd"] = {
                "requests": n,
                "concurrency": 2,
                "samples": samples,
                "median": summary,
            }
            log(
                f"  {module} under lighttpd, ab -n {n} -c 2: "
                + ", ".join(f"{name} {s['requests_per_s']:.1f} req/s" for name, s in summary.items())
            )
    return {"cases": cases}


class Lighttpd:
    """lighttpd on 127.0.0.1 and a free port, from cgi/lighttpd.conf with its placeholders
    filled in (as tests/cgi_servers.rs does), serving `cgi_dir` at /cgi-bin/. It runs as root
    when started as root, instead of switching to www-data, who could not read the Python and
    the virtualenv under /root; both sides of the comparison run alike either way."""

    def __init__(self, work, cgi_dir):
        self.work = work / "lighttpd"
        self.cgi_dir = cgi_dir
        self.proc = None
        self.port = None

    def __enter__(self):
        program = shutil.which("lighttpd", path=BASE_ENV["PATH"] + ":/usr/sbin:/sbin")
        if not program:
            raise BenchError("lighttpd is not installed (bench/run installs it)")
        failure = ""
        for attempt in range(3):
            try:
                self._start(program, attempt)
                return self
            except BenchError as e:
                failure = str(e)
                if "Address already in use" not in failure:
                    raise
        raise BenchError(failure)

    def _start(self, program, attempt):
        port = free_port()
        root = self.work / str(attempt)
        for sub in ("log", "run/uploads", "doc"):
            (root / sub).mkdir(parents=True)
        values = {
            "@PORT@": str(port),
            "@DOC_ROOT@": str(root / "doc"),
            "@CGI_DIR@": str(self.cgi_dir),
            "@BIN_DIR@": str(RWSGI.parent),
            "@LOG_DIR@": str(root / "log"),
            "@RUN_DIR@": str(root / "run"),
        }
        text = LIGHTTPD_CONF.read_text()
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        left = [l for l in text.splitlines() if "@" in l and not l.lstrip().startswith("#")]
        if left:
            raise BenchError(f"{LIGHTTPD_CONF} has a placeholder this script does not fill: {left[0]!r}")
        if os.geteuid() == 0:
            text = re.sub(r"(?m)^server\.(username|groupname)\s*=.*$", "", text)
        text += f'\nsetenv.add-environment += ( "RWSGI_VENV" => "{VENV}" )\n'
        conf = root / "lighttpd.conf"
        conf.write_text(text)
        out = open(root / "lighttpd.out", "wb")
        self.proc = subprocess.Popen(
            [program, "-D", "-f", str(conf)],
            cwd=root,
            env=BASE_ENV,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        out.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                raise BenchError(
                    "lighttpd did not start:\n" + (root / "lighttpd.out").read_text(errors="replace")
                )
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                self.port = port
                return
            except OSError:
                time.sleep(0.05)
        self.__exit__(None, None, None)
        raise BenchError("lighttpd did not listen within 20 s")

    def __exit__(self, *exc):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            self.proc.wait()
        self.proc = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ab(url, requests, what):
    out = run_checked(["ab", "-q", "-n", str(requests), "-c", "2", url], 600, f"ab against {what}")
    rate = re.search(r"Requests per second:\s+([\d.]+)", out)
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if not rate or not failed or int(failed.group(1)) or non2xx:
        raise BenchError(f"ab against {what} ({url}) reports failures:\n{out}")
    return {"requests_per_s": float(rate.group(1))}


# ---------------------------------------------------------------------------------------------
# FastCGI under nginx

FASTCGI_SIDE = "rwsgi fastcgi"
FLUP = "flup fcgi_fork"
GUNICORN = "gunicorn (sync) via proxy_pass"
RWSGI_CGI = "rwsgi CGI via fcgiwrap"
FASTCGI_SIDES = [FASTCGI_SIDE, FLUP, GUNICORN, RWSGI_CGI]
# Processes serving requests on each side, as the comparison's terms say: two workers each.
FASTCGI_WORKERS = 2

FLUP_SCRIPT = """\
import sys
from flup.server.fcgi_fork import WSGIServer

sys.path.insert(0, {apps!r})
from {module} import {name} as app

WSGIServer(app, bindAddress={sock!r}, minSpare={n}, maxSpare={n}, maxChildren={n}, maxRequests=0).run()
"""


class NginxSides:
    """One nginx (one worker, as the machine has two CPUs and the backends need them) with one
    server block per side on its own port, in front of: `rwsgi fastcgi` on a Unix socket, flup's
    pre-fork FastCGI server on another, gunicorn's sync workers behind proxy_pass, and rwsgi as a
    CGI program under fcgiwrap. nginx opens a new connection to the backend for every request on
    every side (no upstream keepalive), so all four pay the same."""

    def __init__(self, work, module):
        self.root = work / f"nginx-{module}"
        self.module = module
        self.procs = []
        self.ports = {}
        # Each side's own process (the parent of its workers), for its CPU time.
        self.pids = {}

    def _spawn(self, argv, name, env=None, cwd=None):
        out = open(self.root / f"{name}.log", "wb")
        proc = subprocess.Popen(
            argv,
            cwd=cwd or self.root,
            env=env or BASE_ENV,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        out.close()
        self.procs.append(proc)
        return proc

    def _wait_socket(self, path, proc, what):
        deadline = time.monotonic() + 30
        while not path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"{what} did not start:\n" + self._logs())
            time.sleep(0.05)

    def _logs(self):
        return "\n".join(
            f"--- {p.name}:\n{p.read_text(errors='replace')[-2000:]}" for p in sorted(self.root.glob("*.log"))
        )

    def __enter__(self):
        try:
            return self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def _start(self):
        self.root.mkdir(parents=True)
        module, name = APP_SPECS[self.module].split(":")
        env = dict(BASE_ENV, RWSGI_VENV=str(VENV))
        socks = {side: self.root / f"side{i}.sock" for i, side in enumerate(FASTCGI_SIDES)}

        proc = self._spawn(
            [str(RWSGI), "fastcgi", "--bind", f"unix:{socks[FASTCGI_SIDE]}", "--workers", str(FASTCGI_WORKERS),
             "--app", APP_SPECS[self.module]],
            "rwsgi", env=env, cwd=APPS,
        )
        self.pids[FASTCGI_SIDE] = proc.pid
        self._wait_socket(socks[FASTCGI_SIDE], proc, "rwsgi fastcgi")

        flup = self.root / "flup_server.py"
        flup.write_text(FLUP_SCRIPT.format(apps=str(APPS), module=module, name=name, sock=str(socks[FLUP]),
                                           n=FASTCGI_WORKERS))
        proc = self._spawn([str(PYTHON), str(flup)], "flup")
        self.pids[FLUP] = proc.pid
        self._wait_socket(socks[FLUP], proc, "flup")

        proc = self._spawn(
            [str(VENV / "bin" / "gunicorn"), "--workers", str(FASTCGI_WORKERS), "--worker-class", "sync",
             "--bind", f"unix:{socks[GUNICORN]}", "--chdir", str(APPS), "--log-level", "warning",
             APP_SPECS[self.module]],
            "gunicorn",
        )
        self.pids[GUNICORN] = proc.pid
        self._wait_socket(socks[GUNICORN], proc, "gunicorn")

        cgi_dir = self.root / "cgi-bin"
        cgi_dir.mkdir()
        script = cgi_dir / "app.wsgi"
        script.write_text(f"#!{RWSGI}\nfrom {module} import {name}\n")
        script.chmod(0o755)
        shutil.copy(APPS / f"{module}.py", cgi_dir)
        fcgiwrap = shutil.which("fcgiwrap", path=BASE_ENV["PATH"] + ":/usr/sbin:/sbin")
        if not fcgiwrap:
            raise BenchError("fcgiwrap is not installed (bench/run installs it)")
        proc = self._spawn([fcgiwrap, "-c", str(FASTCGI_WORKERS), "-s", f"unix:{socks[RWSGI_CGI]}"], "fcgiwrap")
        self.pids[RWSGI_CGI] = proc.pid
        self._wait_socket(socks[RWSGI_CGI], proc, "fcgiwrap")

        servers = []
        for side in FASTCGI_SIDES:
            port = free_port()
            self.ports[side] = port
            if side == GUNICORN:
                upstream = f"proxy_pass http://unix:{socks[side]}:;\n            proxy_set_header Host $host;"
            else:
                upstream = (
                    f"fastcgi_pass unix:{socks[side]};\n            include /etc/nginx/fastcgi_params;\n"
                    f"            fastcgi_param SCRIPT_FILENAME {script};\n"
                    f"            fastcgi_param SCRIPT_NAME /;\n"
                    f"            fastcgi_param PATH_INFO $uri;\n"
                    f"            fastcgi_param RWSGI_VENV {VENV};"
                )
            servers.append(
                f"    server {{\n        listen 127.0.0.1:{port};\n        location / {{\n            {upstream}\n"
                "        }\n    }\n"
            )
        run_dir = self.root / "run"
        run_dir.mkdir()
        conf = self.root / "nginx.conf"
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf.write_text(
            f"{user}worker_processes 1;\npid {run_dir}/nginx.pid;\nerror_log {self.root}/nginx-error.log;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n    access_log off;\n    client_body_temp_path {run_dir}/body;\n"
            f"    fastcgi_temp_path {run_dir}/fastcgi;\n    proxy_temp_path {run_dir}/proxy;\n"
            f"    uwsgi_temp_path {run_dir}/uwsgi;\n    scgi_temp_path {run_dir}/scgi;\n"
            + "".join(servers)
            + "}\n"
        )
        nginx = shutil.which("nginx", path=BASE_ENV["PATH"] + ":/usr/sbin:/sbin")
        if not nginx:
            raise BenchError("nginx is not installed (bench/run installs it)")
        proc = self._spawn([nginx, "-c", str(conf), "-e", str(self.root / "nginx-error.log"), "-g", "daemon off;"],
                           "nginx")
        deadline = time.monotonic() + 20
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise BenchError("nginx did not start:\n" + self._logs())
                    time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        for proc in reversed(self.procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            except ProcessLookupError:
                proc.wait()
        self.procs = []


def tree_cpu_s(pid):
    """CPU seconds used by a process and everything under it, the children that ended (and were
    waited for) included: utime, stime, cutime and cstime of each (proc(5))."""
    total = 0
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        total += sum(int(f) for f in fields[11:15])
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return total / os.sysconf("SC_CLK_TCK") + sum(tree_cpu_s(int(c)) for c in children)


def wrk(url, seconds, what):
    """Requests/s and latency percentiles from wrk: one thread, eight connections, and a timeout
    long enough for a CGI request that waits behind seven others."""
    out = run_checked(
        ["wrk", "-t1", "-c8", f"-d{seconds}s", "--timeout", "60s", "--latency", url],
        seconds + 120,
        f"wrk against {what}",
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: .*", out)
    if not rate or errors:
        raise BenchError(f"wrk against {what} ({url}) reports errors:\n{out}")

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\b", out, re.MULTILINE)
        if not m:
            return None
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    done = re.search(r"(\d+) requests in", out)
    return {
        "requests_per_s": float(rate.group(1)),
        "requests": int(done.group(1)) if done else None,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
    }


def compare_fastcgi(ctx):
    plan = ctx.plan
    cases = {}
    for module in ("hello", "flaskapp"):
        log(f"  {APP_LABELS[module]}")
        with NginxSides(ctx.work, module) as sides:
            for side, port in sides.ports.items():
                try:
                    body = urllib_get(f"http://127.0.0.1:{port}/")
                except OSError as e:
                    raise BenchError(f"{side} did not answer: {e}\n" + sides._logs()) from e
                if body != HELLO:
                    raise BenchError(f"{side} answered {body[:200]!r}, not {HELLO!r}:\n" + sides._logs())
            sides_list = [Side(s, []) for s in FASTCGI_SIDES]

            def measure(side, sides=sides):
                seconds = plan["fastcgi_seconds"]
                if side.name == RWSGI_CGI:
                    seconds = max(2, seconds // 2)
                before = tree_cpu_s(sides.pids[side.name])
                result = wrk(f"http://127.0.0.1:{sides.ports[side.name]}/", seconds, side.name)
                cpu = tree_cpu_s(sides.pids[side.name]) - before
                # The server's own CPU per request (its workers, and for CGI the programs it
                # started): a measure that other processes on the machine disturb far less than
                # the rate.
                result["cpu_us"] = cpu * 1e6 / result["requests"] if result["requests"] else None
                # fcgiwrap does not wait for the programs it starts in a way that adds their CPU
                # time to its own (what is found is a fraction of it): no number beats a wrong one.
                if side.name == RWSGI_CGI:
                    result["cpu_us"] = None
                log(f"    {side.name}: {result['requests_per_s']:,.0f}/s, {result['cpu_us'] or 0:,.0f} µs CPU each")
                return result

            samples = alternate(sides_list, plan["fastcgi_rounds"], 0, measure)
        cases[module] = {"samples": samples, "median": {k: medians(v) for k, v in samples.items()}}
    versions = {}
    for package in ("flup", "gunicorn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    for name, argv, pattern in (
        ("nginx", ["nginx", "-v"], r"nginx/(\S+)"),
        ("wrk", ["wrk", "-v"], r"wrk (\S+)"),
    ):
        proc = subprocess.run(argv, capture_output=True, text=True,
                              env=dict(BASE_ENV, PATH=BASE_ENV["PATH"] + ":/usr/sbin"))
        m = re.search(pattern, proc.stdout + proc.stderr)
        versions[name] = m.group(1) if m else None
    return {"cases": cases, "workers": FASTCGI_WORKERS, "versions": versions}


def urllib_get(url):
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:
        return response.read()


def render_fastcgi(c, results):
    v = c.get("versions", {})
    out = [
        f"Requests per second and latency through nginx {v.get('nginx')} (one worker), driven by wrk "
        f"{v.get('wrk')} (one thread, eight connections), {c['workers']} workers on every side: "
        f"`rwsgi fastcgi` on a Unix socket; flup {v.get('flup')}'s pre-fork FastCGI server; gunicorn "
        f"{v.get('gunicorn')} sync workers behind `proxy_pass`; rwsgi as a CGI program under fcgiwrap "
        "(`-c 2`). nginx opens a new backend connection per request on every side. CPU is the "
        "server's own per request (its processes and, for CGI, the programs it started; not "
        "nginx's), which other processes on the machine disturb far less than the rate. Medians of "
        "the rounds; the sides ran alternately.",
        "",
    ]
    rows = []
    for module, case in c["cases"].items():
        m = case["median"]
        for side in FASTCGI_SIDES:
            s = m[side]
            r = ratio(m[FASTCGI_SIDE]["requests_per_s"], s["requests_per_s"])
            rows.append(
                [
                    APP_LABELS[module],
                    side,
                    f"{s['requests_per_s']:,.0f}",
                    f"{s['p50_ms']:.2f}" if s.get("p50_ms") is not None else "—",
                    f"{s['p99_ms']:.2f}" if s.get("p99_ms") is not None else "—",
                    f"{s['cpu_us']:,.0f}" if s.get("cpu_us") is not None else "—",
                    "" if side == FASTCGI_SIDE else fmt_ratio(r),
                    ""
                    if side == FASTCGI_SIDE
                    else fmt_ratio(ratio(m[FASTCGI_SIDE].get("cpu_us"), s.get("cpu_us"))),
                ]
            )
    out.append(
        table(
            ["app", "server", "requests/s", "p50 ms", "p99 ms", "CPU µs each", "rwsgi/this (rate)",
             "rwsgi/this (CPU)"],
            rows,
        )
    )
    return out


def fastcgi_targets(comps):
    out = []
    if "fastcgi" not in comps:
        return out
    cases = comps["fastcgi"]["cases"]
    goals = [
        ("hello", FLUP, 1.5),
        ("hello", GUNICORN, 1.3),
        ("flaskapp", FLUP, 1.1),
        ("flaskapp", GUNICORN, 1.1),
        ("flaskapp", RWSGI_CGI, 20.0),
    ]
    for module, other, goal in goals:
        m = cases[module]["median"]
        r = ratio(m[FASTCGI_SIDE]["requests_per_s"], m[other]["requests_per_s"])
        out.append(
            Target(
                "fastcgi",
                f"{APP_LABELS[module]}: requests/s under nginx vs {other}",
                f"{m[FASTCGI_SIDE]['requests_per_s']:,.0f}/s",
                f"{m[other]['requests_per_s']:,.0f}/s",
                r,
                f"{r:.2f}x",
                f">= {goal}x",
                r is not None and r >= goal,
            )
        )
    return out


def compare_cli(ctx):
    cases = {}
    for module in ("hello", "flaskapp"):
        spec = APP_SPECS[module]
        name = spec.split(":")[1]
        sides = [
            Side(RWSGI_SIDE, [str(RWSGI), "call", "--venv", str(VENV), "--app", spec, "GET", "/"]),
            Side(
                WERKZEUG,
                [
                    str(PYTHON),
                    "-c",
                    f"from werkzeug.test import Client; from {module} import {name}; import sys; "
                    f"sys.stdout.buffer.write(Client({name}).get('/').get_data())",
                ],
            ),
        ]

        def check(side, result):
            if result.exit != 0 or result.stdout != HELLO:
                raise BenchError(f"{side.name} exited {result.exit} with {result.stdout[:200]!r}")

        def measure(side):
            result = timed_run(side.argv, BASE_ENV, APPS)
            check(side, result)
            return {"wall_ms": result.wall_ms}

        def measure_peak(side):
            maxrss, result = peak_run(side.argv, BASE_ENV, APPS)
            check(side, result)
            return {"maxrss_kb": maxrss}

        samples = alternate(sides, ctx.plan["cli_rounds"][module], ctx.plan["warmup"], measure)
        peaks = alternate(sides, ctx.plan["peak_rounds"], 0, measure_peak)
        summary = {n: {**medians(samples[n]), **medians(peaks[n])} for n in samples}
        cases[module] = {"samples": samples, "peak_samples": peaks, "median": summary}
        log(f"  {module}: " + ", ".join(f"{n} {s['wall_ms']:.1f} ms" for n, s in summary.items()))
    return {"cases": cases}


# ---------------------------------------------------------------------------------------------
# Comparisons: big bodies


def body_bytes(size):
    return random.Random(size).randbytes(size)


def write_event(path, method, query="", body=None):
    event = json.loads(EVENT.read_text())
    event["requestContext"]["http"]["method"] = method
    event["rawQueryString"] = query
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) for p in query.split("&"))
    else:
        event.pop("queryStringParameters", None)
    if body is not None:
        event["headers"]["content-type"] = "application/octet-stream"
        event["headers"]["content-length"] = str(len(body))
        event["body"] = base64.b64encode(body).decode("ascii")
        event["isBase64Encoded"] = True
    path.write_text(json.dumps(event))
    return path


# Every big-body case is measured again with a TINY body of the same kind, its baseline.
TINY = 256
# (label, kind: an upload to the app or a reply from it, body size)
BIG_CASES = [
    ("upload 5 MiB", "upload", 5 * MIB),
    ("reply 5 MiB", "download", 5 * MIB),
    ("reply 4 MiB", "download", 4 * MIB),
]


def compare_big_bodies(ctx):
    plan = ctx.plan
    work = ctx.work / "events"
    work.mkdir(exist_ok=True)
    lambda_cases = {}
    cgi_cases = {}
    for label, kind, size in BIG_CASES:
        for n in (size, TINY):
            key = f"{kind}-{n}"
            if key in lambda_cases:
                continue
            if kind == "upload":
                event = write_event(work / f"{key}.json", "POST", body=body_bytes(n))

                def check(body, n=n):
                    return body == b"%d\n" % n

            else:
                event = write_event(work / f"{key}.json", "GET", query=f"size={n}")

                def check(body, n=n):
                    return len(body) == n

            encoded = 4 * ((n + 2) // 3)

            def expect(side, reply, check=check, encoded=encoded, kind=kind, n=n):
                status = reply.get("statusCode")
                # rwsgi answers 500 for a reply that base64 makes larger than Lambda allows;
                # AWS's client posts it, and Lambda would then fail the invocation.
                if side.name == RWSGI_SIDE and kind == "download" and encoded > LAMBDA_REPLY_LIMIT:
                    if status != 500:
                        raise BenchError(f"rwsgi answered {status} to a reply over Lambda's limit")
                    return {"status": status}
                return expect_status_body(200, check, f"{kind} of {n} bytes")(side, reply)

            samples = alternate(
                lambda_sides("bodies"),
                plan["big_lambda_rounds"],
                0,
                lambda side, event=event, expect=expect: ctx.api.run(
                    side, event, plan["big_lambda_count"], expect
                ),
            )
            lambda_cases[key] = {
                "kind": kind,
                "size": n,
                "event_bytes": event.stat().st_size,
                "samples": samples,
                "median": {name: medians(runs) for name, runs in samples.items()},
            }
        log(
            f"  Lambda {label}: "
            + describe_big(lambda_cases, kind, size, "hwm_kb", lambda m: 1000.0 / m["warm_per_s"])
        )

    cgi = ctx.cgi
    for label, kind, size in BIG_CASES:
        # The 4 MiB reply is there for Lambda's limit, which CGI does not have.
        if kind == "download" and size != 5 * MIB:
            continue
        for n in (size, TINY):
            key = f"{kind}-{n}"
            if kind == "upload":
                data = body_bytes(n)
                env = cgi.env("bodies", "POST", body_length=n)

                def check(body, n=n):
                    return body == b"%d\n" % n

            else:
                data = None
                env = cgi.env("bodies", "GET", query=f"size={n}")

                def check(body, n=n):
                    return len(body) == n

            def measure(side, env=env, data=data, check=check):
                """One request timed, then one under GNU time for its peak."""
                result = cgi.request(side, env, data)
                maxrss, again = cgi.request(side, env, data, peak=True)
                for r in (result, again):
                    status, body = cgi_response(r.stdout)
                    if status != 200 or not check(body):
                        raise BenchError(f"{side.name} answered {status} with {len(body)} bytes")
                return {"wall_ms": result.wall_ms, "response_ms": result.response_ms, "maxrss_kb": maxrss}

            samples = alternate(cgi.sides("bodies", floor=False), plan["big_cgi_rounds"], 1, measure)
            cgi_cases[key] = {
                "kind": kind,
                "size": n,
                "samples": samples,
                "median": {name: medians(runs) for name, runs in samples.items()},
            }
        log(f"  CGI {label}: " + describe_big(cgi_cases, kind, size, "maxrss_kb", lambda m: m["wall_ms"]))
    return {"tiny": TINY, "lambda": lambda_cases, "cgi": cgi_cases}


def peak_multiple(cases, kind, size, side, field_name):
    big = cases[f"{kind}-{size}"]["median"][side][field_name]
    tiny = cases[f"{kind}-{TINY}"]["median"][side][field_name]
    return (big - tiny) * 1024 / size


def describe_big(cases, kind, size, field_name, wall):
    big = cases[f"{kind}-{size}"]["median"]
    return ", ".join(
        f"{side} {wall(m):.1f} ms, peak {peak_multiple(cases, kind, size, side, field_name):.2f}x"
        for side, m in big.items()
    )


# ---------------------------------------------------------------------------------------------
# The machine, the versions


def machine():
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"^MemTotal:\s+(\d+)", meminfo, re.MULTILINE).group(1))
    return {
        "cpu": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "virtual_machine": bool(flags and "hypervisor" in flags.group(1).split()),
        "kernel": platform.release(),
        "os": os_name(),
    }


def python_start_ms(runs=21):
    """The median wall time of `python -S -c pass`: a yardstick for the host itself. A host
    that is slow for reasons of its own (another tenant, a throttled CPU) shows here, where
    the load of this machine's own processes (OtherLoad) does not."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([str(PYTHON), "-S", "-c", "pass"], env=BASE_ENV, check=False)
        times.append((time.perf_counter() - t0) * 1000)
    return round(median(times), 2)


def os_name():
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return platform.system()
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.MULTILINE)
    return match.group(1) if match else platform.system()


def versions():
    found = {
        "rwsgi": run_checked([str(RWSGI), "--version"], 30, "rwsgi --version").strip(),
        "rwsgi_commit": commit(),
        "python": platform.python_version(),
    }
    for package in ("awslambdaric", "apig-wsgi", "serverless-wsgi", "Flask", "Werkzeug", "matplotlib"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    for name, argv, pattern in (
        ("lighttpd", ["lighttpd", "-v"], r"lighttpd/(\S+)"),
        ("ab", ["ab", "-V"], r"Version (\S+)"),
    ):
        try:
            out = subprocess.run(
                argv, capture_output=True, text=True, env=dict(BASE_ENV, PATH=BASE_ENV["PATH"] + ":/usr/sbin")
            ).stdout
            match = re.search(pattern, out)
            found[name] = match.group(1) if match else out.strip() or None
        except OSError:
            found[name] = None
    return found


def commit():
    """The checkout's commit, marked when the build had changes not yet committed (the binary is
    built from the work tree); None outside a git checkout."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--",
                "src",
                "Cargo.toml",
                "Cargo.lock",
                "build.rs",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return head.stdout.strip() + (" with uncommitted changes" if dirty else "")


# ---------------------------------------------------------------------------------------------
# Targets: what each comparison is for, and whether it got there.


@dataclass
class Target:
    comparison: str
    what: str
    rwsgi: str
    other: str
    value: float
    shown: str
    goal: str
    met: bool


def targets(results):
    out = []
    comps = results["comparisons"]
    if "lambda-warm" in comps:
        for module, goal in (("hello", 2.5), ("flaskapp", 1.6)):
            m = comps["lambda-warm"]["cases"][module]["median"]
            r = ratio(m[RWSGI_SIDE]["warm_per_s"], m[APIG]["warm_per_s"])
            out.append(
                Target(
                    "lambda-warm",
                    f"{APP_LABELS[module]}: invocations/s vs {APIG}",
                    f"{m[RWSGI_SIDE]['warm_per_s']:,.0f}/s",
                    f"{m[APIG]['warm_per_s']:,.0f}/s",
                    r,
                    f"{r:.2f}x",
                    f">= {goal}x",
                    r >= goal,
                )
            )
    if "lambda-cold" in comps:
        for module, goal in (("hello", 0.35), ("flaskapp", 0.9)):
            m = comps["lambda-cold"]["cases"][module]["median"]
            r = ratio(m[RWSGI_SIDE]["cold_ms"], m[APIG]["cold_ms"])
            out.append(
                Target(
                    "lambda-cold",
                    f"{APP_LABELS[module]}: cold start vs {APIG}",
                    f"{m[RWSGI_SIDE]['cold_ms']:.1f} ms",
                    f"{m[APIG]['cold_ms']:.1f} ms",
                    r,
                    f"{r:.2f}x",
                    f"<= {goal}x",
                    r <= goal,
                )
            )
    if "lambda-package" in comps:
        for module, case in comps["lambda-package"]["cases"].items():
            m = case["median"]
            for other, goal in ((PKG_RWSGI_BARE, 0.6), (PKG_PIP, 0.85)):
                r = ratio(m[PKG_RWSGI]["cold_ms"], m[other]["cold_ms"])
                out.append(
                    Target(
                        "lambda-package",
                        f"{PACKAGE_LABELS[module]}: deployed package's cold start vs {other}",
                        f"{m[PKG_RWSGI]['cold_ms']:.1f} ms",
                        f"{m[other]['cold_ms']:.1f} ms",
                        r,
                        f"{r:.2f}x",
                        f"<= {goal}x",
                        r <= goal,
                    )
                )
    if "cgi" in comps:
        for module, goal in (("hello", 0.55), ("flaskapp", 0.95)):
            m = comps["cgi"]["cases"][module]["median"]
            r = ratio(m[RWSGI_SIDE]["wall_ms"], m[CGIHANDLER]["wall_ms"])
            out.append(
                Target(
                    "cgi",
                    f"{APP_LABELS[module]}: one request vs {CGIHANDLER}",
                    f"{m[RWSGI_SIDE]['wall_ms']:.1f} ms",
                    f"{m[CGIHANDLER]['wall_ms']:.1f} ms",
                    r,
                    f"{r:.2f}x",
                    f"<= {goal}x",
                    r <= goal,
                )
            )
            if module == "hello":
                gap = m[RWSGI_SIDE]["wall_ms"] - m[FLOOR]["wall_ms"]
                out.append(
                    Target(
                        "cgi",
                        "hello world: one request over the import floor",
                        f"{m[RWSGI_SIDE]['wall_ms']:.1f} ms",
                        f"{m[FLOOR]['wall_ms']:.1f} ms",
                        gap,
                        f"{gap:+.1f} ms",
                        "<= +2 ms",
                        gap <= 2.0,
                    )
                )
    if "cli" in comps:
        m = comps["cli"]["cases"]["hello"]["median"]
        r = ratio(m[RWSGI_SIDE]["wall_ms"], m[WERKZEUG]["wall_ms"])
        out.append(
            Target(
                "cli",
                f"hello world: rwsgi call vs {WERKZEUG}",
                f"{m[RWSGI_SIDE]['wall_ms']:.1f} ms",
                f"{m[WERKZEUG]['wall_ms']:.1f} ms",
                r,
                f"{r:.2f}x",
                "<= 0.5x",
                r <= 0.5,
            )
        )
    if "big-bodies" in comps:
        big = comps["big-bodies"]
        for path, cases, field_name in (
            ("Lambda", big["lambda"], "hwm_kb"),
            ("CGI", big["cgi"], "maxrss_kb"),
        ):
            for label, kind, size in BIG_CASES:
                if f"{kind}-{size}" not in cases:
                    continue
                pm = peak_multiple(cases, kind, size, RWSGI_SIDE, field_name)
                peak = cases[f"{kind}-{size}"]["median"][RWSGI_SIDE][field_name]
                refused = cases[f"{kind}-{size}"]["median"][RWSGI_SIDE].get("status") == 500
                out.append(
                    Target(
                        "big-bodies",
                        f"{path} {label}: rwsgi's peak memory over the body"
                        + (" (answered 500: over Lambda's limit)" if refused else ""),
                        f"{peak / 1024:.1f} MiB peak",
                        f"{size / MIB:.0f} MiB body",
                        pm,
                        f"{pm:.2f}x",
                        "<= 4x",
                        pm <= 4.0,
                    )
                )
    out += fastcgi_targets(comps)
    return out


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def count(n, noun):
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}x"


def render_markdown(results):
    m = results["machine"]
    v = results["versions"]
    kind = "`bench/run --quick`, few repetitions: rough numbers" if results["quick"] else "`bench/run`"
    load = results.get("load", {})
    out = [
        "# rwsgi benchmarks",
        "",
        f"Written by {kind}, {results['date']}. Every number here is in "
        "`results.json` with its raw samples; `results.png` draws the same data.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} CPUs, {m['memory_gib']} GiB memory"
        + (", a virtual machine" if m["virtual_machine"] else "")
        + f"; {m['os']}, Linux {m['kernel']}",
        f"- {v['rwsgi']}"
        + (f", commit {v['rwsgi_commit']}" if v.get("rwsgi_commit") else "")
        + f"; Python {v['python']}; "
        + ", ".join(
            f"{k} {v[k]}" for k in ("awslambdaric", "apig-wsgi", "serverless-wsgi", "Flask", "Werkzeug")
        )
        + f"; lighttpd {v['lighttpd']}, ab {v['ab']}",
        f"- Other processes on the machine: load average {load.get('loadavg_before', '?')} before the run; "
        f"they used {load.get('other_share', 0):.1%} of its CPU time during the run"
        + (f" (hypervisor steal {load['steal_share']:.1%})" if load.get("steal_share") else "")
        + (
            " — **a busy machine: these numbers may be disturbed**"
            if load.get("other_share", 0) > BUSY_SHARE
            else ""
        ),
    ]
    if results.get("yardstick_ms"):
        y = results["yardstick_ms"]
        out.append(
            f"- The host's own speed: `python -S -c pass` took {y['before']:.1f} ms before the run and "
            f"{y['after']:.1f} ms after it (medians of 21; compare runs by this, since a slow host "
            "shows here and not in the load of its processes)"
        )
    out += [
        "",
        "Each comparison runs its sides alternately (A B C A B C ...) and reports medians; a ratio is "
        "always rwsgi / the other side. The Lambda comparisons run the runtime and the fake Runtime API "
        "(`bench/runtime-api`) on one CPU, as a Lambda function of up to 1,769 MB has one vCPU."
        + (
            f" Everything ran at niceness {results['niceness']}, ahead of other processes."
            if results.get("niceness", 0) < 0
            else ""
        ),
        "",
        "## Targets",
        "",
    ]
    rows = [
        [t.what, t.rwsgi, t.other, t.shown, t.goal, "yes" if t.met else "**no**"] for t in targets(results)
    ]
    out.append(table(["measure", "rwsgi", "against", "result", "target", "met"], rows))
    comps = results["comparisons"]
    for name in COMPARISONS:
        if name not in comps:
            continue
        c = comps[name]
        out += ["", f"## {TITLES[name]}", ""]
        if c.get("date") and c["date"] != results["date"]:
            out += [f"(Measured {c['date']}, in an earlier run.)", ""]
        share = c.get("load", {}).get("other_share", 0)
        if share > BUSY_SHARE:
            out += [
                f"**Other processes took {share:.0%} of the machine's CPU time while this ran: "
                "its numbers may be disturbed.**",
                "",
            ]
        out += RENDERERS[name](c, results)
    return "\n".join(out) + "\n"


def render_lambda_warm(c, results):
    ceiling = c["ceiling"]["warm_per_s"]
    out = [
        "Invocations per second through the fake Runtime API, HTTP API 2.0 event "
        "(`bench/events/http-api-v2.json`), medians of runs of "
        + " / ".join(f"{case['count']:,}" for case in c["cases"].values())
        + " invocations (hello / Flask). CPU is the runtime process's own time per warm invocation.",
        "",
        f"The fake API's ceiling, a client that does nothing on the same CPU: **{ceiling:,.0f} "
        f"invocations/s** ({1e6 / ceiling:.0f} µs each).",
        "",
    ]
    rows = []
    for module, case in c["cases"].items():
        m = case["median"]
        for side, s in m.items():
            rows.append(
                [
                    APP_LABELS[module],
                    side,
                    f"{s['warm_per_s']:,.0f}",
                    f"{1e6 / s['warm_per_s']:.0f}",
                    f"{s['cpu_us_per_invocation']:.0f}",
                    (
                        ""
                        if side == RWSGI_SIDE
                        else fmt_ratio(ratio(m[RWSGI_SIDE]["warm_per_s"], s["warm_per_s"]))
                    ),
                    (
                        ""
                        if side == RWSGI_SIDE
                        else fmt_ratio(
                            ratio(m[RWSGI_SIDE]["cpu_us_per_invocation"], s["cpu_us_per_invocation"])
                        )
                    ),
                ]
            )
    out.append(
        table(
            [
                "app",
                "runtime",
                "invocations/s",
                "µs each",
                "CPU µs each",
                "rwsgi/this (rate)",
                "rwsgi/this (CPU)",
            ],
            rows,
        )
    )
    hello = c["cases"]["hello"]["median"]
    # A runtime that took no time at all would run at the ceiling.
    best = ratio(ceiling, hello[APIG]["warm_per_s"])
    share = hello[RWSGI_SIDE]["warm_per_s"] / ceiling
    out += [
        "",
        f"rwsgi's hello-world rate is {share:.0%} of the ceiling: of its "
        f"{1e6 / hello[RWSGI_SIDE]['warm_per_s']:.0f} µs per invocation about {1e6 / ceiling:.0f} µs are the "
        f"fake API and the loopback connection, on the same CPU. However fast a runtime is, this setup "
        f"cannot show a rate ratio over {best:.1f}x against awslambdaric+apig-wsgi; the CPU ratio has no such limit.",
    ]
    return out


def render_lambda_cold(c, results):
    out = [
        "From starting the runtime process to its first reply posted (bench-runtime-api `--count 1`), "
        f"medians of {count(len(next(iter(c['cases']['hello']['samples'].values()))), 'start')} each. "
        "Init CPU is the runtime's CPU time until then.",
        "",
    ]
    rows = []
    for module, case in c["cases"].items():
        m = case["median"]
        for side, s in m.items():
            rows.append(
                [
                    APP_LABELS[module],
                    side,
                    f"{s['cold_ms']:.1f}",
                    f"{s['init_cpu_ms']:.1f}",
                    f"{s['hwm_kb'] / 1024:.1f}",
                    "" if side == RWSGI_SIDE else fmt_ratio(ratio(m[RWSGI_SIDE]["cold_ms"], s["cold_ms"])),
                ]
            )
    out.append(table(["app", "runtime", "cold start ms", "init CPU ms", "peak RSS MiB", "rwsgi/this"], rows))
    return out


def render_lambda_package(c, results):
    n = len(next(iter(c["cases"]["flaskapp"]["samples"].values())))
    out = [
        f"The package a deployment uploads, for Python {c['python']}, started as the managed python"
        f"{c['python']} runtime starts it, with Python unable to write bytecode (as in Lambda's read-only "
        "`/var/task`: the folders read-only and `PYTHONDONTWRITEBYTECODE=1`), from process start to the "
        f"first reply posted; medians of {count(n, 'start')} each. rwsgi's packages are the template "
        "Makefile's (`build-RwsgiFunction`), with bytecode and with `BYTECODE=no` (as the Makefile built "
        "them before it compiled); they start through `bootstrap`, the function's "
        "`AWS_LAMBDA_EXEC_WRAPPER`. awslambdaric+apig-wsgi's packages hold the same requirements plus "
        "apig-wsgi, installed by `pip install -t` (which compiles them, with timestamp-checked bytecode) "
        "and as `sam build` installs them (aws-lambda-builders' python_pip workflow unpacks the wheels: "
        "no bytecode); awslambdaric itself is compiled, as in the runtime's `/var/runtime`.",
        "",
    ]
    rows = []
    for module, case in c["cases"].items():
        m = case["median"]
        for side, s in m.items():
            size = case["sizes"][side]
            rows.append(
                [
                    PACKAGE_LABELS[module],
                    side,
                    f"{s['cold_ms']:.1f}",
                    f"{s['init_cpu_ms']:.1f}",
                    f"{s['hwm_kb'] / 1024:.1f}",
                    f"{size['package_kb'] / 1024:.1f}",
                    f"{size['pyc_files']:,}",
                    "" if side == PKG_RWSGI else fmt_ratio(ratio(m[PKG_RWSGI]["cold_ms"], s["cold_ms"])),
                ]
            )
    out.append(
        table(
            [
                "app",
                "package",
                "cold start ms",
                "init CPU ms",
                "peak RSS MiB",
                "package MiB",
                ".pyc files",
                "rwsgi package/this",
            ],
            rows,
        )
    )
    out += [
        "",
        "`sam build`'s Python builder does not compile: aws-lambda-builders' python_pip workflow downloads "
        "wheels and unpacks them itself, so a package it builds holds no bytecode, and on Lambda every cold "
        "start compiles every module of the requirements, as the `sam build` rows show. A package installed "
        "with `pip install -t` has timestamp-checked bytecode, which stays valid only while each source file "
        "keeps the modification time and size it had when pip compiled it. `sam deploy` zips the package "
        "with Python's zipfile (`ZipFile.write`, in samcli/lib/package/utils.py), which stores DOS times: "
        "local time of the build machine, to 2 seconds, no time zone. A source whose time was an odd second "
        "cannot come back with the time its bytecode names, nor can any source built on a machine whose "
        "time zone is not the one the times are read back in; those modules are compiled at every cold "
        "start, read-only as `/var/task` is. The `pip -t` rows are that package at its best, every "
        "timestamp intact. rwsgi's bytecode is unchecked-hash (PEP 552), valid whatever the times.",
        "",
        "Bytecode makes the packages larger (the package MiB column, unzipped). Leaving out what a function "
        "never imports saves nothing for these two apps: neither Flask's nor Django's wheels hold `tests` "
        "folders or bytecode of other Pythons, so the build removes only other Pythons' `__pycache__` "
        "files (which can come from the app's own folder) and keeps every module.",
    ]
    return out

def render_cgi(c, results):
    n = {k: len(next(iter(v["samples"].values()))) for k, v in c["cases"].items()}
    out = [
        "One request's wall time, process start to exit, stdout to a pipe, a CGI environment: "
        "rwsgi as the interpreter of a drop-in script (`#!rwsgi`, `from app import application`) "
        "against a script run by the virtualenv's python with `wsgiref.handlers.CGIHandler`, and the floor "
        "of that python importing the app and nothing else. Medians of "
        f"{n['hello']} (hello) / {n['flaskapp']} (Flask) requests; peak RSS from "
        f"{count(len(next(iter(c['cases']['hello']['peak_samples'].values()))), 'more run')} under GNU time. "
        "*Response* is when the whole response had arrived (its Content-Length), which is when a web "
        "server can finish the client's response: a process that goes on after that (tearing Python "
        "down) costs CPU time, not the client's wait. The floor's time includes that teardown too.",
        "",
    ]
    rows = []
    for module, case in c["cases"].items():
        m = case["median"]
        for side, s in m.items():
            rows.append(
                [
                    APP_LABELS[module],
                    side,
                    f"{s['wall_ms']:.1f}",
                    "" if side == FLOOR else f"{s['response_ms']:.1f}",
                    f"{s['maxrss_kb'] / 1024:.1f}",
                    "" if side == RWSGI_SIDE else fmt_ratio(ratio(m[RWSGI_SIDE]["wall_ms"], s["wall_ms"])),
                    "" if side == RWSGI_SIDE else f"{m[RWSGI_SIDE]['wall_ms'] - s['wall_ms']:+.1f} ms",
                    (
                        ""
                        if side in (RWSGI_SIDE, FLOOR)
                        else fmt_ratio(ratio(m[RWSGI_SIDE]["response_ms"], s["response_ms"]))
                    ),
                ]
            )
    out.append(
        table(
            [
                "app",
                "program",
                "ms to exit",
                "ms to response",
                "peak RSS MiB",
                "rwsgi/this (exit)",
                "rwsgi − this (exit)",
                "rwsgi/this (response)",
            ],
            rows,
        )
    )
    hello = c["cases"]["hello"]["median"]
    goal = 0.55 * hello[CGIHANDLER]["wall_ms"]
    if goal < hello[FLOOR]["wall_ms"]:
        out += [
            "",
            f"The hello-world target, 0.55x of CGIHandler, is {goal:.1f} ms here: below the "
            f"{hello[FLOOR]['wall_ms']:.1f} ms the virtualenv's python takes to start and import the app, "
            "so only a start-up faster than python's own meets it.",
        ]
    out += [
        "",
        "Under lighttpd (`cgi/lighttpd.conf`, on 127.0.0.1), `ab -c 2`: requests per second, the median of "
        f"{count(len(next(iter(c['cases']['hello']['lighttpd']['samples'].values()))), 'run')}. "
        "With two requests in flight on "
        f"{results['machine']['cores']} CPUs, CPU time is the limit: what a process spends after its "
        "response counts here.",
        "",
    ]
    rows = []
    for module, case in c["cases"].items():
        lt = case["lighttpd"]
        m = lt["median"]
        for side, s in m.items():
            rows.append(
                [
                    APP_LABELS[module],
                    side,
                    f"{lt['requests']}",
                    f"{s['requests_per_s']:.1f}",
                    (
                        ""
                        if side == RWSGI_SIDE
                        else fmt_ratio(ratio(m[RWSGI_SIDE]["requests_per_s"], s["requests_per_s"]))
                    ),
                ]
            )
    out.append(table(["app", "program", "requests", "requests/s", "rwsgi/this"], rows))
    return out


def render_cli(c, results):
    n = {k: len(next(iter(v["samples"].values()))) for k, v in c["cases"].items()}
    out = [
        "One request from the command line: `rwsgi call --venv ... --app APP GET /` against the "
        "virtualenv's python running the app once through Werkzeug's test `Client` and printing the body. "
        f"Wall time, medians of {n['hello']} (hello) / {n['flaskapp']} (Flask) runs; peak RSS from "
        f"{count(len(next(iter(c['cases']['hello']['peak_samples'].values()))), 'more run')} under GNU time.",
        "",
    ]
    rows = []
    for module, case in c["cases"].items():
        m = case["median"]
        for side, s in m.items():
            rows.append(
                [
                    APP_LABELS[module],
                    side,
                    f"{s['wall_ms']:.1f}",
                    f"{s['maxrss_kb'] / 1024:.1f}",
                    "" if side == RWSGI_SIDE else fmt_ratio(ratio(m[RWSGI_SIDE]["wall_ms"], s["wall_ms"])),
                ]
            )
    out.append(table(["app", "command", "ms", "peak RSS MiB", "rwsgi/this"], rows))
    return out


def render_big_bodies(c, results):
    tiny = c["tiny"]
    out = [
        "`bench/apps/bodies.py` reads a whole upload and answers its length, or answers N bytes of "
        "binary data that it builds per request; either way the app itself holds one copy of the body. "
        "The peak multiple is (the process's peak RSS with the big body − its peak with a "
        f"{tiny}-byte body) / the body's size. Lambda: the runtime's VmHWM after "
        f"{count(results['plan']['big_lambda_count'], 'invocation')} (a runtime's peak can grow over its first "
        "few), and the time of a warm invocation, event bytes in and reply bytes out through "
        "the fake API included. CGI: the process's wall time, and its peak RSS in another run of the "
        "same request under GNU time (`/usr/bin/time -f %M`); the upload comes on stdin from a pipe.",
        "",
    ]
    rows = []
    for label, kind, size in BIG_CASES:
        case = c["lambda"].get(f"{kind}-{size}")
        if not case:
            continue
        m = case["median"]
        for side, s in m.items():
            wall = 1000.0 / s["warm_per_s"]
            pm = peak_multiple(c["lambda"], kind, size, side, "hwm_kb")
            status = s.get("status")
            note = f"{status:.0f}" + (" (over Lambda's limit)" if status == 500 else "")
            rows.append(
                [
                    f"Lambda {label}",
                    side,
                    f"{wall:.1f}",
                    f"{s['hwm_kb'] / 1024:.1f}",
                    f"{pm:.2f}x",
                    note,
                    (
                        ""
                        if side == RWSGI_SIDE
                        else fmt_ratio(ratio(1000.0 / m[RWSGI_SIDE]["warm_per_s"], wall))
                    ),
                    "" if side == RWSGI_SIDE else fmt_ratio(ratio(m[RWSGI_SIDE]["hwm_kb"], s["hwm_kb"])),
                ]
            )
    for label, kind, size in BIG_CASES:
        case = c["cgi"].get(f"{kind}-{size}")
        if not case:
            continue
        m = case["median"]
        for side, s in m.items():
            pm = peak_multiple(c["cgi"], kind, size, side, "maxrss_kb")
            rows.append(
                [
                    f"CGI {label}",
                    side,
                    f"{s['wall_ms']:.1f}",
                    f"{s['maxrss_kb'] / 1024:.1f}",
                    f"{pm:.2f}x",
                    "200",
                    "" if side == RWSGI_SIDE else fmt_ratio(ratio(m[RWSGI_SIDE]["wall_ms"], s["wall_ms"])),
                    (
                        ""
                        if side == RWSGI_SIDE
                        else fmt_ratio(ratio(m[RWSGI_SIDE]["maxrss_kb"], s["maxrss_kb"]))
                    ),
                ]
            )
    out.append(
        table(
            [
                "case",
                "side",
                "ms",
                "peak RSS MiB",
                "peak multiple",
                "status",
                "rwsgi/this (time)",
                "rwsgi/this (peak)",
            ],
            rows,
        )
    )
    limit_mb = LAMBDA_REPLY_LIMIT / 1e6
    out += [
        "",
        f"A 5 MiB binary reply is {4 * ((5 * MIB + 2) // 3) / 1e6:.2f} MB once base64-encoded, over the "
        f"{limit_mb:.2f} MB a Lambda function may return: rwsgi answers 500 saying so, while AWS's "
        "client posts it and Lambda would fail the invocation. The 4 MiB reply fits.",
    ]
    return out


def render_memory(c, results):
    m = c["median"]
    rows = [
        [
            side,
            f"{s['rss_kb'] / 1024:.1f}",
            f"{s['hwm_kb'] / 1024:.1f}",
            "" if side == RWSGI_SIDE else fmt_ratio(ratio(m[RWSGI_SIDE]["rss_kb"], s["rss_kb"])),
        ]
        for side, s in m.items()
    ]
    return [
        f"The hello-world app's runtime process after {c['count']:,} warm invocations: resident set "
        f"(VmRSS) and peak (VmHWM), the median of {count(len(next(iter(c['samples'].values()))), 'run')}.",
        "",
        table(["runtime", "RSS MiB", "peak MiB", "rwsgi/this (RSS)"], rows),
    ]


RENDERERS = {
    "lambda-warm": render_lambda_warm,
    "lambda-cold": render_lambda_cold,
    "lambda-package": render_lambda_package,
    "cgi": render_cgi,
    "cli": render_cli,
    "big-bodies": render_big_bodies,
    "memory": render_memory,
    "fastcgi": render_fastcgi,
}


# ---------------------------------------------------------------------------------------------
# results.png


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = results["comparisons"]
    panels = []

    def lambda_groups(cases, value):
        return {APP_LABELS[k]: {side: value(s) for side, s in v["median"].items()} for k, v in cases.items()}

    if "lambda-warm" in comps:
        c = comps["lambda-warm"]
        panels.append(
            (
                "Lambda warm: invocations/s (higher is better)",
                (APIG,),
                lambda_groups(c["cases"], lambda s: s["warm_per_s"]),
                (f"fake API ceiling: {c['ceiling']['warm_per_s']:,.0f}/s", c["ceiling"]["warm_per_s"]),
            )
        )
    if "lambda-cold" in comps:
        panels.append(
            (
                "Lambda cold start: ms (lower is better)",
                (APIG,),
                lambda_groups(comps["lambda-cold"]["cases"], lambda s: s["cold_ms"]),
                None,
            )
        )
    if "cgi" in comps:
        c = comps["cgi"]["cases"]
        panels.append(
            (
                "CGI, one request: ms (lower is better)",
                (CGIHANDLER,),
                lambda_groups(c, lambda s: s["wall_ms"]),
                None,
            )
        )
        panels.append(
            (
                "CGI under lighttpd, ab -c 2: requests/s (higher is better)",
                (CGIHANDLER,),
                {
                    APP_LABELS[k]: {side: s["requests_per_s"] for side, s in v["lighttpd"]["median"].items()}
                    for k, v in c.items()
                },
                None,
            )
        )
    if "cli" in comps:
        panels.append(
            (
                "One-shot CLI: ms (lower is better)",
                (WERKZEUG,),
                lambda_groups(comps["cli"]["cases"], lambda s: s["wall_ms"]),
                None,
            )
        )
    if "big-bodies" in comps:
        c = comps["big-bodies"]
        peaks, walls = {}, {}
        for path_name, cases, field_name, wall in (
            ("Lambda", c["lambda"], "hwm_kb", lambda s: 1000.0 / s["warm_per_s"]),
            ("CGI", c["cgi"], "maxrss_kb", lambda s: s["wall_ms"]),
        ):
            for label, kind, size in BIG_CASES:
                case = cases.get(f"{kind}-{size}")
                if case:
                    name = f"{path_name}\n{label}"
                    if case["median"].get(RWSGI_SIDE, {}).get("status") == 500:
                        name += "\n(rwsgi: 500, over\nLambda's limit)"
                    peaks[name] = {
                        side: peak_multiple(cases, kind, size, side, field_name) for side in case["median"]
                    }
                    walls[name] = {side: wall(s) for side, s in case["median"].items()}
        panels.append(
            ("Big bodies: peak memory / body size (lower is better)", (), peaks, ("target 4x", 4.0))
        )
        panels.append(("Big bodies: ms per request (lower is better)", (APIG, CGIHANDLER), walls, None))
    if "memory" in comps:
        c = comps["memory"]
        panels.append(
            (
                f"Hello world after {c['count']:,} invocations: RSS MiB (lower is better)",
                (APIG,),
                {"hello world": {side: s["rss_kb"] / 1024 for side, s in c["median"].items()}},
                None,
            )
        )

    colors = {
        RWSGI_SIDE: "#d95f02",
        APIG: "#7570b3",
        SLS: "#1b9e77",
        CGIHANDLER: "#7570b3",
        FLOOR: "#999999",
        WERKZEUG: "#7570b3",
    }
    columns = 4
    rows = max(1, (len(panels) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6 * columns, 4.8 * rows), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (title, against, groups, line) in zip(axes.flat, panels):
        width = 0.8 / max(len(g) for g in groups.values())
        labelled = set()
        for j, g in enumerate(groups.values()):
            # Each group's own sides, centred on it: a CGI group has no awslambdaric bars to
            # leave room for.
            present = [(side, v) for side, v in g.items() if v is not None]
            for i, (side, value) in enumerate(present):
                x = j + (i - (len(present) - 1) / 2) * width
                bars = ax.bar(
                    [x],
                    [value],
                    width,
                    color=colors.get(side, "#e7298a"),
                    label=None if side in labelled else side,
                )
                labelled.add(side)
                ax.bar_label(
                    bars, fmt=lambda v: f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}", fontsize=7, padding=1
                )
            # The ratio rwsgi / the side the target names, above the group.
            other = next((s for s in against if s in g), None)
            r = ratio(g.get(RWSGI_SIDE), g.get(other)) if other else None
            if r is not None:
                top = max(v for _, v in present)
                ax.annotate(
                    f"rwsgi/{short(other)}\n{r:.2f}x",
                    (j, top),
                    xytext=(0, 11),
                    textcoords="offset points",
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                    fontweight="bold",
                )
        if line:
            ax.axhline(line[1], color="black", linestyle="--", linewidth=0.8)
            ax.annotate(
                line[0], (-0.45, line[1]), xytext=(0, 3), textcoords="offset points", ha="left", fontsize=7
            )
        ax.set_xticks(range(len(groups)), list(groups), fontsize=8)
        ax.set_xlim(-0.5, len(groups) - 0.5)
        ax.set_title(title, fontsize=9)
        # Headroom above the tallest bar for its ratio label, and above that for the legend.
        tallest = max(
            [v for g in groups.values() for v in g.values() if v is not None] + [line[1] if line else 0]
        )
        ax.set_ylim(0, tallest * 1.6)
        ax.legend(fontsize=7, loc="upper right")
    m = results["machine"]
    fig.suptitle(
        f"rwsgi benchmarks, {results['date'][:10]}{' (quick run)' if results['quick'] else ''}: "
        f"{m['cpu']}, {m['cores']} CPUs; {results['versions']['rwsgi']}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def short(side):
    return {APIG: "apig-wsgi", SLS: "serverless-wsgi", CGIHANDLER: "CGIHandler", WERKZEUG: "werkzeug"}.get(
        side, side
    )


# ---------------------------------------------------------------------------------------------


@dataclass
class Context:
    plan: dict
    work: Path
    api: FakeApi
    cgi: CgiScripts


RUNNERS = {
    "lambda-warm": compare_lambda_warm,
    "lambda-cold": compare_lambda_cold,
    "lambda-package": compare_lambda_package,
    "cgi": compare_cgi,
    "cli": compare_cli,
    "big-bodies": compare_big_bodies,
    "memory": compare_memory,
    "fastcgi": compare_fastcgi,
}


# The section bench/stream.py writes by hand; kept when the rest is written again.
BY_HAND = "## Response streaming (by hand: bench/stream.py)"


def write_reports(results, out_dir):
    path = out_dir / "RESULTS.md"
    old = path.read_text() if path.exists() else ""
    kept = "\n" + old[old.index(BY_HAND):] if BY_HAND in old else ""
    path.write_text(render_markdown(results) + kept)
    plot(results, out_dir / "results.png")


def preflight(chosen):
    for path, hint in (
        (RWSGI, "cargo build --release"),
        (API, "cargo build --release --manifest-path bench/runtime-api/Cargo.toml"),
        (PYTHON, "bench/run creates it"),
    ):
        # The FastCGI comparison has no use for the fake Runtime API.
        if path == API and set(chosen) <= {"fastcgi"}:
            continue
        if not path.exists():
            raise BenchError(f"{path} is missing ({hint}); start the benchmarks with bench/run")
    embedded = re.search(r"Python (\d+\.\d+)", run_checked([str(RWSGI), "--version"], 30, "rwsgi --version"))
    mine = f"{sys.version_info.major}.{sys.version_info.minor}"
    if embedded and embedded.group(1) != mine:
        raise BenchError(
            f"rwsgi embeds Python {embedded.group(1)}, but {VENV} has Python {mine}: remove "
            f"{VENV} and start bench/run again, with the python3 rwsgi is built with first on PATH"
        )


def main():
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="rwsgi's benchmark suite: rwsgi against AWS's Python runtime client with apig-wsgi "
        "and serverless-wsgi (Lambda), wsgiref's CGIHandler (CGI) and Werkzeug's test Client (one-shot), "
        "each pair run alternately. Writes results.json, RESULTS.md and results.png.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions: a smoke check in about a minute, rough numbers"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=COMPARISONS,
        metavar="NAME",
        help="run only this comparison (repeatable): "
        + ", ".join(COMPARISONS)
        + "; its results replace that comparison's in the output folder's results.json",
    )
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="measure nothing: write RESULTS.md and results.png again from the output folder's results.json",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where the results go (default: bench/, or target/bench-quick/ with --quick, "
        "so a smoke check leaves the recorded results alone)",
    )
    args = parser.parse_args()
    out_dir = args.out or (ROOT / "target" / "bench-quick" if args.quick else BENCH)
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = [c for c in COMPARISONS if not args.only or c in args.only]
    if args.redraw:
        try:
            results = json.loads((out_dir / "results.json").read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"cannot read {out_dir / 'results.json'}: {e}") from e
        write_reports(results, out_dir)
        return

    # A SIGTERM ends the run as ^C does, through every `finally` that stops what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    # Where allowed (root), everything the benchmark starts runs before other processes: the
    # scheduler then gives them little of a CPU the benchmark wants, and every side alike is
    # spared their noise. What they still take is measured and reported (OtherLoad).
    try:
        os.setpriority(os.PRIO_PROCESS, 0, PRIORITY)
    except OSError:
        pass
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    preflight(chosen)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results = {
        "date": date,
        "niceness": niceness,
        "quick": args.quick,
        "machine": machine(),
        "versions": versions(),
        "plan": PLANS["quick" if args.quick else "full"],
        "comparisons": {},
    }
    previous = out_dir / "results.json"
    if args.only and previous.exists():
        try:
            old = json.loads(previous.read_text())
            if old.get("quick") == args.quick:
                results["comparisons"] = old.get("comparisons", {})
        except ValueError:
            pass
    m = results["machine"]
    log(
        f"rwsgi benchmarks: {m['cpu']}, {m['cores']} CPUs, {m['memory_gib']} GiB; {results['versions']['rwsgi']}"
    )
    loadavg = Path("/proc/loadavg").read_text().split()[0]
    if float(loadavg) > 0.5:
        log(f"  the machine is busy (load average {loadavg}): expect noisy numbers")
    yardstick_before = python_start_ms()
    whole_run = OtherLoad()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rwsgi-bench-") as tmp:
        work = Path(tmp)
        ctx = Context(results["plan"], work, FakeApi(work), CgiScripts(work))
        try:
            for name in chosen:
                log(f"== {TITLES[name]} ({name})")
                begun = time.monotonic()
                load = OtherLoad()
                data = RUNNERS[name](ctx)
                data["date"] = date
                data["seconds"] = round(time.monotonic() - begun, 1)
                data["load"] = load.result()
                if data["load"]["other_share"] > BUSY_SHARE:
                    log(
                        f"  other processes took {data['load']['other_share']:.0%} of the CPU time meanwhile: "
                        "these numbers may be disturbed"
                    )
                results["comparisons"][name] = data
        finally:
            ctx.cgi.stderr.close()
    results["seconds"] = round(time.monotonic() - started, 1)
    results["load"] = {"loadavg_before": float(loadavg), **whole_run.result()}
    results["yardstick_ms"] = {"before": yardstick_before, "after": python_start_ms()}
    results["targets"] = [t.__dict__ for t in targets(results)]
    (out_dir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_reports(results, out_dir)
    log(f"\nTargets ({results['seconds']:.0f} s):")
    for t in targets(results):
        log(f"  {'met    ' if t.met else 'NOT MET'}  {t.what}: {t.shown} (target {t.goal})")
    log(f"Wrote {out_dir / 'results.json'}, {out_dir / 'RESULTS.md'}, {out_dir / 'results.png'}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"bench/run: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
