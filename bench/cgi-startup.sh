#!/usr/bin/env bash
# One CGI request's wall time: rwsgi as the interpreter of a drop-in script against
# wsgiref.handlers.CGIHandler with the same Python and virtualenv, and against the floor of
# importing the app (`python -c 'import app'`). Run by hand; needs hyperfine
# (apt-get install hyperfine) and the test virtualenv (scripts/test creates target/test-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
rwsgi=$PWD/target/release/rwsgi
venv=$PWD/target/test-venv
python=$(python3 -c 'import sys; print(sys.executable)')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cat > "$work/hello.py" <<'PY'
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!\n"]
PY
cat > "$work/flaskapp.py" <<'PY'
from flask import Flask
app = Flask(__name__)

@app.route("/")
def index():
    return "Hello, world!\n"
PY
for app in hello flaskapp; do
    printf '#!%s\nfrom %s import *\n' "$rwsgi" "$app" > "$work/$app.wsgi"
    printf '#!%s\nimport wsgiref.handlers\nfrom %s import *\nwsgiref.handlers.CGIHandler().run(%s)\n' \
        "$venv/bin/python" "$app" "$([ $app = hello ] && echo application || echo app)" > "$work/$app.cgi"
    chmod +x "$work/$app.wsgi" "$work/$app.cgi"
done

export GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET SCRIPT_NAME=/app PATH_INFO=/ QUERY_STRING= \
    SERVER_NAME=localhost SERVER_PORT=80 SERVER_PROTOCOL=HTTP/1.1 REMOTE_ADDR=127.0.0.1
export RWSGI_VENV=$venv
cd "$work"
for app in hello flaskapp; do
    hyperfine -N --warmup 5 --runs "${RUNS:-60}" \
        "./$app.wsgi" "./$app.cgi" "$venv/bin/python -c 'import $app'"
done
