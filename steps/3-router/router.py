"""Step 3 — router: send each request to the function that handles its method and path.

Register handlers with a decorator, then use the router as the server's handler::

    router = Router()

    @router.get("/user/{username}")
    def user_page(request):
        return f"<h1>Hello, {html.escape(request.path_params['username'])}</h1>"

    server = HTTPServer(handler=router)

Patterns are paths with parameters in braces:

* ``{name}`` matches one path segment: ``/user/{name}`` matches ``/user/ada``,
  not ``/user/ada/photos`` nor ``/user/``;
* ``{name:path}`` matches the rest of the path, slashes included:
  ``/files/{rest:path}`` matches ``/files/css/site.css`` with ``rest = "css/site.css"``.

Routes are tried in the order they were added; the first that matches wins.
A path no route knows gets 404; a known path with the wrong method gets 405
with an ``Allow`` header; HEAD is answered like GET without the body; OPTIONS
lists the allowed methods.
"""

import json
import re
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import unquote

from response import HTTPResponse, error_response

# {name} or {name:converter}; a name is a Python identifier.
PARAMETER = re.compile(r"\{([^{}:]*)(?::([^{}]*))?\}")

# What each kind of parameter matches. A segment is anything up to the next "/".
CONVERTERS = {
    "segment": "[^/]+",
    "path": ".+",
}


def compile_pattern(pattern):
    """The regular expression for a route pattern.

    >>> compile_pattern("/user/{name}").pattern
    '^/user/(?P<name>[^/]+)$'
    >>> compile_pattern("/files/{rest:path}").pattern
    '^/files/(?P<rest>.+)$'
    >>> compile_pattern("/file.txt").pattern
    '^/file\\\\.txt$'

    Raises ``ValueError`` for a parameter name used twice, a name that is not
    an identifier, or an unknown converter.
    """
    # TODO 1: escape the literal parts, turn each {name} into a named group, anchor both ends
    # Read: docs/steps/3-router.md#from-pattern-to-regex
    raise NotImplementedError('TODO 1: escape the literal parts, turn each {name} into a named group, anchor both ends (see docs/steps/3-router.md#from-pattern-to-regex)')


@dataclass
class Route:
    pattern: str
    regex: re.Pattern
    handler: object
    methods: frozenset


@dataclass
class Match:
    """What a path and method found: a route with its parameters, or only the methods the path allows."""

    route: Route | None  # None when the path is known but not for this method
    params: dict
    allowed: set  # every method some route allows for this path


class Router:
    """A handler for ``HTTPServer`` that dispatches to other handlers by method and path."""

    def __init__(self):
        self.routes = []

    def add_route(self, pattern, handler, methods=("GET",)):
        """Send requests for ``pattern`` with one of ``methods`` to ``handler(request)``."""
        if not pattern.startswith("/"):
            raise ValueError(f"route {pattern!r}: a pattern must start with /")
        methods = frozenset(method.upper() for method in methods)
        self.routes.append(Route(pattern, compile_pattern(pattern), handler, methods))

    def route(self, pattern, methods=("GET",)):
        """A decorator: ``@router.route("/x", methods=["GET", "POST"])`` registers the function below it."""
        # TODO 2: return a function that registers the handler and gives it back unchanged
        # Read: docs/steps/3-router.md#decorators
        raise NotImplementedError('TODO 2: return a function that registers the handler and gives it back unchanged (see docs/steps/3-router.md#decorators)')

    def get(self, pattern):
        return self.route(pattern, ["GET"])

    def post(self, pattern):
        return self.route(pattern, ["POST"])

    def put(self, pattern):
        return self.route(pattern, ["PUT"])

    def patch(self, pattern):
        return self.route(pattern, ["PATCH"])

    def delete(self, pattern):
        return self.route(pattern, ["DELETE"])

    def match(self, method, path):
        """Find the route for ``method`` and ``path`` (the raw, still-encoded path).

        Returns ``None`` when no route knows the path; otherwise a ``Match``
        whose ``route`` is the first route for both path and method (or
        ``None`` if only other methods are allowed there), with the
        parameters percent-decoded.
        """
        # TODO 3: try routes in order; remember every method allowed for the path; decode the parameters
        # Read: docs/steps/3-router.md#matching-a-request
        raise NotImplementedError('TODO 3: try routes in order; remember every method allowed for the path; decode the parameters (see docs/steps/3-router.md#matching-a-request)')

    def __call__(self, request):
        """Answer ``request``: its handler's response, or 404, 405, HEAD and OPTIONS as RFC 9110 says."""
        # TODO 4: 404 for an unknown path, 405 with Allow for a wrong method, HEAD answered as GET, OPTIONS lists methods
        # Read: docs/steps/3-router.md#dispatching
        raise NotImplementedError('TODO 4: 404 for an unknown path, 405 with Allow for a wrong method, HEAD answered as GET, OPTIONS lists methods (see docs/steps/3-router.md#dispatching)')


def to_response(value):
    """What a handler returned, as an ``HTTPResponse``.

    ``HTTPResponse`` as it is; ``str`` or ``bytes`` as a 200 HTML page; ``dict``
    or ``list`` as 200 JSON. Anything else is a mistake in the handler: ``TypeError``.
    """
    # TODO 5: pass responses through, wrap text and bytes as HTML, dicts and lists as JSON
    # Read: docs/steps/3-router.md#what-a-handler-returns
    raise NotImplementedError('TODO 5: pass responses through, wrap text and bytes as HTML, dicts and lists as JSON (see docs/steps/3-router.md#what-a-handler-returns)')
