"""Hello-world WSGI app: `application` for rwsgi, and the same app behind apig-wsgi and
serverless-wsgi for AWS's Python runtime client (awslambdaric).

The adapters are imported on their first call, so that rwsgi's side of a comparison never loads
them; on the other sides that import still comes before the first reply, inside the cold start.
"""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!\n"]


_apig = None


def apig_handler(event, context):
    global _apig
    if _apig is None:
        import apig_wsgi

        _apig = apig_wsgi.make_lambda_handler(application)
    return _apig(event, context)


def sls_handler(event, context):
    import serverless_wsgi

    return serverless_wsgi.handle_request(application, event, context)
