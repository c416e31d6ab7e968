"""The caching extension — the finished demo site, which now says how long each answer may be kept.

``create_app()`` builds the whole site and returns the handler ``HTTPServer`` uses:

    Pipeline(router, [LoggingMiddleware(), CORSMiddleware(), CacheControlMiddleware(PRIVATE),
                      AuthMiddleware(token, ...)])

Every request is logged, every response may be read by pages of other
origins (CORS), every answer says how long it may be kept (Cache-Control), and
the private API asks for ``Authorization: Bearer <token>``. The pages load the
script and style sheet under fingerprinted names, which caches keep for a year.
"""

import html
import json
import os
import re
from http import HTTPStatus
from pathlib import Path

from middleware import AuthMiddleware, CacheControlMiddleware, CORSMiddleware, LoggingMiddleware, Pipeline
from response import HTTPResponse, http_date
from router import Router
from static import StaticFiles

HERE = Path(__file__).resolve().parent
# The demo site's files: static/ beside this file (the reference solution, one folder down, uses its step's).
STATIC_DIR = HERE / "static" if (HERE / "static").is_dir() else HERE.parent / "static"

# The token for /api/private. Set BYO_API_TOKEN to choose your own; this
# default is for the demo only, and is printed on the about page on purpose.
DEMO_TOKEN = "let-me-in"

# The private API: these paths, and every path under them, need the token. Everything else is
# public, so a path that does not exist is a plain 404. A route added under /api/private/ later
# is private from the start: inside the prefix, what is not listed is refused (default-deny).
PRIVATE = ("/api/private", "/api/private/*", "/api/echo")

# The script and the style sheet, under fingerprinted names: each name holds the first 8 hex digits
# of the SHA-256 of the file's bytes (sha256sum static/app.js). A build step would write them;
# here they are committed. Change such a file, and it must get a new name, here and on disk:
# browsers keep what they got under the old name for a year, without asking.
SCRIPT = "/static/app.54cd616c.js"
STYLE_SHEET = "/static/style.99cd19c2.css"

# Seconds the answer of /api/time may be kept: that handler sets its own Cache-Control.
TIME_MAX_AGE = 5

PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{title}}</title>
  <link rel="icon" href="/static/logo.png">
  <link rel="stylesheet" href="{STYLE_SHEET}">
  <script src="{SCRIPT}"></script>
</head>
<body>
{{body}}
</body>
</html>
"""

HOME = """<h1>Your own HTTP server</h1>
<p>Every page here came from MyHTTPServer, the server you built: sockets, parser, router, static files
and middleware.</p>
<p id="js-note">If you can read this sentence, the script did not run.</p>
<ul>
  <li><a href="/about">About this server</a></li>
  <li><a href="/user/ada">A page for a user: /user/{username}</a></li>
  <li><a href="/api/data">JSON: /api/data</a></li>
  <li><a href="/api/time">The time, which may be kept 5 seconds: /api/time</a></li>
  <li><a href="/static/demo.html">A static page, with its CSS, script and image</a></li>
  <li><a href="/static/guide/">A folder with an index.html</a></li>
</ul>
<p><img src="/static/logo.png" alt="A small logo, sent as image/png" width="32" height="32"></p>
"""


# What a Host header may hold: a name or an IPv4 or IPv6 address, and a port.
HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


def address_of(request):
    """Where the client reached this server, from its Host header: the port is whichever it runs on."""
    host = request.headers.get("Host", "")
    return host if HOST.fullmatch(host) else "127.0.0.1:8080"


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
        shown_token = "$BYO_API_TOKEN" if token != DEMO_TOKEN else DEMO_TOKEN  # never print a real secret
        return page("About", (
            "<h1>About</h1>\n<p>A thread-per-connection HTTP/1.1 server, built from sockets up in Python.</p>\n"
            f"<p>Try the private API: <code>curl -H 'Authorization: Bearer {shown_token}' "
            f"http://{html.escape(address_of(request))}/api/private</code></p>\n"
            '<p><a href="/">Home</a></p>\n'
        ))

    @router.get("/user/{username}")
    def user_page(request):
        name = html.escape(request.path_params["username"])
        return page(f"Hello, {request.path_params['username']}", f'<h1>Hello, {name}!</h1>\n<p><a href="/">Home</a></p>\n')

    @router.get("/api/data")
    def data(request):
        return {"message": "Hello from your own server", "server": "byo-http",
                "steps": ["socket", "parser", "router", "static", "middleware"]}

    @router.get("/api/private")
    def private(request):
        return {"secret": "only for those with the token", "you are": request.client}

    @router.post("/api/echo")
    def echo(request):
        return HTTPResponse(HTTPStatus.OK, request.body, content_type="application/octet-stream")

    @router.get("/api/time")
    def server_time(request):
        # This handler knows best how long its answer stays true, and says so itself:
        # CacheControlMiddleware leaves a Cache-Control that a handler set alone.
        return HTTPResponse(HTTPStatus.OK, json.dumps({"time": http_date()}), content_type="application/json",
                            headers={"Cache-Control": f"max-age={TIME_MAX_AGE}"})

    # Logging first, so it sees every answer, even a refusal; CORS before auth,
    # so a browser's preflight (which never carries a token) is answered. Cache-Control
    # before auth too, so that the 401 of the private API says no-store like the rest of it.
    return Pipeline(router, [
        LoggingMiddleware(),
        CORSMiddleware(),
        CacheControlMiddleware(private=PRIVATE),
        AuthMiddleware(token, protect=PRIVATE),
    ])
