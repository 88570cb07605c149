"""An app factory, for `--app "factory:create_app(...)"` with Python literals as arguments."""


def create_app(greeting="hi", times=1):
    if times < 1:
        raise ValueError("times must be at least 1, got %r" % times)
    body = ("%s\n" % greeting).encode("utf-8") * times

    def application(environ, start_response):
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]

    return application


default_app = create_app("default")
