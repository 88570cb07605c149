"""Answers with what a Lambda invocation gives an app besides the environ of PEP 3333, as JSON:

    context       the `rwsgi.context` attributes, named as in AWS's Python runtime
    remaining_ms  rwsgi.context.get_remaining_time_in_millis()
    caller        rwsgi.context's tenant_id, identity and client_context (with its client),
                  as plain JSON, each object's attributes read by name
    event         the whole `rwsgi.event`
    event_type    the Python type of `rwsgi.event`
    trace_id      os.environ["_X_AMZN_TRACE_ID"], or null when it is not set
    via           "application", or "handler" when called under that name

With `print=TEXT` in the query the app also writes TEXT to standard output with print() and
to `wsgi.errors`, so a test can look for both in the function's log.

`handler` is the same app under another name, for the Lambda Python runtime's
`module.function` Handler setting (`_HANDLER=lambda_context.handler`).
"""

import json
import os
from urllib.parse import parse_qs

CONTEXT_ATTRIBUTES = (
    "aws_request_id",
    "function_name",
    "function_version",
    "invoked_function_arn",
    "memory_limit_in_mb",
    "log_group_name",
    "log_stream_name",
)


def _attributes(obj, names):
    return None if obj is None else {name: getattr(obj, name) for name in names}


def _caller(context):
    client_context = context.client_context
    described = _attributes(client_context, ("custom", "env"))
    if described is not None:
        described["client"] = _attributes(
            client_context.client,
            (
                "installation_id",
                "app_title",
                "app_version_name",
                "app_version_code",
                "app_package_name",
            ),
        )
    return {
        "tenant_id": context.tenant_id,
        "identity": _attributes(
            context.identity, ("cognito_identity_id", "cognito_identity_pool_id")
        ),
        "client_context": described,
    }


def _answer(environ, start_response, via):
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "print" in query:
        text = query["print"][0]
        print("print: %s" % text)
        environ["wsgi.errors"].write("wsgi.errors: %s\n" % text)
    context = environ["rwsgi.context"]
    out = {
        "via": via,
        "context": {name: getattr(context, name) for name in CONTEXT_ATTRIBUTES},
        "remaining_ms": context.get_remaining_time_in_millis(),
        "caller": _caller(context),
        "event": environ["rwsgi.event"],
        "event_type": type(environ["rwsgi.event"]).__name__,
        "trace_id": os.environ.get("_X_AMZN_TRACE_ID"),
    }
    payload = json.dumps(out).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [payload]


def application(environ, start_response):
    return _answer(environ, start_response, "application")


def handler(environ, start_response):
    return _answer(environ, start_response, "handler")
