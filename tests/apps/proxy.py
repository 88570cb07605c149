"""Shows where a client's `Proxy:` request header went (httpoxy, CVE-2016-5385): the server
turns it into HTTP_PROXY, which HTTP client libraries also read from the process environment
as their proxy setting.

Answers JSON: `environ` is environ["HTTP_PROXY"] (the request header, which the app may read),
`os_environ` is os.environ's HTTP_PROXY, and `subprocess` is the HTTP_PROXY a child process
(`env`) sees; null where it is absent.
"""

import json
import os
import subprocess


def application(environ, start_response):
    child = subprocess.run(["env"], capture_output=True, check=True).stdout
    seen = [
        line.split(b"=", 1)[1].decode("latin-1")
        for line in child.splitlines()
        if line.startswith(b"HTTP_PROXY=")
    ]
    body = json.dumps(
        {
            "environ": environ.get("HTTP_PROXY"),
            "os_environ": os.environ.get("HTTP_PROXY"),
            "subprocess": seen[0] if seen else None,
        },
        sort_keys=True,
    ).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
