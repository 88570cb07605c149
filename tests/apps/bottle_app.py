"""A Bottle app. When a route raises, Bottle (with `catchall` on, its default) writes the
traceback to wsgi.errors, renders its own 500 page and passes sys.exc_info() to
start_response: the exc_info path of PEP 3333 taken before anything was sent.
"""

import bottle

app = bottle.Bottle()


@app.route("/hello/<name>")
def hello(name):
    return {"hello": name, "method": bottle.request.method}


@app.post("/form")
def form():
    return {"name": bottle.request.forms.getunicode("name")}


@app.route("/boom")
def boom():
    raise RuntimeError("bottle route failed")


application = app
