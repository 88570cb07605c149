"""Runs one CGI request through the standard library's `wsgiref.handlers.CGIHandler`, the
reference the CGI tests compare rwsgi with: the same app, environment and stdin go to both.

Usage: python cgihandler_run.py MODULE[:ATTR]   (ATTR defaults to `application`)

This file's folder is first on sys.path (as for any script run by path), so the test apps
beside it import.
"""

import importlib
import sys
from wsgiref.handlers import CGIHandler


def main():
    module_name, _, attr = sys.argv[1].partition(":")
    app = getattr(importlib.import_module(module_name), attr or "application")
    CGIHandler().run(app)


if __name__ == "__main__":
    main()
