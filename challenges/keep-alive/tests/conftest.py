"""What the keep-alive checks share, as fixtures.

* ``request_module``, ``response_module``, ``server_module``  the learner's own modules, imported fresh;
* ``make_request(method, target, headers, version=)``  an ``HTTPRequest`` parsed by the learner's parser
  (its body framing is not used: the checks of TODO 5 must not fail for TODO 1's sake);
"""

import pytest


@pytest.fixture
def request_module(learner_module):
    return learner_module("request")


@pytest.fixture
def response_module(learner_module):
    return learner_module("response")


@pytest.fixture
def server_module(learner_module):
    return learner_module("server")


@pytest.fixture
def make_request(request_module):
    """``make_request("GET", "/", [("Connection", "close")], version="HTTP/1.0")``: an HTTPRequest."""

    def make(method="GET", target="/", headers=(), version="HTTP/1.1"):
        fields = request_module.Headers([("Host", "x"), *headers])
        return request_module.HTTPRequest(method, target, version, fields, b"", target.partition("?")[0], {})

    return make

