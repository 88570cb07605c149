#!/usr/bin/env rwsgi
"""httpoxy (CVE-2016-5385): a client's `Proxy:` header becomes the CGI variable HTTP_PROXY,
which HTTP libraries take as their proxy. Reports what the process environment holds under that
name (what urllib or requests would use) and what the WSGI environ holds (the request header).
"""

import json
import os


def application(environ, start_response):
    body = json.dumps(
        {
            "os.environ": os.environ.get("HTTP_PROXY"),
            "environ": environ.get("HTTP_PROXY"),
        },
        sort_keys=True,
    ).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
