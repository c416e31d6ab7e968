"""Step 5 — middleware: checks of the pipeline and the three middlewares, called directly.

Recording middlewares note every call, so the order of the onion can be seen;
a spy stands in for hmac.compare_digest, so the token check can be seen too.
"""

import hmac
import logging
import re
import secrets

import pytest

from checks.report import CheckFailed
from checks.unit import call, expect_equal, short


@pytest.fixture
def middleware_module(learner_module):
    return learner_module("middleware")


@pytest.fixture
def make_request(learner_module):
    parse_request = learner_module("request").parse_request

    def make(method="GET", target="/", headers=()):
        head = f"{method} {target} HTTP/1.1\r\nHost: x\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers)
        request, _ = parse_request((head + "\r\n").encode())
        request.client = "192.0.2.7"
        return request

    return make


class Recorder:
    """A middleware that writes down each call; it may answer in before_request."""

    def __init__(self, name, calls, answer=None):
        self.name, self.calls, self.answer = name, calls, answer

    def before_request(self, request):
        self.calls.append(f"before {self.name}")
        return self.answer

    def after_request(self, request, response):
        self.calls.append(f"after {self.name} ({response.status})")
        return response


def recorded_handler(calls, response_module, status=200):
    def handler(request):
        calls.append("handler")
        return response_module.HTTPResponse(status, "ok")
    return handler


@pytest.mark.task(1)
@pytest.mark.hint("Run every before in order, then the handler, then the afters in reverse order: the last "
                  "one in is the first one out.", docs="#the-onion")
def test_the_pipeline_is_an_onion(middleware_module, learner_module, make_request):
    """before runs in order, the handler next, then after in reverse order"""
    calls = []
    pipeline = middleware_module.Pipeline(recorded_handler(calls, learner_module("response")),
                                          [Recorder(name, calls) for name in "ABC"])
    call(pipeline, make_request(), shown="pipeline(request)")
    expect_equal("the order of the calls", calls,
                 ["before A", "before B", "before C", "handler", "after C (200)", "after B (200)", "after A (200)"],
                 meaning="Each middleware wraps the ones added after it, like the layers of an onion.")


@pytest.mark.task(1)
@pytest.mark.hint("Stop at the first before that returns a response; run the afters only of the "
                  "middlewares whose before ran, in reverse.", docs="#the-onion")
def test_a_short_circuit_skips_the_rest_but_not_the_outer_afters(middleware_module, learner_module, make_request):
    """A before that answers skips later befores and the handler, but the outer afters still run"""
    calls = []
    response_module = learner_module("response")
    answer = response_module.HTTPResponse(403, "no")
    pipeline = middleware_module.Pipeline(recorded_handler(calls, response_module),
                                          [Recorder("A", calls), Recorder("B", calls, answer), Recorder("C", calls)])
    response = call(pipeline, make_request(), shown="pipeline(request)")
    expect_equal("the order of the calls", calls, ["before A", "before B", "after B (403)", "after A (403)"],
                 meaning="C never saw the request, so it gets no after; B and A do, with B's answer.")
    expect_equal("the status the pipeline returned", response.status, 403)


@pytest.mark.task(1)
@pytest.mark.hint("Catch the handler's exception inside the pipeline and turn it into a 500 response, so it "
                  "flows through the afters like any other.", docs="#the-onion")
def test_afters_run_for_404_405_and_500(middleware_module, learner_module, make_request):
    """after runs for a 404, a 405 and a handler that fails (500), like for any response"""
    router = learner_module("router").Router()
    router.add_route("/page", lambda request: "page", ["GET"])

    def broken(request):
        raise RuntimeError("boom")

    router.add_route("/broken", broken, ["GET"])
    for method, target, status in (("GET", "/nowhere", 404), ("POST", "/page", 405), ("GET", "/broken", 500)):
        calls = []
        pipeline = middleware_module.Pipeline(router, [Recorder("A", calls)])
        response = call(pipeline, make_request(method, target), shown=f"pipeline({method} {target})")
        expect_equal(f"the calls for {method} {target}", calls, ["before A", f"after A ({status})"],
                     meaning="Every response goes back out through the afters: a log or a CORS header "
                     "that misses errors misses what matters most.")
        expect_equal(f"the status for {method} {target}", response.status, status)


