"""Makes some 4 MiB of small objects while the module is imported and as much again during a
request, which Python takes from arenas it maps from the system: traced with `strace -e
trace=mmap,write`, the arenas of the import and those of the request are told apart by the
line this app writes to stderr as the request starts.
"""

import os

MARK = b"arena_faults: the request starts\n"

# One-element tuples, 48 bytes each with the collector's header, all from Python's arenas.
_COUNT = 90_000


def _make_objects():
    chain = None
    for _ in range(_COUNT):
        chain = (chain,)
    return chain


# Kept, as an app keeps what its import makes.
_made_at_import = _make_objects()


def application(environ, start_response):
    os.write(2, MARK)
    made = _make_objects()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"made %d objects deep\n" % (_depth(made),)]


def _depth(chain):
    n = 0
    while chain is not None:
        chain = chain[0]
        n += 1
    return n
