"""A stand-in for `snapshot_restore_py`, the module AWS's Python managed runtimes ship for
SnapStart hooks, with its documented API ("Lambda SnapStart runtime hooks for Python"): the two
registries are lists of `(func, args, kwargs)`, the `register_*` functions append to them and
return `func` (so they work as decorators), and the `get_*` functions return the lists
themselves. Only the tests import it: on Lambda the runtime's own module is found first.
"""

_before_snapshot_registry = []
_after_restore_registry = []


def register_before_snapshot(func, *args, **kwargs):
    _before_snapshot_registry.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    _after_restore_registry.append((func, args, kwargs))
    return func


def get_before_snapshot():
    return _before_snapshot_registry


def get_after_restore():
    return _after_restore_registry
