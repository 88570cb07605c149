"""A Flask app whose one route waits on I/O (a database or an HTTP call stands in as a sleep),
for the Lambda Managed Instances comparison: `app` for rwsgi, `apig_handler` for AWS's Python
runtime client (awslambdaric) with apig-wsgi. The wait is 20 ms, or BENCH_WAIT_MS milliseconds
(0: no wait, so that the request's CPU time alone decides throughput)."""

import os
import time

import apig_wsgi
from flask import Flask, jsonify, request

WAIT = float(os.environ.get("BENCH_WAIT_MS", "20")) / 1000

app = Flask(__name__)


@app.route("/wait")
def wait():
    if WAIT:
        time.sleep(WAIT)
    return jsonify(ok=True, q=request.args.get("q"))


apig_handler = apig_wsgi.make_lambda_handler(app)
