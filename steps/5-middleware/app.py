"""Step 5 — the finished demo site: the router of steps 3–4, wrapped in middleware.

``create_app()`` builds the whole site and returns the handler ``HTTPServer`` uses:

    Pipeline(router, [LoggingMiddleware(), CORSMiddleware(), AuthMiddleware(token, ...)])

Every request is logged, every response may be read by pages of other
origins (CORS), and /api/private asks for ``Authorization: Bearer <token>``.
"""

import html
import os
from http import HTTPStatus
from pathlib import Path

from middleware import AuthMiddleware, CORSMiddleware, LoggingMiddleware, Pipeline
from response import HTTPResponse
from router import Router
from static import StaticFiles

HERE = Path(__file__).resolve().parent
# The demo site's files: static/ beside this file (the reference solution, one folder down, uses its step's).
STATIC_DIR = HERE / "static" if (HERE / "static").is_dir() else HERE.parent / "static"

# The token for /api/private. Set BYO_API_TOKEN to choose your own; this
# default is for the demo only, and is printed on the about page on purpose.
DEMO_TOKEN = "let-me-in"

# The paths anyone may see; everything else needs the token.
PUBLIC = ("/", "/about", "/user/*", "/api/data", "/static/*")

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="icon" href="/static/logo.png">
  <link rel="stylesheet" href="/static/style.css">
  <script src="/static/app.js"></script>
</head>
<body>
{body}
</body>
</html>
"""

HOME = """<h1>Your own HTTP server</h1>
<p>Every page here came from the server you built: sockets, parser, router, static files and middleware.</p>
<p id="js-note">If you can read this sentence, the script did not run.</p>
<ul>
  <li><a href="/about">About this server</a></li>
  <li><a href="/user/ada">A page for a user: /user/{username}</a></li>
  <li><a href="/api/data">JSON: /api/data</a></li>
  <li><a href="/static/demo.html">A static page, with its CSS, script and image</a></li>
  <li><a href="/static/guide/">A folder with an index.html</a></li>
</ul>
<p><img src="/static/logo.png" alt="A small logo, sent as image/png" width="32" height="32"></p>
"""


def page(title, body):
    return PAGE.format(title=html.escape(title), body=body)


def create_app(static_root=STATIC_DIR, token=None):
    """The demo site: its routes, and the middleware around them."""
    token = token or os.environ.get("BYO_API_TOKEN") or DEMO_TOKEN
    router = Router()
    router.add_route("/static/{path:path}", StaticFiles(static_root), ["GET"])

    @router.get("/")
    def home(request):
        return page("Build Your Own HTTP Server", HOME)

    @router.get("/about")
    def about(request):
        return page("About", (
            "<h1>About</h1>\n<p>A thread-per-connection HTTP/1.1 server, built from sockets up in Python.</p>\n"
            "<p>Try the private API: <code>curl -H 'Authorization: Bearer let-me-in' "
            "http://127.0.0.1:8080/api/private</code> (unless BYO_API_TOKEN says otherwise).</p>\n"
            '<p><a href="/">Home</a></p>\n'
        ))

    @router.get("/user/{username}")
    def user_page(request):
        name = html.escape(request.path_params["username"])
        return page(f"Hello, {request.path_params['username']}", f'<h1>Hello, {name}!</h1>\n<p><a href="/">Home</a></p>\n')

    @router.get("/api/data")
    def data(request):
        return {"server": "byo-http", "steps": ["socket", "parser", "router", "static", "middleware"]}

    @router.get("/api/private")
    def private(request):
        return {"secret": "only for those with the token", "you are": request.client}

    @router.post("/api/echo")
    def echo(request):
        return HTTPResponse(HTTPStatus.OK, request.body, content_type="application/octet-stream")

    # TODO 5: wrap the router in a Pipeline: logging first, then CORS, then auth
    # Read: docs/steps/5-middleware.md#the-finished-site
    raise NotImplementedError('TODO 5: wrap the router in a Pipeline: logging first, then CORS, then auth (see docs/steps/5-middleware.md#the-finished-site)')
