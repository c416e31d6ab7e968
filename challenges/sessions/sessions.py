"""The sessions extension: cookies, and a session on the server that each cookie points to.

HTTP forgets you between requests. A cookie is how a site is remembered: the
server sends ``Set-Cookie: session=...`` once, and the browser sends
``Cookie: session=...`` with every request after it, until the cookie is
cleared. Here the cookie holds nothing but a session id, signed with a key
only the server knows; what the server remembers about you (who you logged in
as) stays on the server, in a ``SessionStore``, for as long as you keep using
it, plus ``SESSION_LIFETIME`` seconds::

    Set-Cookie: session=Qx3...Zk.p9V...4w; Path=/; HttpOnly; SameSite=Lax
                        ^ the id  ^ its HMAC signature

Four defences come with it. The id is 256 random bits from ``secrets``, so it
cannot be guessed; the signature means a forged or edited cookie is turned away
before the store is even asked; logging in moves the session to a fresh id,
so an id someone planted before the login is worth nothing after it
(session fixation); and every form that changes something carries the
session's CSRF token, which a page of another site cannot read, so it cannot
make your browser send that form for you (cross-site request forgery).

The clock is passed in (``clock=``), so the checks move time by hand and never
sleep; the store is shared by every connection's thread, so one lock guards it.
"""

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from http import HTTPStatus
from urllib.parse import parse_qs

from middleware import Middleware, covers
from response import error_response

COOKIE_NAME = "session"

# Seconds a session lives after its last use. Its cookie has no Max-Age, so the browser forgets it
# when it closes; the server forgets the session after this much idle time, whatever the browser does.
SESSION_LIFETIME = 30 * 60

# Sessions the store holds at most. Past it, the least recently used is dropped: memory stays bounded
# however many visitors (or scripts) open a login page.
MAX_SESSIONS = 10_000

# Methods that only read (RFC 9110 §9.2.1): no CSRF token is asked of them, so they must never change anything.
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")

# The form field, and the header for scripts, that carry the CSRF token.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

# RFC 9110 §5.6.2: a token, which is what a cookie name must be (RFC 6265 §4.1.1).
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 6265 §4.1.1: the bytes a cookie value may hold. No space, '"', ',', ';' or '\', no control
# character, nothing outside ASCII: any of them would end the value early or break the header.
COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")
# RFC 6265 §4.1.1: a Path attribute is any character but a control character and ';'.
PATH_VALUE = re.compile(r"[^\x00-\x1f\x7f;]*")


def parse_cookie(header):
    """The cookies of a ``Cookie`` header as {name: value}; a pair that is not name=value is skipped, never an error."""
    # TODO 1: split on ";", strip each pair, keep name=value pairs whose name is a token and value is cookie-octets (one pair of double quotes removed); the first of a name wins
    # Read: docs/extensions/sessions.md#reading-cookies
    raise NotImplementedError('TODO 1: split on ";", strip each pair, keep name=value pairs whose name is a token and value is cookie-octets (one pair of double quotes removed); the first of a name wins (see docs/extensions/sessions.md#reading-cookies)')


def set_cookie(name, value, *, max_age=None, path="/", secure=False, http_only=True, same_site="Lax"):
    """The value of a ``Set-Cookie`` field. Raises ValueError for what would break the header or that browsers refuse.

    ``max_age`` is None (the cookie ends when the browser closes) or whole seconds, 0 or more (0: forget it now);
    ``same_site`` is "Strict", "Lax" or "None".
    """
    # TODO 2: refuse (ValueError) a name that is not a token, a value that is not cookie-octets, a bad path, max_age or same_site, and SameSite=None without Secure; then join name=value and the attributes with "; "
    # Read: docs/extensions/sessions.md#sending-cookies
    raise NotImplementedError('TODO 2: refuse (ValueError) a name that is not a token, a value that is not cookie-octets, a bad path, max_age or same_site, and SameSite=None without Secure; then join name=value and the attributes with "; " (see docs/extensions/sessions.md#sending-cookies)')


