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


# --8<-- [start:parse-cookie]
def parse_cookie(header):
    """The cookies of a ``Cookie`` header as {name: value}; a pair that is not name=value is skipped, never an error."""
    # >>> SOLUTION 1 #reading-cookies: split on ";", strip each pair, keep name=value pairs whose name is a token and value is cookie-octets (one pair of double quotes removed); the first of a name wins
    cookies = {}
    for pair in header.split(";"):
        name, equals, value = pair.strip(" \t").partition("=")
        name, value = name.strip(" \t"), value.strip(" \t")
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]  # a value may be quoted; the quotes are not part of it
        if not equals or not TOKEN.fullmatch(name) or not COOKIE_VALUE.fullmatch(value):
            continue  # someone else's malformed cookie must not cost this request its session
        cookies.setdefault(name, value)  # browsers send the cookie of the longest Path first: keep it
    return cookies
    # <<< SOLUTION
# --8<-- [end:parse-cookie]


# --8<-- [start:set-cookie]
def set_cookie(name, value, *, max_age=None, path="/", secure=False, http_only=True, same_site="Lax"):
    """The value of a ``Set-Cookie`` field. Raises ValueError for what would break the header or that browsers refuse.

    ``max_age`` is None (the cookie ends when the browser closes) or whole seconds, 0 or more (0: forget it now);
    ``same_site`` is "Strict", "Lax" or "None".
    """
    # >>> SOLUTION 2 #sending-cookies: refuse (ValueError) a name that is not a token, a value that is not cookie-octets, a bad path, max_age or same_site, and SameSite=None without Secure; then join name=value and the attributes with "; "
    if not TOKEN.fullmatch(name):
        raise ValueError(f"{name!r} cannot be a cookie name: use letters, digits and !#$%&'*+-.^_`|~")
    if not COOKIE_VALUE.fullmatch(value):
        raise ValueError(f"{value!r} cannot be a cookie value: no spaces, quotes, commas, semicolons, "
                         "backslashes, control characters or non-ASCII")
    if not PATH_VALUE.fullmatch(path):
        raise ValueError(f"{path!r} cannot be a cookie path: no control characters or ';'")
    if max_age is not None and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
        raise ValueError(f"max_age must be a whole number of seconds, 0 or more, not {max_age!r}")
    if same_site not in ("Strict", "Lax", "None"):
        raise ValueError(f"same_site must be 'Strict', 'Lax' or 'None', not {same_site!r}")
    if same_site == "None" and not secure:
        raise ValueError("browsers drop a cookie with SameSite=None that is not also Secure")
    attributes = [f"{name}={value}"]
    if path:
        attributes.append(f"Path={path}")
    if max_age is not None:
        attributes.append(f"Max-Age={max_age}")  # 0: forget the cookie now (RFC 6265 §5.2.2)
    if secure:
        attributes.append("Secure")
    if http_only:
        attributes.append("HttpOnly")
    attributes.append(f"SameSite={same_site}")
    return "; ".join(attributes)
    # <<< SOLUTION
# --8<-- [end:set-cookie]


# --8<-- [start:sign]
def signature(value, key):
    """HMAC-SHA256 of ``value`` (UTF-8) under ``key`` (bytes), in URL-safe base64 without its "=" padding."""
    # >>> SOLUTION 3 #signed-ids: compute hmac.new(key, the value's UTF-8 bytes, hashlib.sha256); return its digest in base64.urlsafe_b64encode, "=" stripped
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    # <<< SOLUTION


def sign(value, key):
    """``value`` with its signature after a dot: "value.signature"."""
    return f"{value}.{signature(value, key)}"


def unsign(signed, key):
    """The value a ``sign()``-ed string carries, or None when its signature does not match (or it has none)."""
    # >>> SOLUTION 3 #signed-ids: split at the last ".", compute the value's signature and compare it with the one given by hmac.compare_digest (as bytes); None unless they match
    value, dot, given = signed.rpartition(".")
    if not dot:
        return None
    # Compared in constant time: == stops at the first wrong character, and the time it takes would
    # tell an attacker how much of a forged signature was right.
    if not hmac.compare_digest(given.encode("utf-8", "replace"), signature(value, key).encode("ascii")):
        return None
    return value
    # <<< SOLUTION
