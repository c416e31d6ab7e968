"""What the rate-limit checks share, as fixtures.

* ``ratelimit_module``, ``response_module``  the learner's ratelimit.py and response.py, imported fresh;
* ``clock``  a clock the checks move by hand (``clock.now += 2``): no check ever sleeps;
* ``make_request(path, client=, token=, headers=, query=)``  an ``HTTPRequest`` from that address, with that Bearer token
  (built directly: these checks grade rate limiting, not step 2's parser);
* ``limiter(default=(4, 8), static=(6, 8), tokens=(), max_clients=)``  a ``RateLimitMiddleware`` with the
  demo site's three limits, on ``clock``: "/health" never limited, "/static/*" and every other path with
  their own policies. A quota of 4 over 8 seconds refills half a token a second: numbers a float holds
  exactly, so no check depends on rounding.
"""

from urllib.parse import parse_qs

import pytest

from checks import unit

TOKEN = "test-token"


@pytest.fixture
def ratelimit_module(learner_module):
    return learner_module("ratelimit")


@pytest.fixture
def response_module(learner_module):
    return learner_module("response")


@pytest.fixture
def clock():
    return unit.Clock()


@pytest.fixture
def make_request(learner_module):
    request_module = learner_module("request")

    def make(path="/api/data", client="192.0.2.7", token=None, scheme="Bearer", method="GET", headers=(), query=""):
        fields = [("Host", "x"), *headers]
        if token is not None:
            fields.append(("Authorization", f"{scheme} {token}"))
        target = f"{path}?{query}" if query else path
        request = request_module.HTTPRequest(method, target, "HTTP/1.1", request_module.Headers(fields), b"", path,
                                             parse_qs(query))
        request.client = client
        return request

    return make


@pytest.fixture
def policy(ratelimit_module):
    """``policy("api", 4, 8)``: the learner's Policy."""
    return ratelimit_module.Policy


@pytest.fixture
def limiter(ratelimit_module, clock):
    def make(default=(4, 8), static=(6, 8), tokens=(), max_clients=None):
        Policy = ratelimit_module.Policy
        limits = [("/health", None), ("/static/*", Policy("static", *static)), ("*", Policy("default", *default))]
        options = {} if max_clients is None else {"max_clients": max_clients}
        return ratelimit_module.RateLimitMiddleware(limits, tokens=tokens, clock=clock, **options)

    return make