def signature(value, key):
    """HMAC-SHA256 of ``value`` (UTF-8) under ``key`` (bytes), in URL-safe base64 without its "=" padding."""
    # TODO 3: compute hmac.new(key, the value's UTF-8 bytes, hashlib.sha256); return its digest in base64.urlsafe_b64encode, "=" stripped
    # Read: docs/extensions/sessions.md#signed-ids
    raise NotImplementedError('TODO 3: compute hmac.new(key, the value\'s UTF-8 bytes, hashlib.sha256); return its digest in base64.urlsafe_b64encode, "=" stripped (see docs/extensions/sessions.md#signed-ids)')


def sign(value, key):
    """``value`` with its signature after a dot: "value.signature"."""
    return f"{value}.{signature(value, key)}"


def unsign(signed, key):
    """The value a ``sign()``-ed string carries, or None when its signature does not match (or it has none)."""
    # TODO 3: split at the last ".", compute the value's signature and compare it with the one given by hmac.compare_digest (as bytes); None unless they match
    # Read: docs/extensions/sessions.md#signed-ids
    raise NotImplementedError('TODO 3: split at the last ".", compute the value\'s signature and compare it with the one given by hmac.compare_digest (as bytes); None unless they match (see docs/extensions/sessions.md#signed-ids)')


class Session:
    """What the server remembers for one visitor: ``data`` (a dict, such as {"user": "ada"}) under a secret id."""

    __slots__ = ("id", "csrf_token", "expires", "data")

    def __init__(self, session_id, csrf_token, expires, data=None):
        self.id = session_id
        self.csrf_token = csrf_token  # goes in every form this visitor is shown; a forged form lacks it
        self.expires = expires  # the clock's time after which the session is gone
        self.data = dict(data or {})

    def __repr__(self):
        return f"Session({self.id[:6]}..., data={self.data!r})"  # never log a whole id: it is a password


class SessionStore:
    """Every live session, least recently used first; safe to share between threads."""

    def __init__(self, lifetime=SESSION_LIFETIME, max_sessions=MAX_SESSIONS, clock=time.monotonic):
        self.lifetime = lifetime
        self.max_sessions = max_sessions
        self.clock = clock
        self.lock = threading.Lock()
        # id -> Session. A session's expiry moves to now + lifetime each time it is used, so the
        # order of last use is also the order of expiry: the first entry is always the next to go.
        self.sessions = OrderedDict()

    def __len__(self):
        return len(self.sessions)

    def create(self, data=None):
        """A new session holding ``data``, with an id and a CSRF token from ``secrets``, alive for ``lifetime`` seconds."""
        # TODO 4: make a Session (ids from secrets.token_urlsafe(32)); under the lock, drop expired sessions and the least recently used while full, then add it
        # Read: docs/extensions/sessions.md#the-store
        raise NotImplementedError('TODO 4: make a Session (ids from secrets.token_urlsafe(32)); under the lock, drop expired sessions and the least recently used while full, then add it (see docs/extensions/sessions.md#the-store)')

    def get(self, session_id):
        """The live session with ``session_id``, its life renewed; None for an unknown or expired id (then forgotten)."""
        # TODO 4: find the session under the lock; forget it and answer None if it has expired; else move its expiry to now + lifetime and mark it most recently used
        # Read: docs/extensions/sessions.md#the-store
        raise NotImplementedError('TODO 4: find the session under the lock; forget it and answer None if it has expired; else move its expiry to now + lifetime and mark it most recently used (see docs/extensions/sessions.md#the-store)')

    def rotate(self, session):
        """The same data under a new id and a new CSRF token; the old id is forgotten. Call it at login."""
        # TODO 5: forget the old id, then create a session holding the same data
        # Read: docs/extensions/sessions.md#a-fresh-id-at-login
        raise NotImplementedError('TODO 5: forget the old id, then create a session holding the same data (see docs/extensions/sessions.md#a-fresh-id-at-login)')

    def delete(self, session_id):
        """Forget ``session_id``, if the store knows it. Call it at logout."""
        # TODO 5: remove the id under the lock, if it is there
        # Read: docs/extensions/sessions.md#a-fresh-id-at-login
        raise NotImplementedError('TODO 5: remove the id under the lock, if it is there (see docs/extensions/sessions.md#a-fresh-id-at-login)')


