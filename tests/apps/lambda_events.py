"""Plain Lambda handlers, `function(event, context)`, for RWSGI_EVENT_HANDLER: what rwsgi calls
for events that are not HTTP requests (SQS, EventBridge, a direct invoke).

    echo_event      returns the event, and the context's request id and function name
    fail            raises ValueError("cannot process <the event's id>") on the marked line
    unserialisable  returns a set, which JSON cannot hold
"""


def echo_event(event, context):
    return {
        "received": event,
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
    }


def fail(event, context):
    raise ValueError("cannot process %s" % event.get("id"))  # the failing line


def unserialisable(event, context):
    return {"values": {1, 2, 3}}