# --8<-- [end:sign]


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

    # --8<-- [start:store]
    def create(self, data=None):
        """A new session holding ``data``, with an id and a CSRF token from ``secrets``, alive for ``lifetime`` seconds."""
        # >>> SOLUTION 4 #the-store: make a Session (ids from secrets.token_urlsafe(32)); under the lock, drop expired sessions and the least recently used while full, then add it
        now = self.clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), now + self.lifetime, data)
        with self.lock:
            while self.sessions:
                oldest = next(iter(self.sessions.values()))
                if oldest.expires > now and len(self.sessions) < self.max_sessions:
                    break
                del self.sessions[oldest.id]
            self.sessions[session.id] = session
        return session
        # <<< SOLUTION

    def get(self, session_id):
        """The live session with ``session_id``, its life renewed; None for an unknown or expired id (then forgotten)."""
        # >>> SOLUTION 4 #the-store: find the session under the lock; forget it and answer None if it has expired; else move its expiry to now + lifetime and mark it most recently used
        now = self.clock()
        with self.lock:
            session = self.sessions.get(session_id)
            if session is None:
                return None
            if session.expires <= now:
                del self.sessions[session_id]
                return None
            session.expires = now + self.lifetime
            self.sessions.move_to_end(session_id)
            return session
        # <<< SOLUTION
    # --8<-- [end:store]

    # --8<-- [start:rotate]
    def rotate(self, session):
        """The same data under a new id and a new CSRF token; the old id is forgotten. Call it at login."""
        # >>> SOLUTION 5 #a-fresh-id-at-login: forget the old id, then create a session holding the same data
        self.delete(session.id)
        return self.create(session.data)
        # <<< SOLUTION

    def delete(self, session_id):
        """Forget ``session_id``, if the store knows it. Call it at logout."""
        # >>> SOLUTION 5 #a-fresh-id-at-login: remove the id under the lock, if it is there
        with self.lock:
            self.sessions.pop(session_id, None)
        # <<< SOLUTION
    # --8<-- [end:rotate]


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

    # --8<-- [start:load]
    def load(self, request):
        """The live session the request's cookie points to, or None (no cookie, a bad signature, an unknown or expired id)."""
        # >>> SOLUTION 6 #finding-the-session: read the cookie (self.cookie), unsign it with self.key, and ask the store for that id; None at the first thing missing
        signed = self.cookie(request)
        if signed is None:
            return None
        session_id = unsign(signed, self.key)
        if session_id is None:
            return None  # forged or edited: the store is not even asked
        return self.store.get(session_id)
        # <<< SOLUTION
    # --8<-- [end:load]

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

    # --8<-- [start:save]
    def save(self, request, response):
        """Send the cookie that matches ``request.session``: a new one when its id changed, a cleared one when it ended."""
        # >>> SOLUTION 7 #keeping-the-cookie: add Set-Cookie with the signed id when the session's id differs from request.session_at_start's (Secure if self.secure); clear the cookie with Max-Age=0 when there is no session but a cookie came in
        session, started = request.session, request.session_at_start
        if session is not None and (started is None or session.id != started.id):
            value = sign(session.id, self.key)
            response.headers.add("Set-Cookie", set_cookie(self.cookie_name, value, secure=self.secure))
        elif session is None and self.cookie(request) is not None:
            # Logged out, or a cookie that led nowhere (forged, expired): tell the browser to stop sending it.
            response.headers.add("Set-Cookie", set_cookie(self.cookie_name, "", max_age=0, secure=self.secure))
        # <<< SOLUTION
    # --8<-- [end:save]

    # --8<-- [start:csrf]
    def check_csrf(self, request):
        """None when the request may go on; 403 for a request that may change something without the session's CSRF token."""
        # >>> SOLUTION 8 #forms-from-elsewhere: let safe methods through; otherwise take the token from the CSRF_HEADER or the form's CSRF_FIELD, and refuse (403) unless there is a session and the token equals its csrf_token by hmac.compare_digest
        if request.method in SAFE_METHODS:
            return None
        given = request.headers.get(CSRF_HEADER) or form(request).get(CSRF_FIELD, "")
        session = request.session
        if session is None or not given or not hmac.compare_digest(given.encode("utf-8"),
                                                                    session.csrf_token.encode("utf-8")):
            return error_response(HTTPStatus.FORBIDDEN, "This form did not come from this site, or it has expired: "
                                                        "open the page again and send it from there.")
        return None
        # <<< SOLUTION
    # --8<-- [end:csrf]