def form(request):
    """The fields of an HTML form sent as application/x-www-form-urlencoded, as {name: first value}; else {}."""
    media_type = request.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return {}
    fields = parse_qs(request.body.decode("latin-1"), keep_blank_values=True, errors="replace")
    return {name: values[0] for name, values in fields.items()}


class SessionMiddleware(Middleware):
    """Finds each request's session from its cookie, keeps the cookie up to date, and asks forms for the CSRF token.

    A handler reads and writes ``request.session`` (a Session, or None when the
    visitor has none). To start one, it sets ``request.session = store.create()``;
    at login, ``request.session = store.rotate(request.session)``; at logout,
    ``store.delete(...)`` and ``request.session = None``. The middleware sees
    the change on the way out and sends the cookie that goes with it.

    Paths in ``skip`` (the token-authenticated API, static files) never load a
    session nor touch the cookie: a cookie gives nothing there to forge.
    """

    def __init__(self, store, key, cookie_name=COOKIE_NAME, secure=False, skip=("/api/*", "/static/*")):
        if len(key) < 32:
            raise ValueError("a session key needs at least 32 random bytes: secrets.token_bytes(32)")
        self.store = store
        self.key = key
        self.cookie_name = cookie_name
        self.secure = secure
        self.skip = tuple(skip)

    def skips(self, path):
        return any(covers(entry, path) for entry in self.skip)

    def cookie(self, request):
        """The value of this middleware's cookie in ``request``, or None."""
        return parse_cookie("; ".join(request.headers.get_all("Cookie"))).get(self.cookie_name)

    def load(self, request):
        """The live session the request's cookie points to, or None (no cookie, a bad signature, an unknown or expired id)."""
        # TODO 6: read the cookie (self.cookie), unsign it with self.key, and ask the store for that id; None at the first thing missing
        # Read: docs/extensions/sessions.md#finding-the-session
        raise NotImplementedError('TODO 6: read the cookie (self.cookie), unsign it with self.key, and ask the store for that id; None at the first thing missing (see docs/extensions/sessions.md#finding-the-session)')

    def before_request(self, request):
        request.session = request.session_at_start = None
        if self.skips(request.path):
            return None
        request.session = request.session_at_start = self.load(request)
        return self.check_csrf(request)

    def after_request(self, request, response):
        if not self.skips(request.path):
            self.save(request, response)
        return response

    def save(self, request, response):
        """Send the cookie that matches ``request.session``: a new one when its id changed, a cleared one when it ended."""
        # TODO 7: add Set-Cookie with the signed id when the session's id differs from request.session_at_start's (Secure if self.secure); clear the cookie with Max-Age=0 when there is no session but a cookie came in
        # Read: docs/extensions/sessions.md#keeping-the-cookie
        raise NotImplementedError("TODO 7: add Set-Cookie with the signed id when the session's id differs from request.session_at_start's (Secure if self.secure); clear the cookie with Max-Age=0 when there is no session but a cookie came in (see docs/extensions/sessions.md#keeping-the-cookie)")

    def check_csrf(self, request):
        """None when the request may go on; 403 for a request that may change something without the session's CSRF token."""
        # TODO 8: let safe methods through; otherwise take the token from the CSRF_HEADER or the form's CSRF_FIELD, and refuse (403) unless there is a session and the token equals its csrf_token by hmac.compare_digest
        # Read: docs/extensions/sessions.md#forms-from-elsewhere
        raise NotImplementedError("TODO 8: let safe methods through; otherwise take the token from the CSRF_HEADER or the form's CSRF_FIELD, and refuse (403) unless there is a session and the token equals its csrf_token by hmac.compare_digest (see docs/extensions/sessions.md#forms-from-elsewhere)")
