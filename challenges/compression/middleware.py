"""compression — step 5's middleware, and one more layer: gzip for the clients that ask for it.

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

``CompressionMiddleware`` is this extension's: it reads the request's
``Accept-Encoding`` (RFC 9110, section 12.5.3) and sends a body worth
compressing with ``Content-Encoding: gzip`` to a client that accepts it, a
file piece by piece as it is read. Every response whose coding depends on
``Accept-Encoding`` says so with ``Vary: Accept-Encoding``, and the gzip copy
of a file has an ETag of its own.
"""

import gzip
import hmac
import logging
import re
import time
import zlib
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
        self.logger.info(  # "-" for a stream whose size nobody knows before it is sent (a compressed file)
            '%s - - [%s] "%s %s %s" %d %s %.3fs', request.client, when, request.method, request.target,
            request.version, response.status, "-" if size is None else size, took,
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


# What the client accepts, and what this server can send: gzip, and identity (the body as it is, no coding).
GZIP, IDENTITY = "gzip", "identity"

# A weight's value, a "qvalue" (RFC 9110, section 12.4.2): 0 to 1, with at most three decimals.
# "0", "0.5" and "1.000" are qvalues; "2", ".5", "0.0001" and "abc" are not.
QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")

# identity's weight when Accept-Encoding names neither it nor "*": acceptable (RFC 9110, section 12.5.3),
# but after any coding the client does name, whatever its weight.
UNNAMED_IDENTITY = 0.001

# A body shorter than this goes as it is. gzip adds 18 bytes of its own, a short text has little to
# repeat, and anything under a kilobyte fits in one TCP packet either way: there is nothing to win.
MIN_SIZE = 1024

# zlib's level, from 1 (fastest) to 9 (smallest). 6, zlib's own default, gets most of 9's savings in
# far less time (the notebook measures it); nginx's gzip_comp_level is 1 unless you say otherwise.
LEVEL = 6

# zlib writes gzip's header and trailer (RFC 1952) around the deflate data when wbits is 16 + 15
# (15: the 32 KiB window). 15 alone would be the zlib format, and -15 raw deflate: neither is gzip.
GZIP_WBITS = 31

# Media types whose bytes are compressed already: gzip would spend time to save nothing, or add bytes.
COMPRESSED_TYPES = {
    "application/gzip", "application/x-gzip", "application/zip", "application/zstd", "application/x-bzip2",
    "application/x-xz", "application/x-7z-compressed", "application/vnd.rar", "font/woff", "font/woff2",
}
# Whole families of compressed formats: every image but SVG (which is XML: text), every sound, every video.
COMPRESSED_FAMILIES = ("image/", "audio/", "video/")
TEXT_IMAGES = {"image/svg+xml"}

# What the gzip copy of a representation adds to its ETag, inside the quotes, as Apache does:
# "18c3-157" becomes "18c3-157-gzip". Two representations, two tags (RFC 9110, section 8.8.3).
GZIP_ETAG_SUFFIX = "-gzip"


def accepted_codings(field):
    """The weight the client gives each coding this server can send, read from its ``Accept-Encoding``.

    ``field`` is the field's value, or None when the request has none. The answer has both codings:
    ``{"gzip": 0.8, "identity": 0.001}`` for ``gzip;q=0.8``. A weight of 0 means "not acceptable".
    """
    # TODO 1: read Accept-Encoding into the weights of gzip and identity: q-values, "*", any case, x-gzip; no field, or an empty one, means identity only
    # Read: docs/extensions/compression.md#reading-accept-encoding
    raise NotImplementedError('TODO 1: read Accept-Encoding into the weights of gzip and identity: q-values, "*", any case, x-gzip; no field, or an empty one, means identity only (see docs/extensions/compression.md#reading-accept-encoding)')


def choose_coding(weights):
    """The coding to send, from ``accepted_codings()``: ``"gzip"``, ``"identity"``, or None if neither will do."""
    # TODO 2: choose the coding with the highest weight, gzip on a tie, or None when neither weighs more than 0
    # Read: docs/extensions/compression.md#choosing-a-coding
    raise NotImplementedError('TODO 2: choose the coding with the highest weight, gzip on a tie, or None when neither weighs more than 0 (see docs/extensions/compression.md#choosing-a-coding)')


def worth_compressing(response):
    """Whether gzip could make ``response``'s body smaller, whoever asks: the server's own judgement."""
    # TODO 3: say whether a response is worth compressing: a body, no Content-Encoding yet, a type not compressed already, and at least MIN_SIZE bytes (or an unknown length)
    # Read: docs/extensions/compression.md#worth-compressing
    raise NotImplementedError('TODO 3: say whether a response is worth compressing: a body, no Content-Encoding yet, a type not compressed already, and at least MIN_SIZE bytes (or an unknown length) (see docs/extensions/compression.md#worth-compressing)')


def gzip_chunks(chunks, level=LEVEL):
    """The gzip coding of the pieces ``chunks`` gives, made as they are read: never the whole body at once."""
    # TODO 4: compress the pieces one at a time with zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS), yielding what comes out, then what flush() returns
    # Read: docs/extensions/compression.md#compressing-as-it-is-sent
    raise NotImplementedError('TODO 4: compress the pieces one at a time with zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS), yielding what comes out, then what flush() returns (see docs/extensions/compression.md#compressing-as-it-is-sent)')


def gzip_etag(etag):
    """The ETag of the gzip copy of a representation tagged ``etag``: ``"5f-2c"`` gives ``"5f-2c-gzip"``."""
    return etag[:-1] + GZIP_ETAG_SUFFIX + '"' if etag.endswith('"') else etag


def entity_tags(field):
    """The tags an ``If-None-Match`` field lists, each without ``W/``: it compares them weakly (RFC 9110, section 13.1.2)."""
    return {tag.strip(" \t").removeprefix("W/") for tag in (field or "").split(",")} - {""}


def not_acceptable():
    """406 Not Acceptable, for a client that refuses both codings this server can send (RFC 9110, section 15.5.7)."""
    response = error_response(HTTPStatus.NOT_ACCEPTABLE, "This server sends gzip, or the body as it is (identity), "
                              "and the request's Accept-Encoding refuses both.")
    response.headers.add("Vary", "Accept-Encoding")  # another Accept-Encoding would get another answer
    return response


class CompressionMiddleware(Middleware):
    """gzip, for the clients that accept it and the bodies worth it (RFC 9110, sections 8.4 and 12.5.3)."""

    def __init__(self, level=LEVEL):
        self.level = level

    def before_request(self, request):
        # TODO 5: answer 406 when no coding is acceptable; when gzip is chosen, add to If-None-Match the plain form of each -gzip tag in it
        # Read: docs/extensions/compression.md#before-the-handler
        raise NotImplementedError('TODO 5: answer 406 when no coding is acceptable; when gzip is chosen, add to If-None-Match the plain form of each -gzip tag in it (see docs/extensions/compression.md#before-the-handler)')

    def after_request(self, request, response):
        # TODO 6: add Vary: Accept-Encoding to a 304 and to a response worth compressing; for gzip, set Content-Encoding and the -gzip ETag (a 304's, if the client holds that copy), and compress the body or the chunks
        # Read: docs/extensions/compression.md#after-the-handler
        raise NotImplementedError("TODO 6: add Vary: Accept-Encoding to a 304 and to a response worth compressing; for gzip, set Content-Encoding and the -gzip ETag (a 304's, if the client holds that copy), and compress the body or the chunks (see docs/extensions/compression.md#after-the-handler)")
