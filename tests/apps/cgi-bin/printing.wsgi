#!/usr/bin/env rwsgi
"""Prints while answering: under CGI, stdout is the response, so the printed text must go to the
server's error log instead."""

import sys


def application(environ, start_response):
    print("printed by printing.wsgi")
    sys.stdout.write("written to sys.stdout by printing.wsgi\n")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the body, and nothing printed\n"]
