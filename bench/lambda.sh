#!/usr/bin/env bash
# Lambda, warm and cold: rwsgi against AWS's Python runtime client (awslambdaric) with
# apig-wsgi, on the same fake Runtime API (bench/runtime-api, native), the same apps and the same
# HTTP API 2.0 event, alternating A B A B. Run by hand; prints one JSON line per run:
# cold_ms (process start to first reply posted), warm_per_s, cpu_us_per_invocation, rss_kb.
# The server's own ceiling (a client that does nothing) is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
count=${COUNT:-3000}
venv=$PWD/target/bench-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet awslambdaric apig-wsgi flask
fi
cargo build --release --quiet
cargo build --release --quiet --manifest-path bench/runtime-api/Cargo.toml
api=$PWD/bench/runtime-api/target/release/bench-runtime-api
rwsgi=$PWD/target/release/rwsgi
event=$PWD/bench/events/http-api-v2.json
cd bench/apps
echo "# ceiling (do-nothing client)"
"$api" --event "$event" --count 20000 --self-client
for app in hello flaskapp; do
    spec=$([ "$app" = hello ] && echo hello:application || echo flaskapp:app)
    for i in $(seq "$runs"); do
        echo "# $app rwsgi"
        "$api" --event "$event" --count "$count" --env RWSGI_APP="$spec" \
            --env RWSGI_VENV="$venv" --env LAMBDA_TASK_ROOT="$PWD" -- "$rwsgi"
        echo "# $app awslambdaric+apig-wsgi"
        "$api" --event "$event" --count "$count" --env LAMBDA_TASK_ROOT="$PWD" \
            --env PYTHONPATH="$PWD" -- "$venv/bin/python" -m awslambdaric "$app.apig_handler"
    done
done
