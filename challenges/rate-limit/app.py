"""The rate-limit extension — the finished demo site, where each client has a quota.

``create_app()`` builds the whole site and returns the handler ``HTTPServer`` uses:

    Pipeline(router, [LoggingMiddleware(), CORSMiddleware(), RateLimitMiddleware(limits, ...),
                      AuthMiddleware(token, ...)])

Every request is logged, every response may be read by pages of other
origins (CORS), each client may send so many requests a minute (a token
bucket per client, ratelimit.py), and the private API asks for
``Authorization: Bearer <token>``. Static files have a quota of their own,
so a client that spends its quota on the API can still load pages, and
/health is never limited, so a monitor always learns how the site is.
"""

import html
import os
import re
from http import HTTPStatus
from pathlib import Path

from middleware import AuthMiddleware, CORSMiddleware, LoggingMiddleware, Pipeline
from ratelimit import Policy, RateLimitMiddleware
from response import HTTPResponse
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

# Requests each client may send, as (quota, seconds to refill it): a burst of the quota at once, then one
# every seconds / quota. A page pulls its style sheet, script and logo, so static files get more,
# in a bucket of their own. The checks pass their own quotas to create_app(quotas=...).
QUOTAS = {
    "default": (60, 60),
    "static": (300, 60),
}

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
<p>Every page here came from MyHTTPServer, the server you built: sockets, parser, router, static files
and middleware.</p>
<p id="js-note">If you can read this sentence, the script did not run.</p>
<ul>
  <li><a href="/about">About this server</a></li>
  <li><a href="/user/ada">A page for a user: /user/{username}</a></li>
  <li><a href="/api/data">JSON: /api/data</a> (60 a minute for each client: ask faster and you get 429)</li>
  <li><a href="/health">Is the site up? /health, never limited</a></li>
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


def create_app(static_root=STATIC_DIR, token=None, quotas=None):
    """The demo site: its routes, and the middleware around them. ``quotas`` replaces entries of QUOTAS."""
    token = token or os.environ.get("BYO_API_TOKEN") or DEMO_TOKEN
    policies = {name: Policy(name, *quota) for name, quota in {**QUOTAS, **(quotas or {})}.items()}
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

    @router.get("/health")
    def health(request):
        return HTTPResponse(HTTPStatus.OK, "ok\n", content_type="text/plain")

    # Logging first, so it sees every answer, even a refusal; CORS next, so that a page of another
    # origin can read a 429 too; the rate limit before auth, so that guessing tokens costs quota.
    # The first pattern that covers a path decides its policy; None means never limited.
    limits = [("/health", None), ("/static/*", policies["static"]), ("*", policies["default"])]
    return Pipeline(router, [
        LoggingMiddleware(),
        CORSMiddleware(),
        RateLimitMiddleware(limits, tokens=[token]),
        AuthMiddleware(token, protect=PRIVATE),
    ])
