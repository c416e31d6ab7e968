"""What the sessions checks share, as fixtures.

* ``sessions_module``  the learner's sessions.py, imported fresh;
* ``clock``  a clock the checks move by hand (``clock.now += 60``): no check ever sleeps;
* ``make_request(method, path, cookie=, headers=, form=, body=, query=)``  an ``HTTPRequest`` built directly
  (these checks grade sessions, not step 2's parser): ``cookie`` becomes a Cookie header, ``form`` (a dict)
  an application/x-www-form-urlencoded body, ``query`` the query string;
* ``oracle``  what the checks compare with: ``KEY`` (the 32-byte key they sign with), ``signature()`` and
  ``signed()`` computed with Python's hmac, and ``attributes_of()``, a reader of Set-Cookie values;
* ``compare_digest_calls``  a list that records every call of hmac.compare_digest during the check.
"""

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlencode

import pytest

from checks import unit


class Oracle:
    KEY = b"a key for the checks, 32 bytes.."
    OTHER_KEY = b"not the key, though 32 bytes too"

    @staticmethod
    def signature(value, key=KEY):
        digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    @classmethod
    def signed(cls, value, key=KEY):
        return f"{value}.{cls.signature(value, key)}"

    @staticmethod
    def attributes_of(header_value):
        """(name, value, {attribute name in lower case: its value, or True}) of a Set-Cookie value."""
        first, *rest = [part.strip() for part in header_value.split(";")]
        name, _, value = first.partition("=")
        attributes = {}
        for part in rest:
            key, equals, argument = part.partition("=")
            attributes[key.strip().lower()] = argument.strip() if equals else True
        return name, value, attributes


@pytest.fixture
def oracle():
    return Oracle


@pytest.fixture
def compare_digest_calls(monkeypatch, sessions_module):
    """Every call of hmac.compare_digest (or of the learner module's own name for it) from now on."""
    return unit.compare_digest_calls(monkeypatch, sessions_module)


@pytest.fixture
def sessions_module(learner_module):
    return learner_module("sessions")


@pytest.fixture
def response_module(learner_module):
    return learner_module("response")


@pytest.fixture
def clock():
    return unit.Clock()


@pytest.fixture
def make_request(learner_module):
    request_module = learner_module("request")

    def make(method="GET", path="/account", cookie=None, headers=(), form=None, body=b"", query=""):
        fields = [("Host", "x"), *headers]
        if cookie is not None:
            fields.append(("Cookie", cookie))
        if form is not None:
            body = urlencode(form).encode("ascii")
            fields.append(("Content-Type", "application/x-www-form-urlencoded"))
        if body:
            fields.append(("Content-Length", str(len(body))))
        target = f"{path}?{query}" if query else path
        request = request_module.HTTPRequest(method, target, "HTTP/1.1", request_module.Headers(fields), body, path,
                                             parse_qs(query))
        request.client = "192.0.2.7"
        return request

    return make
