"""The templates extension — the finished demo site, its pages rendered from the templates in pages/.

``create_app()`` builds the whole site and returns the handler ``HTTPServer`` uses:

    Pipeline(router, [LoggingMiddleware(), CORSMiddleware(), AuthMiddleware(token, ...)])

Every request is logged, every response may be read by pages of other
origins (CORS), and the private API asks for ``Authorization: Bearer <token>``.
The HTML pages are templates (pages/*.html), compiled once by templates.py and
filled in for each request; every value they print is escaped.
"""

import os
import re
from http import HTTPStatus
from pathlib import Path

from middleware import AuthMiddleware, CORSMiddleware, LoggingMiddleware, Pipeline
from response import HTTPResponse
from router import Router
from static import StaticFiles
from templates import Environment

HERE = Path(__file__).resolve().parent
# The demo site's files: static/ beside this file (the reference solution, one folder down, uses its step's).
STATIC_DIR = HERE / "static" if (HERE / "static").is_dir() else HERE.parent / "static"
# The templates of the site's pages, found the same way.
PAGES_DIR = HERE / "pages" if (HERE / "pages").is_dir() else HERE.parent / "pages"

# The token for /api/private. Set BYO_API_TOKEN to choose your own; this
# default is for the demo only, and is printed on the about page on purpose.
DEMO_TOKEN = "let-me-in"

# The private API: these paths, and every path under them, need the token. Everything else is
# public, so a path that does not exist is a plain 404. A route added under /api/private/ later
# is private from the start: inside the prefix, what is not listed is refused (default-deny).
PRIVATE = ("/api/private", "/api/private/*", "/api/echo")

# The links on the home page: the template loops over them.
LINKS = [
    {"href": "/about", "text": "About this server"},
    {"href": "/user/ada", "text": "A page for a user: /user/{username}"},
    {"href": "/hello?name=grace", "text": "The same page from a form: /hello?name=..."},
    {"href": "/api/data", "text": "JSON: /api/data"},
    {"href": "/static/demo.html", "text": "A static page, with its CSS, script and image"},
    {"href": "/static/guide/", "text": "A folder with an index.html"},
]


# What a Host header may hold: a name or an IPv4 or IPv6 address, and a port.
HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


def address_of(request):
    """Where the client reached this server, from its Host header: the port is whichever it runs on."""
    host = request.headers.get("Host", "")
    return host if HOST.fullmatch(host) else "127.0.0.1:8080"


def create_app(static_root=STATIC_DIR, token=None, pages=PAGES_DIR):
    """The demo site: its routes, and the middleware around them."""
    token = token or os.environ.get("BYO_API_TOKEN") or DEMO_TOKEN
    templates = Environment(pages)
    router = Router()

    def page(template, /, **values):
        return HTTPResponse(HTTPStatus.OK, templates.render(template, **values))

    router.add_route("/static/{path:path}", StaticFiles(static_root), ["GET"])

    @router.get("/")
    def home(request):
        return page("home.html", links=LINKS)

    @router.get("/about")
    def about(request):
        # A token someone set is a secret: the page is not even given it, and names the variable instead.
        return page("about.html", demo_token=token if token == DEMO_TOKEN else None, address=address_of(request))

    @router.get("/user/{username}")
    def user_page(request):
        return page("user.html", name=request.path_params["username"])

    @router.get("/hello")
    def hello(request):
        return page("user.html", name=request.query_params.get("name", ["stranger"])[0])

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

    # Logging first, so it sees every answer, even a refusal; CORS before auth,
    # so a browser's preflight (which never carries a token) is answered.
    return Pipeline(router, [
        LoggingMiddleware(),
        CORSMiddleware(),
        AuthMiddleware(token, protect=PRIVATE),
    ])
