"""The uploads extension — the finished demo site, with a form that takes files (uploads.py).

``create_app()`` builds the whole site and returns the handler ``HTTPServer`` uses:

    Pipeline(router, [LoggingMiddleware(), CORSMiddleware(), AuthMiddleware(token, ...)])

Every request is logged, every response may be read by pages of other
origins (CORS), and the private API asks for ``Authorization: Bearer <token>``.
``/upload`` is a form that sends files; they are kept in ``upload_dir``, and
``/uploads/<name>`` gives each back, as a download.
"""

import html
import logging
import os
import re
from urllib.parse import quote
from http import HTTPStatus
from pathlib import Path

from middleware import AuthMiddleware, CORSMiddleware, LoggingMiddleware, Pipeline
from request import MAX_BODY_BYTES, HTTPError
from response import HTTPResponse, error_response
from router import Router
from static import StaticFiles
from uploads import Limits, keep, receive_form, serve_upload

HERE = Path(__file__).resolve().parent
log = logging.getLogger("server")
# The demo site's files: static/ beside this file (the reference solution, one folder down, uses its step's).
STATIC_DIR = HERE / "static" if (HERE / "static").is_dir() else HERE.parent / "static"

# Where uploaded files are kept (made the first time a form is sent): beside the learner's files.
UPLOAD_DIR = (HERE if (HERE / "static").is_dir() else HERE.parent) / "uploaded"

# The token for /api/private. Set BYO_API_TOKEN to choose your own; this
# default is for the demo only, and is printed on the about page on purpose.
DEMO_TOKEN = "let-me-in"

# The private API: these paths, and every path under them, need the token. Everything else is
# public, so a path that does not exist is a plain 404. A route added under /api/private/ later
# is private from the start: inside the prefix, what is not listed is refused (default-deny).
PRIVATE = ("/api/private", "/api/private/*", "/api/echo")

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
  <li><a href="/api/data">JSON: /api/data</a></li>
  <li><a href="/static/demo.html">A static page, with its CSS, script and image</a></li>
  <li><a href="/static/guide/">A folder with an index.html</a></li>
  <li><a href="/upload">Upload files with a form</a></li>
</ul>
<p><img src="/static/logo.png" alt="A small logo, sent as image/png" width="32" height="32"></p>
"""


UPLOAD_FORM = """<h1>Upload files</h1>
<form method="post" action="/upload" enctype="multipart/form-data">
  <p><label>A note: <input type="text" name="note"></label></p>
  <p><label>Files: <input type="file" name="files" multiple></label></p>
  <p><button type="submit">Upload</button></p>
</form>
<p><a href="/">Home</a></p>
"""


# What a Host header may hold: a name or an IPv4 or IPv6 address, and a port.
HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


def address_of(request):
    """Where the client reached this server, from its Host header: the port is whichever it runs on."""
    host = request.headers.get("Host", "")
    return host if HOST.fullmatch(host) else "127.0.0.1:8080"


def page(title, body):
    return PAGE.format(title=html.escape(title), body=body)


def upload_result(form, stored):
    """The page that says what a form sent: its fields, and each file with its link."""
    rows = [f"<li>{html.escape(name)}: {html.escape(value)}</li>" for name, values in form.fields.items()
            for value in values]
    rows += [f'<li>{html.escape(upload.field)}: <a href="/uploads/{quote(name)}">{html.escape(upload.filename)}</a>, '
             f"{upload.size} bytes, sent as {html.escape(upload.content_type)}</li>"
             for upload, name in zip(form.files, stored)]
    return page("Uploaded", f"<h1>Uploaded</h1>\n<ul>\n{chr(10).join(rows)}\n</ul>\n"
                            '<p><a href="/upload">Upload more</a> · <a href="/">Home</a></p>\n')


def create_app(static_root=STATIC_DIR, token=None, upload_dir=UPLOAD_DIR, upload_limits=None):
    """The demo site: its routes, and the middleware around them. ``upload_limits`` holds Limits' fields to change."""
    token = token or os.environ.get("BYO_API_TOKEN") or DEMO_TOKEN
    limits = Limits(**(upload_limits or {}))
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

    @router.get("/upload")
    def upload_form(request):
        return page("Upload files", UPLOAD_FORM)

    @router.post("/upload")
    def upload(request):
        Path(upload_dir).mkdir(parents=True, exist_ok=True)
        try:
            form = receive_form(request, upload_dir, limits)
        except HTTPError as refused:  # an UploadError, or a body that stopped coming: refused before anything is kept
            return error_response(refused.status, refused.message)
        except OSError:  # the disk is full, say: receive_form() has removed what it wrote
            log.exception("could not store an upload")
            return error_response(HTTPStatus.INSUFFICIENT_STORAGE, "There is no room to keep this upload.")
        try:
            stored = [keep(upload, upload_dir) for upload in form.files]
        except OSError:
            form.discard()  # all of the form, or none of it
            log.exception("could not keep an upload")
            return error_response(HTTPStatus.INSUFFICIENT_STORAGE, "There is no room to keep this upload.")
        return HTTPResponse(HTTPStatus.CREATED, upload_result(form, stored))

    @router.get("/uploads/{name}")
    def download(request):
        return serve_upload(upload_dir, request.path_params["name"])

    @router.post("/api/echo")
    def echo(request):
        body = request.body
        if request.stream is not None:  # a form's body is streamed, not read: read it here, to the limit of any other
            if request.streamed_length > MAX_BODY_BYTES:
                return error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                      f"the body is over the limit of {MAX_BODY_BYTES} bytes")
            try:
                body = request.stream.read(-1)
            except HTTPError as refused:  # the body stopped coming
                return error_response(refused.status, refused.message)
        return HTTPResponse(HTTPStatus.OK, body, content_type="application/octet-stream")

    # Logging first, so it sees every answer, even a refusal; CORS before auth,
    # so a browser's preflight (which never carries a token) is answered.
    return Pipeline(router, [
        LoggingMiddleware(),
        CORSMiddleware(),
        AuthMiddleware(token, protect=PRIVATE),
    ])
