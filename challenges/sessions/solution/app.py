"""The sessions extension — the finished demo site, where a visitor can log in and stay logged in.

``create_app()`` builds the whole site and returns the handler ``HTTPServer`` uses:

    Pipeline(router, [LoggingMiddleware(), CORSMiddleware(), SessionMiddleware(store, key),
                      AuthMiddleware(token, ...)])

Every request is logged, every response may be read by pages of other
origins (CORS), each visitor may log in at /login and is remembered by a
session cookie (sessions.py), and the private API asks for
``Authorization: Bearer <token>``. The API and static files never use the
session: the API has its token, and a cookie is not one.
"""

import functools
import hashlib
import hmac
import html
import os
import re
import secrets
from http import HTTPStatus
from pathlib import Path

from middleware import AuthMiddleware, CORSMiddleware, LoggingMiddleware, Pipeline
from response import HTTPResponse
from router import Router
from sessions import CSRF_FIELD, SessionMiddleware, SessionStore, form
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

# Who may log in to the demo, and their passwords. A real site keeps only the salted hashes, in a database;
# this one hashes them when it starts, the same way, so that logging in works as it would there.
USERS = {"ada": "lovelace", "grace": "hopper"}

# PBKDF2-HMAC-SHA256 rounds per password check: OWASP's 2023 advice. Slow on purpose (about a quarter
# of a second here), so that each guess costs an attacker who stole the hashes the same. The checks pass fewer.
PASSWORD_ROUNDS = 600_000

# The key that signs session cookies: set BYO_SESSION_KEY (64 hex digits) to keep sessions valid across
# restarts of several processes; by default a fresh random key each start (the store starts empty anyway).
SESSION_KEY_VARIABLE = "BYO_SESSION_KEY"

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
  <li><a href="/login">Log in</a> (as ada, password lovelace), then see <a href="/account">your account</a></li>
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


LOGIN = """<h1>Log in</h1>
{message}<form method="post" action="/login">
  <input type="hidden" name="{csrf_field}" value="{csrf_token}">
  <p><label>Name <input name="username" autocomplete="username" required></label></p>
  <p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
  <p><button type="submit">Log in</button></p>
</form>
<p><a href="/">Home</a></p>
"""

ACCOUNT = """<h1>Hello, {user}!</h1>
<p>You are logged in: your browser sends the session cookie with each request, and this server finds your
session from it.</p>
<form method="post" action="/logout">
  <input type="hidden" name="{csrf_field}" value="{csrf_token}">
  <button type="submit">Log out</button>
</form>
<p><a href="/">Home</a></p>
"""


def private_page(title, body, status=HTTPStatus.OK):
    """A page for one visitor: no cache may keep it, or show it to the next person."""
    return HTTPResponse(status, page(title, body), headers={"Cache-Control": "no-store"})


def redirect(location):
    """303 See Other: after a form, the browser fetches ``location`` with GET, so reloading never sends the form twice."""
    return HTTPResponse(HTTPStatus.SEE_OTHER, headers={"Location": location})


class Passwords:
    """The demo's users and their salted PBKDF2 hashes."""

    def __init__(self, users, rounds):
        self.users = users
        self.rounds = rounds

    @functools.cached_property
    def hashes(self):
        """{name: (salt, hash)}, made at the first login rather than at every start of the server."""
        return {name: self.hashed(password, secrets.token_bytes(16)) for name, password in self.users.items()}

    @functools.cached_property
    def decoy(self):
        """A hash no password matches, checked for a name that does not exist: the answer takes as long."""
        return self.hashed(secrets.token_urlsafe(16), secrets.token_bytes(16))

    def hashed(self, password, salt):
        return salt, hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, self.rounds)

    def check(self, name, password):
        """``name`` if ``password`` is theirs, else None. As slow for a name that does not exist as for one that does."""
        salt, expected = self.hashes.get(name, self.decoy)
        _, given = self.hashed(password, salt)
        return name if hmac.compare_digest(given, expected) and name in self.hashes else None


def session_key():
    """The key for signing cookies: from BYO_SESSION_KEY if it is set, else 32 fresh random bytes."""
    chosen = os.environ.get(SESSION_KEY_VARIABLE, "")
    try:
        key = bytes.fromhex(chosen)
    except ValueError:
        raise SystemExit(f"{SESSION_KEY_VARIABLE} must be hexadecimal digits (python -c 'import secrets; "
                         "print(secrets.token_hex(32))' makes one)") from None
    if chosen and len(key) < 32:
        raise SystemExit(f"{SESSION_KEY_VARIABLE} must hold at least 32 bytes: 64 hexadecimal digits")
    return key or secrets.token_bytes(32)


def create_app(static_root=STATIC_DIR, token=None, store=None, password_rounds=PASSWORD_ROUNDS):
    """The demo site: its routes, and the middleware around them. ``store``: a SessionStore of your own."""
    token = token or os.environ.get("BYO_API_TOKEN") or DEMO_TOKEN
    store = store if store is not None else SessionStore()
    passwords = Passwords(USERS, password_rounds)
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

    def login_page(request, message="", status=HTTPStatus.OK):
        if request.session is None:
            request.session = store.create()  # an anonymous session: it holds the form's CSRF token
        notice = f'<p role="alert">{html.escape(message)}</p>\n' if message else ""
        return private_page("Log in", LOGIN.format(message=notice, csrf_field=CSRF_FIELD,
                                                   csrf_token=request.session.csrf_token), status)

    @router.get("/login")
    def login_form(request):
        return login_page(request)

    @router.post("/login")
    def login(request):
        fields = form(request)  # the middleware has already checked its CSRF token
        user = passwords.check(fields.get("username", ""), fields.get("password", ""))
        if user is None:
            return login_page(request, "That name and password do not match.", HTTPStatus.FORBIDDEN)
        # A fresh id at login: whoever knew (or planted) the id from before it learns nothing after it.
        request.session = store.rotate(request.session)
        request.session.data["user"] = user
        return redirect("/account")

    @router.get("/account")
    def account(request):
        user = request.session.data.get("user") if request.session else None
        if user is None:
            return redirect("/login")
        return private_page(f"{user}'s account", ACCOUNT.format(user=html.escape(user), csrf_field=CSRF_FIELD,
                                                               csrf_token=request.session.csrf_token))

    @router.post("/logout")
    def logout(request):
        if request.session is not None:
            store.delete(request.session.id)  # the server forgets it: a copy of the cookie is now worth nothing
            request.session = None
        return redirect("/")

    # Logging first, so it sees every answer, even a refusal; CORS before sessions and auth,
    # so a browser's preflight (which carries neither a cookie nor a token) is answered.
    return Pipeline(router, [
        LoggingMiddleware(),
        CORSMiddleware(),
        SessionMiddleware(store, session_key()),
        AuthMiddleware(token, protect=PRIVATE),
    ])