@pytest.mark.task(2)
@pytest.mark.hint("Note time.monotonic() in before_request; in after_request call self.logger.info(...) once, "
                  "with the client, the time, the request line, the status, the body size and the duration.",
                  docs="#logging-every-request")
def test_one_access_log_line_per_request(middleware_module, learner_module, make_request):
    """The logging middleware writes one Common Log Format line per request, through logging"""
    records = []
    logger = logging.getLogger("checks.access")
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        response_module = learner_module("response")
        pipeline = middleware_module.Pipeline(lambda request: response_module.HTTPResponse(404, "x" * 17),
                                              [middleware_module.LoggingMiddleware(logger)])
        request = make_request("GET", "/missing?q=1", [("Authorization", "Bearer never-log-me")])
        call(pipeline, request, shown="pipeline(GET /missing?q=1)")
    finally:
        logger.removeHandler(handler)
    lines = [record.getMessage() for record in records]
    if len(lines) != 1:
        raise CheckFailed(f"{len(lines)} log lines were written for one request.", expected="exactly one line",
                          received="\n".join(lines) or "(none: is it printed instead of logged?)",
                          meaning="Log through the logger (self.logger.info), never print: "
                          "logging can be filtered, sent to files and tested.")
    if "never-log-me" in lines[0]:
        raise CheckFailed("The log line contains the request's token.", received=lines[0],
                          meaning="Logs are read by many people and kept for long: a token in a log is a leaked token.")
    pattern = (r'192\.0\.2\.7 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
               r'"GET /missing\?q=1 HTTP/1\.1" 404 17 \d+(\.\d+)?m?s')
    if not re.fullmatch(pattern, lines[0]):
        raise CheckFailed("The log line is not in the expected form.",
                          expected='192.0.2.7 - - [25/Nov/2026:17:09:36 +0000] "GET /missing?q=1 HTTP/1.1" 404 17 0.001s',
                          received=lines[0],
                          meaning="Common Log Format: client, two dashes, [time], \"request line\", status, bytes; "
                          "then how long it took.")


@pytest.mark.task(4)
@pytest.mark.hint("Compare the token with hmac.compare_digest(given, expected), on bytes: it takes as long "
                  "whatever the input, so timing reveals nothing.", docs="#authentication")
def test_the_token_is_compared_in_constant_time(learner_module, make_request, monkeypatch):
    """The token check goes through hmac.compare_digest, never == or !="""
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(secrets, "compare_digest", spy)
    middleware_module = learner_module("middleware")  # imported after the spy is in place
    auth = middleware_module.AuthMiddleware("s3cret-token", exempt=())
    right = call(auth.before_request, make_request("GET", "/x", [("Authorization", "Bearer s3cret-token")]),
                 shown="before_request(with the right token)")
    if right is not None:
        raise CheckFailed("The right token was refused.", expected="None (let the request through)",
                          received=short(getattr(right, "status", right)))
    wrong = call(auth.before_request, make_request("GET", "/x", [("Authorization", "Bearer s3cret-tokeX")]),
                 shown="before_request(with a wrong token)")
    if getattr(wrong, "status", None) != 401:
        raise CheckFailed("A wrong token was not refused with 401.", received=short(getattr(wrong, "status", wrong)))
    compared = [pair for pair in seen if any(b"s3cret-tok" in (x if isinstance(x, bytes) else str(x).encode())
                                             for x in pair)]
    if len(compared) < 2:
        raise CheckFailed("The token was not compared with hmac.compare_digest.",
                          expected="both checks to call hmac.compare_digest(given, token)",
                          received=f"{len(compared)} such calls",
                          meaning="== stops at the first differing character, so how long it takes leaks how "
                          "much of a guess was right. compare_digest always takes the same time.")
