"""A plain module (no WSGI callable) that hello.wsgi imports from beside it."""

GREETING = "hello from helper_mod"
