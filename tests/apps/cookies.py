"""Sets five cookies, each in its own Set-Cookie header (they must never be joined into one:
RFC 6265 section 3), and answers with the Cookie header it received.
"""

COOKIES = [
    "c1=one; Path=/",
    "c2=two; Path=/; HttpOnly",
    "c3=three; Path=/; Secure; SameSite=Lax",
    # A comma inside the value, which is why Set-Cookie cannot be folded into one line.
    "c4=four; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
    "c5=five; Max-Age=60",
]


def application(environ, start_response):
    body = ("cookie: %s\n" % environ.get("HTTP_COOKIE", "(none)")).encode("latin-1")
    headers = [("Content-Type", "text/plain")]
    headers += [("Set-Cookie", cookie) for cookie in COOKIES]
    start_response("200 OK", headers)
    return [body]
