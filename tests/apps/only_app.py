"""Defines `app` and no `application`: the module form of --app falls back to `app`."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"only app\n"]
