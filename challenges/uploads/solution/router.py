"""Steps 3–5 — router: send each request to the function that handles its method and path.

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
    regex = "^"
    names = set()
    position = 0
    for parameter in PARAMETER.finditer(pattern):
        name, converter = parameter.group(1), parameter.group(2) or "segment"
        if not name.isidentifier():
            raise ValueError(f"route {pattern!r}: {{{name}}} is not a valid parameter name")
        if name in names:
            raise ValueError(f"route {pattern!r}: the parameter {{{name}}} appears twice")
        if converter not in CONVERTERS:
            raise ValueError(f"route {pattern!r}: unknown converter {converter!r} (use one of {sorted(CONVERTERS)})")
        names.add(name)
        regex += re.escape(pattern[position:parameter.start()])  # a "." in a path is a dot
        regex += f"(?P<{name}>{CONVERTERS[converter]})"
        position = parameter.end()
    regex += re.escape(pattern[position:]) + "$"
    return re.compile(regex)


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
        def register(handler):
            self.add_route(pattern, handler, methods)
            return handler

        return register

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
        allowed = set()
        found = None
        for route in self.routes:
            matched = route.regex.match(path)
            if matched is None:
                continue
            allowed |= route.methods
            if found is None and method in route.methods:
                params = {name: unquote(value) for name, value in matched.groupdict().items()}
                found = (route, params)
        if not allowed:
            return None
        if "GET" in allowed:
            allowed.add("HEAD")  # HEAD is GET without the body
        allowed.add("OPTIONS")
        route, params = found if found else (None, {})
        return Match(route, params, allowed)

    def __call__(self, request):
        """Answer ``request``: its handler's response, or 404, 405, HEAD and OPTIONS as RFC 9110 says."""
        # HEAD is answered as GET would be; the server then sends the head alone.
        method = "GET" if request.method == "HEAD" else request.method
        match = self.match(method, request.raw_path)
        if match is None:
            response = error_response(HTTPStatus.NOT_FOUND, f"Nothing here: {request.path}")
        elif match.route is None and request.method == "OPTIONS":
            response = HTTPResponse(HTTPStatus.NO_CONTENT, headers={"Allow": ", ".join(sorted(match.allowed))})
        elif match.route is None:
            response = error_response(HTTPStatus.METHOD_NOT_ALLOWED, f"{request.method} is not allowed here.")
            response.headers["Allow"] = ", ".join(sorted(match.allowed))
        else:
            request.path_params = match.params
            response = to_response(match.route.handler(request))
        return response


def to_response(value):
    """What a handler returned, as an ``HTTPResponse``.

    ``HTTPResponse`` as it is; ``str`` or ``bytes`` as a 200 HTML page; ``dict``
    or ``list`` as 200 JSON. Anything else is a mistake in the handler: ``TypeError``.
    """
    if isinstance(value, HTTPResponse):
        return value
    if isinstance(value, (str, bytes)):
        return HTTPResponse(HTTPStatus.OK, value)
    if isinstance(value, (dict, list)):
        return HTTPResponse(HTTPStatus.OK, json.dumps(value), content_type="application/json")
    raise TypeError(f"a handler returned {type(value).__name__}; return an HTTPResponse, str, bytes, dict or list")
