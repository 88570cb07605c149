"""Returns a file through `wsgi.file_wrapper` (PEP 3333, "Optional Platform-Specific File
Handling").

The file is written to a temporary folder for each request and unlinked at once: the open
file keeps its data, and nothing is left behind.

Query:
    seek=N       seek to N before wrapping; PEP 3333 says transmission starts at the file's
                 current position
    kind=plain   wrap an object that has only read() and close(), not a real file; its close()
                 writes "filelike closed" to wsgi.errors, which shows the wrapper's close()
                 reached the file-like's close() as PEP 3333 requires
"""

import io
import os
import tempfile
from urllib.parse import parse_qs

DATA = b"".join(b"line %05d\n" % i for i in range(2000))
BLOCK_SIZE = 4096


class PlainFileLike:
    def __init__(self, data, errors):
        self._stream = io.BytesIO(data)
        self._errors = errors

    def read(self, size=-1):
        return self._stream.read(size)

    def close(self):
        self._errors.write("filelike closed\n")
        self._stream.close()


def _open_data():
    fd, path = tempfile.mkstemp(prefix="rwsgi-filewrapper-", suffix=".txt")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(DATA)
        return open(path, "rb")
    finally:
        os.unlink(path)


def application(environ, start_response):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    seek = int(query.get("seek", ["0"])[0])
    if query.get("kind", [""])[0] == "plain":
        filelike = PlainFileLike(DATA, environ["wsgi.errors"])
    else:
        filelike = _open_data()
    if seek:
        filelike.seek(seek)
    start_response(
        "200 OK",
        [
            ("Content-Type", "text/plain"),
            ("Content-Length", str(len(DATA) - seek)),
        ],
    )
    return environ["wsgi.file_wrapper"](filelike, BLOCK_SIZE)
