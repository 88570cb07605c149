"""Shows what of the process environment reaches the app through the WSGI environ, which must
hold the request and nothing of the process (docs/lambda.md#the-environ: "the process
environment (AWS credentials among it) never enters it").

The query's `names` (comma-separated) names process variables. The app reads their values from
os.environ, where the process's own variables belong (on Lambda the function's credentials are
there for the AWS SDKs), and looks for each value in every environ key and in the repr of every
environ value, nested objects (rwsgi.event, rwsgi.context) included.

Answers JSON: `os_environ` maps each name to its value in os.environ (null when unset), `leaks`
lists the environ keys where a value was found, and `keys` lists every environ key.
"""

import json
import os
from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    names = [n for n in query.get("names", [""])[0].split(",") if n]
    values = {name: os.environ.get(name) for name in names}
    secrets = [v for v in values.values() if v]
    leaks = sorted(
        key
        for key, value in environ.items()
        if any(s in key or s in repr(value) for s in secrets)
    )
    body = json.dumps(
        {"os_environ": values, "leaks": leaks, "keys": sorted(environ)},
        sort_keys=True,
    ).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
