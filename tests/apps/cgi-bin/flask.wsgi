#!/usr/bin/env rwsgi
"""The Flask app of flask_app.py (copied beside this script) as a drop-in, with one route more:
a redirect built with url_for, whose target must include the script's own path."""

from flask import redirect, url_for
from flask_app import app as application


@application.get("/go")
def go():
    return redirect(url_for("hello", name="cgi"))
