"""Reports the cyclic garbage collector's state as the app sees it during a request, and makes
cyclic garbage to show that the collector still frees it.

`?at_import=disable` or `?at_import=threshold` cannot reach the import, so the choice is made
by the environment: GC_STATE_AT_IMPORT=disable calls gc.disable() while the module is imported,
GC_STATE_AT_IMPORT=threshold sets gc.set_threshold(5000, 20, 30).
"""

import gc
import json
import os
import weakref

_choice = os.environ.get("GC_STATE_AT_IMPORT", "")
if _choice == "disable":
    gc.disable()
elif _choice == "threshold":
    gc.set_threshold(5000, 20, 30)

# Import-time objects, as any app makes by the thousand.
_registry = [{"n": i} for i in range(5000)]


class _Node:
    pass


def _cycle_collected():
    """A reference cycle dropped during the request is freed by a collection."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    probe = weakref.ref(a)
    del a, b
    gc.collect()
    return probe() is None


def application(environ, start_response):
    body = json.dumps(
        {
            "enabled": gc.isenabled(),
            "threshold": list(gc.get_threshold()),
            "frozen": gc.get_freeze_count(),
            "cycle_collected": _cycle_collected(),
        }
    ).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
