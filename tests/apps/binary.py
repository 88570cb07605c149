"""A binary body: the 256 byte values in order, or with `?size=N` N bytes where byte i is
((i * 131) ^ (i >> 8)) & 0xFF, sent in 64 KiB chunks. The tests compute the same bytes.
"""

from urllib.parse import parse_qs

CHUNK = 64 * 1024


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "size" in query:
        size = int(query["size"][0])
        data = bytes(((i * 131) ^ (i >> 8)) & 0xFF for i in range(size))
    else:
        data = bytes(range(256))
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", str(len(data))),
        ],
    )
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
