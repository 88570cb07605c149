"""Hello-world WSGI app, and the same app behind apig-wsgi for AWS's Python runtime client."""


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!\n"]


def handler(event, context):
    # apig_wsgi is imported only by the awslambdaric side of the comparison.
    return _apig(event, context)


def _load():
    import apig_wsgi

    return apig_wsgi.make_lambda_handler(application)


_apig = None


def apig_handler(event, context):
    global _apig
    if _apig is None:
        _apig = _load()
    return _apig(event, context)
