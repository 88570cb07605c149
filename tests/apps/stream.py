"""A body produced by a generator, one chunk per `yield`.

Query: `n` chunks (default 3) of `size` bytes (default 5); chunk i repeats the letter
"a" + i. With `empty=1` an empty chunk is yielded before each one, which a server must pass
over (PEP 3333, "Buffering and Streaming").
"""

from urllib.parse import parse_qs


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    count = int(query.get("n", ["3"])[0])
    size = int(query.get("size", ["5"])[0])
    empty = query.get("empty", ["0"])[0] == "1"

    def body():
        for i in range(count):
            if empty:
                yield b""
            yield bytes([ord("a") + i % 26]) * size

    start_response("200 OK", [("Content-Type", "text/plain")])
    return body()
