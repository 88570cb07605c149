"""A Flask app whose one route waits 20 ms on I/O (a database or an HTTP call stands in as a
sleep), for the Lambda Managed Instances comparison: `app` for rwsgi, `apig_handler` for AWS's
Python runtime client (awslambdaric) with apig-wsgi."""

import time

import apig_wsgi
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/wait")
def wait():
    time.sleep(0.020)
    return jsonify(ok=True, q=request.args.get("q"))


apig_handler = apig_wsgi.make_lambda_handler(app)
