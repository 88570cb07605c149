"""The Flask app of flask_app.py with three more routes that the Lambda end-to-end tests
(tests/lambda_emulator.rs) need: a binary download, a response setting several cookies, and an
upload echoed back byte for byte. Binary bodies and repeated Set-Cookie headers are what the
Lambda reply formats handle least naturally (base64, `cookies`, `multiValueHeaders`).
"""

import io
from datetime import datetime, timezone

from flask import Response, make_response, request, send_file

from flask_app import app


@app.get("/download")
def download():
    # The same bytes as binary.py: byte i is ((i * 131) ^ (i >> 8)) & 0xFF, so every value
    # from 0 to 255 occurs and the body is not valid UTF-8.
    size = int(request.args.get("size", "256"))
    data = bytes(((i * 131) ^ (i >> 8)) & 0xFF for i in range(size))
    return send_file(
        io.BytesIO(data),
        mimetype="application/octet-stream",
        as_attachment=True,
        download_name="data.bin",
        # No Date, Accept-Ranges or range handling: the tests compare whole replies.
        conditional=False,
    )


@app.get("/many-cookies")
def many_cookies():
    response = make_response("four cookies\n")
    response.mimetype = "text/plain"
    response.set_cookie("a", "1")
    response.set_cookie("b", "2", path="/", httponly=True)
    # An Expires date holds a comma, which is why Set-Cookie headers are never folded into one
    # (RFC 6265, section 3).
    response.set_cookie(
        "c",
        "3",
        expires=datetime(2037, 10, 21, 7, 28, tzinfo=timezone.utc),
        secure=True,
        samesite="Lax",
    )
    response.set_cookie("d", "4", samesite="Strict")
    return response


@app.post("/upload-echo")
def upload_echo():
    uploaded = request.files["file"]
    return Response(
        uploaded.read(),
        mimetype=uploaded.content_type,
        headers={"X-Filename": uploaded.filename, "X-Note": request.form.get("note", "")},
    )
