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
        # TODO 1: run each before in order until one answers; else the handler (a failure is a 500); then the afters of those that ran, in reverse
        # Read: docs/steps/5-middleware.md#the-onion
        raise NotImplementedError('TODO 1: run each before in order until one answers; else the handler (a failure is a 500); then the afters of those that ran, in reverse (see docs/steps/5-middleware.md#the-onion)')


class LoggingMiddleware(Middleware):
    """One access-log line per request, in the Common Log Format plus the time it took::

        127.0.0.1 - - [25/Nov/2026:17:09:36 +0000] "GET /about HTTP/1.1" 200 102 0.002s
    """

    def __init__(self, logger=access_log):
        self.logger = logger

    def before_request(self, request):
        # TODO 2: note the time the request came in
        # Read: docs/steps/5-middleware.md#logging-every-request
        raise NotImplementedError('TODO 2: note the time the request came in (see docs/steps/5-middleware.md#logging-every-request)')

    def after_request(self, request, response):
        # TODO 2: log one line through self.logger: client, time, request line, status, bytes, duration
        # Read: docs/steps/5-middleware.md#logging-every-request
        raise NotImplementedError('TODO 2: log one line through self.logger: client, time, request line, status, bytes, duration (see docs/steps/5-middleware.md#logging-every-request)')


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
        # TODO 3: answer a preflight (OPTIONS with Origin and Access-Control-Request-Method) with 204
        # Read: docs/steps/5-middleware.md#cors
        raise NotImplementedError('TODO 3: answer a preflight (OPTIONS with Origin and Access-Control-Request-Method) with 204 (see docs/steps/5-middleware.md#cors)')

    def after_request(self, request, response):
        # TODO 3: add Access-Control-Allow-Origin (and Vary: Origin when it names the origin)
        # Read: docs/steps/5-middleware.md#cors
        raise NotImplementedError('TODO 3: add Access-Control-Allow-Origin (and Vary: Origin when it names the origin) (see docs/steps/5-middleware.md#cors)')


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
        # TODO 4: let exempt paths through; else require "Bearer <token>", compared in constant time; 401 with WWW-Authenticate
        # Read: docs/steps/5-middleware.md#authentication
        raise NotImplementedError('TODO 4: let exempt paths through; else require "Bearer <token>", compared in constant time; 401 with WWW-Authenticate (see docs/steps/5-middleware.md#authentication)')


def covers(entry, path):
    """An entry ending in "*" covers every path that starts with the rest; any other, that path alone."""
    return path.startswith(entry[:-1]) if entry.endswith("*") else path == entry


def unauthorized(challenge):
    response = error_response(HTTPStatus.UNAUTHORIZED, "This needs a token: Authorization: Bearer <token>.")
    response.headers["WWW-Authenticate"] = challenge
    return response
