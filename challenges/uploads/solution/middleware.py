"""Step 5 — middleware: code that runs around every request, in layers like an onion.

A middleware has two hooks:

* ``before_request(request)`` runs on the way in. Return ``None`` to let the
  request go on, or an ``HTTPResponse`` to answer at once (a short-circuit:
  later middlewares and the handler are skipped).
* ``after_request(request, response)`` runs on the way out, for every response
  (the handler's, a 404, a 500, a short-circuit), and returns the response,
  changed or not.

``Pipeline(handler, [a, b, c])`` calls ``a.before``, ``b.before``, ``c.before``,
the handler, then ``c.after``, ``b.after``, ``a.after``: the last one in is
the first one out. Only middlewares whose ``before`` ran get their ``after``.
"""

import hmac
import logging
import time
from datetime import datetime, timezone
from http import HTTPStatus

from response import HTTPResponse, error_response
from router import to_response

log = logging.getLogger("server")
access_log = logging.getLogger("access")


class Middleware:
    """The base class: both hooks do nothing. Override one or both."""

    def before_request(self, request):
        return None

    def after_request(self, request, response):
        return response


class Pipeline:
    """A handler that runs ``middlewares`` around ``handler``."""

    def __init__(self, handler, middlewares=()):
        self.handler = handler
        self.middlewares = list(middlewares)

    def add(self, middleware):
        self.middlewares.append(middleware)
        return middleware

    def __call__(self, request):
        entered = []
        response = None
        for middleware in self.middlewares:
            entered.append(middleware)
            response = middleware.before_request(request)
            if response is not None:
                break  # a short-circuit: the rest, and the handler, never see the request
        if response is None:
            try:
                response = to_response(self.handler(request))
            except Exception:
                log.exception("the handler failed on %s %s", request.method, request.target)
                response = error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
        for middleware in reversed(entered):
            response = middleware.after_request(request, response)
        return response


class LoggingMiddleware(Middleware):
    """One access-log line per request, in the Common Log Format plus the time it took::

        127.0.0.1 - - [25/Nov/2026:17:09:36 +0000] "GET /about HTTP/1.1" 200 102 0.002s
    """

    def __init__(self, logger=access_log):
        self.logger = logger

    def before_request(self, request):
        request.started = time.monotonic()
        return None

    def after_request(self, request, response):
        if not self.logger.isEnabledFor(logging.INFO):
            return response  # nobody reads this log: don't spend time formatting a line for it
        took = time.monotonic() - getattr(request, "started", time.monotonic())
        when = datetime.now(timezone.utc).strftime("%d/%b/%Y:%H:%M:%S %z")
        size = response.length if response.chunks is not None else len(response.body)
        self.logger.info(
            '%s - - [%s] "%s %s %s" %d %d %.3fs',
            request.client, when, request.method, request.target, request.version, response.status, size, took,
        )
        return response


class CORSMiddleware(Middleware):
    """Let pages from other origins call this server from a browser (Cross-Origin Resource Sharing).

    ``origins`` is ``"*"`` (any) or a list of origins such as ``["https://example.com"]``.
    """

    def __init__(self, origins="*", methods=("GET", "POST", "PUT", "PATCH", "DELETE"),
                 headers=("Authorization", "Content-Type"), max_age=600):
        self.origins = origins
        self.methods = methods
        self.headers = headers
        self.max_age = max_age

    def allowed_origin(self, origin):
        """The value for Access-Control-Allow-Origin, or None if ``origin`` may not call us."""
        if self.origins == "*":
            return "*"
        return origin if origin in self.origins else None

    def before_request(self, request):
        origin = request.headers.get("Origin")
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        if origin is None or not preflight or self.allowed_origin(origin) is None:
            return None
        return HTTPResponse(HTTPStatus.NO_CONTENT, headers={
            "Access-Control-Allow-Methods": ", ".join(self.methods),
            "Access-Control-Allow-Headers": ", ".join(self.headers),
            "Access-Control-Max-Age": str(self.max_age),
        })  # after_request adds the Allow-Origin

    def after_request(self, request, response):
        origin = request.headers.get("Origin")
        allowed = self.allowed_origin(origin) if origin is not None else None
        if allowed is not None:
            response.headers["Access-Control-Allow-Origin"] = allowed
            if allowed != "*":
                response.headers.add("Vary", "Origin")  # the answer depends on who asks: caches must know
        return response


class AuthMiddleware(Middleware):
    """Ask for ``Authorization: Bearer <token>`` on the protected paths but the exempt ones.

    ``protect`` lists the paths that need the token (every path, by default), and
    ``exempt`` those among them that do not. In both, an entry ending in "*"
    covers every path that starts with the rest ("/static/*"), and any other
    entry covers that path alone ("/" is the home page, not the whole site).
    """

    def __init__(self, token, exempt=("/", "/static/*"), protect=("*",)):
        if not token:
            raise ValueError("AuthMiddleware needs a token")
        self.token = token.encode("utf-8")
        self.exempt = tuple(exempt)
        self.protect = tuple(protect)

    def is_exempt(self, path):
        """True for a path that needs no token: outside what is protected, or listed as exempt."""
        protected = any(covers(entry, path) for entry in self.protect)
        return not protected or any(covers(entry, path) for entry in self.exempt)

    def before_request(self, request):
        if self.is_exempt(request.path):
            return None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            return unauthorized('Bearer realm="byo-http"')
        # compare_digest takes as long whatever matches: no timing hints to an attacker.
        if not hmac.compare_digest(given.strip().encode("utf-8"), self.token):
            return unauthorized('Bearer realm="byo-http", error="invalid_token"')
        return None


def covers(entry, path):
    """An entry ending in "*" covers every path that starts with the rest; any other, that path alone."""
    return path.startswith(entry[:-1]) if entry.endswith("*") else path == entry


def unauthorized(challenge):
    response = error_response(HTTPStatus.UNAUTHORIZED, "This needs a token: Authorization: Bearer <token>.")
    response.headers["WWW-Authenticate"] = challenge
    return response
