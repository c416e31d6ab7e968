"""What the compression checks share, as fixtures.

* ``middleware_module``, ``response_module``, ``static_module``  the learner's own modules, imported fresh;
* ``make_request(method, target, headers)``  an ``HTTPRequest`` with those header fields (built directly:
  the checks of this extension must not fail for the parser's sake);
* ``make_response(status, body, headers, chunks=, length=)``  an ``HTTPResponse`` of the learner's;
* ``catch_logs(logger=None)``  a ``with`` block that catches log records (the root logger's when None);
* ``access_line(text)``  the fields of an access-log line, or None if it has not that shape.
"""

import re
from urllib.parse import parse_qs

import pytest

from checks.logs import caught_logs

# An access-log line, as far as the checks read it: "request line" status size duration.
# The size may be "-": a body whose size nobody knew when the line was written (Apache writes that too).
ACCESS_LINE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)(?: (?P<took>-?\d+(?:\.\d+)?)m?s)?')


@pytest.fixture
def middleware_module(learner_module):
    return learner_module("middleware")


@pytest.fixture
def response_module(learner_module):
    return learner_module("response")


@pytest.fixture
def static_module(learner_module):
    return learner_module("static")


@pytest.fixture
def make_request(learner_module):
    """``make_request("GET", "/x", [("Accept-Encoding", "gzip")])``: an HTTPRequest."""
    request_module = learner_module("request")

    def make(method="GET", target="/", headers=()):
        fields = request_module.Headers([("Host", "x"), *headers])
        path, _, query = target.partition("?")
        request = request_module.HTTPRequest(method, target, "HTTP/1.1", fields, b"", path, parse_qs(query))
        request.client = "192.0.2.7"
        return request

    return make


@pytest.fixture
def make_response(response_module):
    """``make_response(200, b"...", {"Content-Type": "text/html"})``: an HTTPResponse, streamed if given chunks."""

    def make(status=200, body=b"", headers=None, chunks=None, length=None):
        response = response_module.HTTPResponse(status, body, headers=dict(headers or {}))
        if chunks is not None:
            response.chunks, response.length = chunks, length
        return response

    return make


def read_access_line(text):
    """``{"request", "status", "size"}`` from an access-log line (``size`` None for "-"), or None."""
    match = ACCESS_LINE.search(text)
    if match is None:
        return None
    return {"request": match["request"], "status": int(match["status"]),
            "size": None if match["size"] == "-" else int(match["size"])}


@pytest.fixture
def catch_logs():
    return caught_logs


@pytest.fixture
def access_line():
    return read_access_line
