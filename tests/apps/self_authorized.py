"""One Lambda function that is both an API's app and its own API Gateway Lambda authorizer
(RWSGI_APP=self_authorized, RWSGI_EVENT_HANDLER=self_authorized:authorize):

    application  answers with the environ keys the front door decides (SCRIPT_NAME, PATH_INFO,
                 QUERY_STRING, SERVER_NAME, SERVER_PORT, HTTP_HOST, wsgi.url_scheme,
                 REMOTE_USER) and the event it was built from (environ["rwsgi.event"])
    authorize    the authorizer: allows a request whose Authorization header is
                 "Bearer letmein". REST and HTTP API payload 1.0 inputs get an IAM policy for
                 their methodArn; payload 2.0 inputs (routeArn) the simple response
                 {"isAuthorized": ...}
"""

import json

KEYS = (
    "SCRIPT_NAME",
    "PATH_INFO",
    "QUERY_STRING",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_HOST",
    "wsgi.url_scheme",
    "REMOTE_USER",
)


def application(environ, start_response):
    out = {key: environ.get(key) for key in KEYS}
    out["event"] = environ["rwsgi.event"]
    body = json.dumps(out).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def _token(event):
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return headers.get("authorization", "")


def authorize(event, context):
    allowed = _token(event) == "Bearer letmein"
    if "routeArn" in event:
        return {"isAuthorized": allowed, "context": {"checkedBy": context.function_name}}
    return {
        "principalId": "letmein-user" if allowed else "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Action": "execute-api:Invoke",
                    "Effect": "Allow" if allowed else "Deny",
                    "Resource": event["methodArn"],
                }
            ],
        },
    }
