"""Wraps another test app in `wsgiref.validate.validator`, which checks both sides of PEP 3333
as the request runs: the environ and the input stream rwsgi gives, and the app's own
behaviour. Used as `--app "validated:wrap('echo')"`.
"""

import importlib
from wsgiref.validate import validator


def wrap(name, attr="application"):
    module = importlib.import_module(name)
    return validator(getattr(module, attr))
