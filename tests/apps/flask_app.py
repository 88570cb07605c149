"""A Flask app using the parts of Flask that lean on the WSGI server: routing, query strings,
JSON, forms, uploads, cookies, URL building (which reads SCRIPT_NAME and Host), send_file
(which goes through wsgi.file_wrapper) and a streamed response.
"""

import os

from flask import Flask, Response, jsonify, make_response, request, send_file, url_for

REPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "report.txt")

app = Flask(__name__)


@app.get("/")
def index():
    return "flask index\n"


@app.get("/hello/<name>")
def hello(name):
    return jsonify(hello=name)


@app.get("/args")
def args():
    return jsonify(tags=request.args.getlist("tag"), q=request.args.get("q"))


@app.post("/json")
def json_echo():
    return jsonify(received=request.get_json(), method=request.method)


@app.post("/form")
def form():
    return jsonify(form=request.form.to_dict(flat=False))


@app.post("/upload")
def upload():
    uploaded = request.files["file"]
    data = uploaded.read()
    return jsonify(
        filename=uploaded.filename,
        size=len(data),
        content_type=uploaded.content_type,
        text=data.decode("utf-8", "replace"),
        fields=request.form.to_dict(),
    )


@app.get("/cookies")
def cookies():
    response = make_response(jsonify(cookies=request.cookies))
    response.set_cookie("session", "abc123", httponly=True)
    response.set_cookie("theme", "dark", path="/")
    return response


@app.get("/urls")
def urls():
    return jsonify(
        relative=url_for("hello", name="x"),
        external=url_for("hello", name="x", _external=True),
        script_root=request.script_root,
        path=request.path,
    )


@app.get("/report")
def report():
    return send_file(REPORT, mimetype="text/plain")


@app.get("/stream")
def stream():
    def parts():
        for i in range(3):
            yield "part %d\n" % i

    return Response(parts(), mimetype="text/plain")


@app.get("/boom")
def boom():
    raise RuntimeError("flask view failed")
