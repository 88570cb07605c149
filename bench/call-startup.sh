#!/usr/bin/env bash
# One-shot start-up: `rwsgi call` on the bundled example app against the floor of importing the
# same app with the same Python (`python -c 'import app'`), with and without a virtualenv.
# Run by hand; needs hyperfine (apt-get install hyperfine) and the test virtualenv
# (scripts/test creates target/test-venv). Prints hyperfine's tables.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
rwsgi=$PWD/target/release/rwsgi
venv=$PWD/target/test-venv
# The real interpreter, not a shim script in front of it (pyenv's `python3` is a bash script).
python=$(python3 -c 'import sys; print(sys.executable)')
cd template
hyperfine -N --warmup 5 --runs "${RUNS:-60}" \
    "$rwsgi call --app app.py GET /" \
    "$python -c 'import app'"
if [ -x "$venv/bin/python" ]; then
    hyperfine -N --warmup 5 --runs "${RUNS:-60}" \
        "$rwsgi call --venv $venv --app app.py GET /" \
        "$venv/bin/python -c 'import app'"
fi
