# A mod_wsgi-style script: a name that does not end in .py, defining `application`.
import helper_mod


def application(environ, start_response):
    body = ("%s\n" % helper_mod.GREETING).encode("utf-8")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
