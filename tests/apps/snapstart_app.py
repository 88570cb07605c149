"""An app with SnapStart hooks registered through `snapshot_restore_py`, each appending a line
to the file named by SNAP_LOG:

    before first, before second    the before-snapshot hooks, registered in that order
    after first, after second      the after-restore hooks, registered in that order
    random PID VALUE               the first after-restore hook's random.random(), by process

SNAP_FAIL=before or SNAP_FAIL=after makes the second hook of that kind raise.
SNAP_FORK=1 makes the last before-snapshot hook to run fork the process: parent and child then
go on from the same state (random's included), as two execution environments restored from one
snapshot do.

The app answers with its process id.
"""

import os
import random

from snapshot_restore_py import register_after_restore, register_before_snapshot

random.seed(1234)


def _note(line):
    with open(os.environ["SNAP_LOG"], "a") as f:
        f.write(line + "\n")


@register_before_snapshot
def before_first():
    _note("before first")
    if os.environ.get("SNAP_FORK") == "1":
        # `random` re-seeds itself in a forked child (os.register_at_fork); a restored snapshot
        # does not, so the child takes the parent's state back.
        state = random.getstate()
        if os.fork() == 0:
            random.setstate(state)


def before_second(word):
    _note("before " + word)
    if os.environ.get("SNAP_FAIL") == "before":
        raise RuntimeError("cannot flush the cache")


register_before_snapshot(before_second, "second")


@register_after_restore
def after_first():
    _note("after first")
    _note("random %d %r" % (os.getpid(), random.random()))


def after_second(*, word):
    _note("after " + word)
    if os.environ.get("SNAP_FAIL") == "after":
        raise ConnectionError("cannot reconnect")


register_after_restore(after_second, word="second")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
