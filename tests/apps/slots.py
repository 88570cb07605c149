"""An app for Lambda Managed Instances: each request sleeps (?sleep=SECONDS, default 0.2) as an
app waiting on I/O does, prints one line naming its request id to stdout, and answers with
JSON: its process id, the request id and the trace id it saw (os.environ["_X_AMZN_TRACE_ID"]),
and whether it saw a variable an earlier invocation set in os.environ (it sets one each time).
?raise=1 raises, so that rwsgi logs the traceback.
"""

import json
import os
import time
from urllib.parse import parse_qs

IMPORTED_BY = os.getpid()


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    request_id = environ["rwsgi.context"].aws_request_id
    print("handling %s in %d" % (request_id, os.getpid()), flush=True)
    if query.get("raise"):
        raise ValueError("failing " + request_id)
    time.sleep(float(query.get("sleep", ["0.2"])[0]))
    body = json.dumps(
        {
            "pid": os.getpid(),
            "imported_by": IMPORTED_BY,
            "request_id": request_id,
            "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
            "multiprocess": environ["wsgi.multiprocess"],
        }
    )
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body.encode()]
