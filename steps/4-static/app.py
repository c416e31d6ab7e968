"""Steps 3–4 — the demo app: the tutorial's pages, as routes of a ``Router``, and the static folder.

``create_app()`` builds the router that ``HTTPServer`` uses by default.
Each handler takes the request and returns what the page should be: an
``HTTPResponse``, or text (HTML), or a dict (JSON), which the router converts.
"""

import html
from http import HTTPStatus
from pathlib import Path

from response import HTTPResponse
from router import Router
from static import StaticFiles

HERE = Path(__file__).resolve().parent
# The demo site's files: static/ beside this file (the reference solution, one folder down, uses its step's).
STATIC_DIR = HERE / "static" if (HERE / "static").is_dir() else HERE.parent / "static"

HOME = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Build Your Own HTTP Server</title></head>
<body>
<h1>Your own server, now with routes and files</h1>
<ul>
  <li><a href="/about">About this server</a></li>
  <li><a href="/user/ada">A page for a user: /user/{username}</a></li>
  <li><a href="/echo/hello%20world">Echo some text: /echo/{text}</a></li>
  <li><a href="/files/css/site.css">A catch-all: /files/{path:path}</a></li>
  <li><a href="/api/info">JSON: /api/info</a></li>
  <li><a href="/static/demo.html">A static page, with its CSS, script and image: /static/demo.html</a></li>
  <li><a href="/static/guide/">A folder with an index.html: /static/guide/</a></li>
</ul>
</body>
</html>
"""


def create_app(static_root=STATIC_DIR):
    app = Router()
    app.add_route("/static/{path:path}", StaticFiles(static_root), ["GET"])

    @app.get("/")
    def home(request):
        return HOME

    @app.get("/about")
    def about(request):
        return "<!doctype html>\n<title>About</title>\n<h1>About</h1>\n<p>A server built from sockets up, in Python.</p>\n"

    @app.get("/user/{username}")
    def user_page(request):
        name = html.escape(request.path_params["username"])  # the name comes from the client: never trust it
        return f"<!doctype html>\n<title>{name}</title>\n<h1>Hello, {name}!</h1>\n"

    @app.get("/echo/{text}")
    def echo(request):
        return HTTPResponse(HTTPStatus.OK, request.path_params["text"], content_type="text/plain; charset=utf-8")

    @app.post("/echo")
    def echo_body(request):
        return HTTPResponse(HTTPStatus.OK, request.body, content_type="application/octet-stream")

    @app.get("/files/{path:path}")
    def files(request):
        return {"you asked for": request.path_params["path"]}

    @app.get("/api/info")
    def info(request):
        return {"server": "byo-http", "step": 4, "routes": [route.pattern for route in app.routes]}

    return app
