"""A small Flask app: `app` for rwsgi, and the same app behind apig-wsgi and serverless-wsgi for
AWS's Python runtime client (awslambdaric)."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello, world!\n"


@app.route("/items/<int:item_id>")
def item(item_id):
    return jsonify(id=item_id, q=request.args.getlist("q"))


_apig = None


def apig_handler(event, context):
    global _apig
    if _apig is None:
        import apig_wsgi

        _apig = apig_wsgi.make_lambda_handler(app)
    return _apig(event, context)


def sls_handler(event, context):
    import serverless_wsgi

    return serverless_wsgi.handle_request(app, event, context)
