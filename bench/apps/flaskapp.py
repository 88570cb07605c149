"""A small Flask app, served by rwsgi directly and by awslambdaric + apig-wsgi."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello, world!\n"


@app.route("/items/<int:item_id>")
def item(item_id):
    return jsonify(id=item_id, q=request.args.getlist("q"))


def apig_handler(event, context):
    global apig_handler
    import apig_wsgi

    apig_handler = apig_wsgi.make_lambda_handler(app)
    return apig_handler(event, context)
