"""Step 5 — middleware: checks of the pipeline and the three middlewares, called directly.

Recording middlewares note every call, so the order of the onion can be seen;
a spy stands in for hmac.compare_digest, so the token check can be seen too.
Requests are made by your own parser (the ``make_request`` fixture, in conftest.py).
"""

import logging
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checks.properties import course_settings
from checks.report import CheckFailed
from checks.unit import call, compare_digest_calls, expect_equal, short


class Recorder:
    """A middleware that writes down each call; it may answer in before_request."""

    def __init__(self, name, calls, answer=None):
        self.name, self.calls, self.answer = name, calls, answer

    def before_request(self, request):
        self.calls.append(f"before {self.name}")
        return self.answer

    def after_request(self, request, response):
        self.calls.append(f"after {self.name} ({seen(response)})")
        return response


def seen(response):
    """What an after was given, in a word: its status, or what it was if not a response."""
    status = getattr(response, "status", None)
    return status if isinstance(status, int) else type(response).__name__


def described(response):
    """``a response with status 200``, or what was there instead."""
    status = response if isinstance(response, int) else seen(response)
    return f"a response with status {status}" if isinstance(status, int) else f"a {status}, not a response"


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
@pytest.mark.hint("Catch the handler's exception inside the pipeline, log it with log.exception(...), and turn "
                  "it into a 500 response, so it flows through the afters like any other.",
                  docs="#errors-go-out-through-the-afters-too")
def test_afters_run_for_404_405_and_500(middleware_module, learner_module, make_request, catch_logs):
    """after runs for a 404, a 405 and a handler that fails (500), like for any response"""
    router = learner_module("router").Router()
    router.add_route("/page", lambda request: "page", ["GET"])

    def broken(request):
        raise RuntimeError("boom: a bug in a handler")

    router.add_route("/broken", broken, ["GET"])
    for method, target, status in (("GET", "/nowhere", 404), ("POST", "/page", 405), ("GET", "/broken", 500)):
        calls = []
        pipeline = middleware_module.Pipeline(router, [Recorder("A", calls)])
        with catch_logs(level=logging.ERROR) as records:
            response = call(pipeline, make_request(method, target), shown=f"pipeline({method} {target})")
        expect_equal(f"the calls for {method} {target}", calls, ["before A", f"after A ({status})"],
                     meaning="Every response goes back out through the afters: a log or a CORS header "
                     "that misses errors misses what matters most.")
        expect_equal(f"the status for {method} {target}", response.status, status)
    told = [record for record in records  # the records of the last case, GET /broken
            if record.exc_info is not None or "boom" in record.getMessage()]
    if not told:
        raise CheckFailed("The handler's exception was turned into a 500, but nobody was told about it.",
                          sent="GET /broken, whose handler raises RuntimeError('boom: a bug in a handler')",
                          expected="a log record at ERROR with the traceback: log.exception(...) in the except",
                          received="\n".join(record.getMessage() for record in records) or "(no log record)",
                          meaning="A 500 says only that something broke. The traceback, in the server's log, "
                          "says what and where; an except that drops it hides every bug behind it.")


@pytest.mark.task(1)
@pytest.mark.hint("Pass what the handler returned through to_response() before the afters see it: a Pipeline "
                  "may wrap any handler, not only a router.", docs="#errors-go-out-through-the-afters-too")
def test_a_plain_result_of_the_handler_becomes_a_response(middleware_module, learner_module, make_request):
    """A handler's str, bytes, dict or list becomes a response, with middlewares or without"""
    response_module, to_response = learner_module("response"), learner_module("router").to_response
    for value in ("<p>a page</p>", b"<p>bytes</p>", {"id": 7, "name": "ada"}, ["a", "b"]):
        expected = to_response(value)
        for names in ("A", ""):
            calls = []
            pipeline = middleware_module.Pipeline(lambda request: value, [Recorder(name, calls) for name in names])
            shown = f"Pipeline(a handler returning {short(value)}, [{', '.join(names)}])(request)"
            response = call(pipeline, make_request(), shown=shown)
            if not isinstance(response, response_module.HTTPResponse):
                raise CheckFailed(f"{shown} did not return an HTTPResponse.", expected="an HTTPResponse, status 200",
                                  received=short(response, 200),
                                  meaning="A handler may return a str, bytes, a dict or a list, as in step 3: "
                                  "the router's to_response() turns them into a response. The server can "
                                  "only send an HTTPResponse, and the afters need one to add headers to.")
            expect_equal(f"what the after of A was given (handler returned {short(value)})", calls,
                         ["before A", "after A (200)"] if names else [])
            got = (response.status, response.headers.get("Content-Type"), response.body)
            want = (expected.status, expected.headers.get("Content-Type"), expected.body)
            expect_equal(f"the response (status, Content-Type, body) for {short(value)}", got, want,
                         meaning="The same response to_response() makes of that value.")


# How many stacks the onion property tries: every length up to four, every kind of layer and handler, in
# well under a second. The same stacks for everyone (derandomized); the cases that found bugs are pinned below.
ONION_EXAMPLES = 80

# One middleware of a generated stack: does its before answer, and does its after hand out a new response?
LAYER = st.tuples(st.booleans(), st.sampled_from(["keeps", "replaces"]))
HANDLER_STATUS = {"an HTTPResponse 201": 201, "a str": 200, "a dict": 200, "an exception": 500}


def expected_onion(layers, outcome):
    """The calls a right Pipeline makes for ``layers``, and the status it returns: the model the check holds to."""
    calls, entered, status = [], 0, None
    for index, (answers, _) in enumerate(layers):
        calls.append(f"before M{index}")
        entered += 1
        if answers:
            status = 400 + index
            break
    else:
        calls.append("handler")
        status = HANDLER_STATUS[outcome]
    for index in reversed(range(entered)):
        calls.append(f"after M{index} ({status})")
        if layers[index][1] == "replaces":
            status = 230 + index
    return calls, status


@pytest.mark.task(1)
@pytest.mark.hint("Keep a list of the middlewares entered (the one that answers included); walk it in reverse, "
                  "and hand each after the response the one inside it returned: "
                  "response = middleware.after_request(request, response).", docs="#the-onion")
def test_the_onion_holds_for_any_stack(middleware_module, learner_module, make_request):
    """Any stack of middlewares, any of which may answer or replace the response, runs as an onion"""
    response_module = learner_module("response")
    hung = []

    def layer(index, answers, after, calls):
        class Layer:
            def before_request(self, request):
                calls.append(f"before M{index}")
                return response_module.HTTPResponse(400 + index, f"M{index} answered") if answers else None

            def after_request(self, request, response):
                calls.append(f"after M{index} ({seen(response)})")
                if after == "replaces":
                    return response_module.HTTPResponse(230 + index, f"M{index} replaced it")
                return response
        return Layer()

    def handler_for(outcome, calls):
        def handler(request):
            calls.append("handler")
            if outcome == "an exception":
                raise RuntimeError("the handler failed, on purpose")
            return {"an HTTPResponse 201": response_module.HTTPResponse(201, "made"), "a str": "<p>text</p>",
                    "a dict": {"made": True}}[outcome]
        return handler

    @course_settings(max_examples=ONION_EXAMPLES)
    @given(st.lists(LAYER, max_size=4), st.sampled_from(list(HANDLER_STATUS)))
    @example([(False, "replaces")], "an HTTPResponse 201")
    @example([(False, "keeps"), (True, "keeps"), (False, "keeps")], "a str")
    def onion(layers, outcome):
        if hung:
            raise hung[0]  # a pipeline that hangs once would hang again: don't wait for it on every example
        calls = []
        stack = ", ".join(f"M{index} (before {'answers ' + str(400 + index) if answers else 'passes'}, "
                          f"after {'returns a new ' + str(230 + index) if after == 'replaces' else 'keeps it'})"
                          for index, (answers, after) in enumerate(layers))
        shown = f"Pipeline(a handler returning {outcome}, [{stack}])"
        pipeline = middleware_module.Pipeline(handler_for(outcome, calls),
                                              [layer(index, *spec, calls) for index, spec in enumerate(layers)])
        try:
            response = call(pipeline, make_request(), shown=f"{shown}(request)")
        except CheckFailed as failure:
            if "did not finish" in failure.summary:
                hung.append(failure)
            raise
        want_calls, want_status = expected_onion(layers, outcome)
        got = (calls, seen(response))
        if got != (want_calls, want_status):
            raise CheckFailed(
                "The pipeline did not run this stack as an onion.",
                sent=shown,
                expected=f"calls: {want_calls}\nreturned: {described(want_status)}",
                received=f"calls: {calls}\nreturned: {described(response)}",
                meaning="Befores in order until one answers (else the handler: what it returns goes through "
                "to_response(), and its failure is a 500); then the "
                "afters of the entered ones, innermost first, each given what the one inside it returned; "
                "the pipeline returns what the outermost after returned.",
            )

    logging.disable(logging.CRITICAL)  # the tracebacks of the handlers that fail on purpose are no news
    try:
        onion()
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.task(2, needs=(1,))
@pytest.mark.hint("Note time.monotonic() in before_request; in after_request call self.logger.info(...) once, "
                  "with the client, the time, the request line, the status, the body size and the duration, "
                  "then return the response.", docs="#logging-every-request")
def test_one_access_log_line_per_request(middleware_module, learner_module, make_request, catch_logs,
                                        local_time_is_not_utc):
    """The logging middleware writes one Common Log Format line per request, through logging"""
    response_module = learner_module("response")
    cases = [  # the request, its response, and the line it must get
        (make_request("GET", "/missing?q=1", [("Authorization", "Bearer never-log-me")]),
         response_module.HTTPResponse(404, "x" * 17),
         r'192\.0\.2\.7 - - \[(?P<when>[^]]*)\] "GET /missing\?q=1 HTTP/1\.1" 404 17 \d+(\.\d+)?m?s',
         '192.0.2.7 - - [25/Nov/2026:17:09:36 +0000] "GET /missing?q=1 HTTP/1.1" 404 17 0.001s'),
        (make_request("POST", "/form", version="HTTP/1.0", body=b"name=ada", client="198.51.100.4"),
         response_module.HTTPResponse(201, "made: " + "é" * 10),
         r'198\.51\.100\.4 - - \[(?P<when>[^]]*)\] "POST /form HTTP/1\.0" 201 26 \d+(\.\d+)?m?s',
         '198.51.100.4 - - [25/Nov/2026:17:09:36 +0000] "POST /form HTTP/1.0" 201 26 0.001s'),
    ]
    logger = logging.getLogger("checks.access")
    for request, answer, pattern, example_line in cases:
        shown = f"pipeline({request.method} {request.target} {request.version})"
        pipeline = middleware_module.Pipeline(lambda request: answer, [middleware_module.LoggingMiddleware(logger)])
        with catch_logs(logger) as records:
            returned = call(pipeline, request, shown=shown)
        if returned is not answer:
            raise CheckFailed(f"{shown} did not return the handler's response.", expected=short(answer),
                              received=short(returned),
                              meaning="An after must end with `return response`: without it, it returns None, "
                              "and the next layer out, or the server, gets None instead of a response.")
        lines = records.lines()
        if len(lines) != 1:
            raise CheckFailed(f"{len(lines)} log lines were written for one request.", expected="exactly one line",
                              received="\n".join(lines) or "(none: is it printed instead of logged?)",
                              meaning="Log through the logger (self.logger.info), never print: "
                              "logging can be filtered, sent to files and tested.")
        if "never-log-me" in lines[0]:
            raise CheckFailed("The log line contains the request's token.", received=lines[0],
                              meaning="Logs are read by many people and kept for long: a token in a log is a "
                              "leaked token.")
        match = re.fullmatch(pattern, lines[0])
        if not match:
            raise CheckFailed("The log line is not in the expected form.", expected=example_line, received=lines[0],
                              meaning="Common Log Format: client, two dashes, [time], \"request line\" (method, "
                              "target and version, as the request had them), status, bytes of the body; then how "
                              "long it took.")
        try:
            when = datetime.strptime(match["when"], "%d/%b/%Y:%H:%M:%S %z")
        except ValueError:
            when = None
        if when is None or abs(when - datetime.now(timezone.utc)) > timedelta(minutes=5):
            raise CheckFailed("The time in the log line is not now.", received=lines[0],
                              expected=f"[{datetime.now(timezone.utc).strftime('%d/%b/%Y:%H:%M:%S %z')}], give "
                              "or take a few seconds",
                              meaning="datetime.now(timezone.utc).strftime(\"%d/%b/%Y:%H:%M:%S %z\"): "
                              "day/month/year, a 24-hour clock, and the zone the time is in.")


# How long the slow request of the duration check is kept in flight, at least.
SLOW_REQUEST_SECONDS = 0.4


@pytest.mark.task(2, needs=(1,))
@pytest.mark.hint("Keep the start time on the request (request.started = time.monotonic()), not on self: one "
                  "LoggingMiddleware serves every request at once.", docs="#logging-every-request")
def test_each_request_is_timed_on_its_own(middleware_module, learner_module, make_request, catch_logs,
                                          access_line):
    """The logged duration covers the whole request, even while other requests come and go"""
    response_module = learner_module("response")
    slow_started, release = threading.Event(), threading.Event()

    def handler(request):
        if request.path == "/slow":
            slow_started.set()
            release.wait(10)  # until the fast request is done (bounded, in case the check itself fails)
        return response_module.HTTPResponse(200, "done")

    logger = logging.getLogger("checks.access")
    pipeline = middleware_module.Pipeline(handler, [middleware_module.LoggingMiddleware(logger)])
    slow_outcome = []  # what pipeline(GET /slow) returned, or the CheckFailed it led to

    def slow_request():
        try:
            slow_outcome.append(call(pipeline, make_request("GET", "/slow"), shown="pipeline(GET /slow)"))
        except CheckFailed as failure:
            slow_outcome.append(failure)
        finally:
            slow_started.set()  # if the handler was never reached, stop waiting for it

    worker = threading.Thread(target=slow_request, name="slow request", daemon=True)
    with catch_logs(logger) as records:
        worker.start()
        try:
            slow_started.wait(5)
            if slow_outcome and isinstance(slow_outcome[0], CheckFailed):
                raise slow_outcome[0]
            if not slow_started.is_set() or slow_outcome:
                raise CheckFailed("pipeline(GET /slow) did not call the handler.",
                                  received=short(slow_outcome[0]) if slow_outcome else "(it is still running)")
            time.sleep(SLOW_REQUEST_SECONDS)  # /slow is now this old, at least
            call(pipeline, make_request("GET", "/fast"), shown="pipeline(GET /fast), while GET /slow is in flight")
        finally:
            release.set()
            worker.join(5)
    if not slow_outcome:
        raise CheckFailed("pipeline(GET /slow) never returned.", received="(still running after 5 s)")
    if isinstance(slow_outcome[0], CheckFailed):
        raise slow_outcome[0]
    found = {}
    for path in ("/slow", "/fast"):
        lines = records.about(f"GET {path} HTTP/1.1")
        fields = access_line(lines[0]) if len(lines) == 1 else None
        if fields is None or fields["seconds"] is None:
            raise CheckFailed(f"GET {path} did not get one access-log line with a duration.",
                              expected=f'one line like ... "GET {path} HTTP/1.1" 200 4 0.400s',
                              received="\n".join(records.lines()) or "(no line)")
        found[path] = fields["seconds"]
    story = (f"GET /slow came in; {SLOW_REQUEST_SECONDS:g} s later GET /fast came in and was answered; "
             "then /slow was answered.")
    # Gross bounds only: /slow took SLOW_REQUEST_SECONDS at least, and far less than a minute however busy the
    # machine; /fast came and went while /slow was in flight, so it took no longer than /slow did.
    if not (SLOW_REQUEST_SECONDS / 2 <= found["/slow"] <= 60 * SLOW_REQUEST_SECONDS) \
            or not 0 <= found["/fast"] <= found["/slow"]:
        raise CheckFailed(
            "The durations in the access log are not the requests' own.",
            sent=story,
            expected=f"/slow logged as taking {SLOW_REQUEST_SECONDS:g} s or a little more (in seconds, or in "
            "milliseconds marked ms), /fast as taking less",
            received="\n".join(records.lines()),
            meaning="A LoggingMiddleware is made once and serves every request at the same time, from many "
            "threads. A start time kept on self is overwritten by the next request that comes in; keep it on "
            "the request, note it in before_request, and subtract it from time.monotonic() in after_request. "
            "The duration is in seconds (0.400s), or in milliseconds if the line says ms.",
        )


@pytest.mark.task(2, needs=(1,))
@pytest.mark.hint("A streamed response has no body: its size is response.length. Don't read response.chunks "
                  "to count them: they can be read only once, and they are the server's to send.",
                  docs="#logging-every-request")
def test_a_streamed_body_is_logged_with_its_size(middleware_module, learner_module, make_request, catch_logs,
                                                 access_line):
    """A streamed file is logged with its size, and still sent whole"""
    response_module = learner_module("response")
    content = bytes(range(256)) * 300

    def pieces():
        for start in range(0, len(content), 30000):
            yield content[start:start + 30000]

    def handler(request):
        response = response_module.HTTPResponse(200, headers={"Content-Type": "application/octet-stream"})
        response.chunks, response.length = pieces(), len(content)
        return response

    logger = logging.getLogger("checks.access")
    pipeline = middleware_module.Pipeline(handler, [middleware_module.LoggingMiddleware(logger)])
    with catch_logs(logger) as records:
        returned = call(pipeline, make_request("GET", "/static/big.bin"), shown="pipeline(GET /static/big.bin)")
    lines = records.about("GET /static/big.bin HTTP/1.1")
    fields = access_line(lines[0]) if len(lines) == 1 else None
    if fields is None or fields["size"] != len(content):
        raise CheckFailed("A streamed body is not logged with its size.",
                          sent="GET /static/big.bin, answered with a file streamed in pieces "
                          f"(response.chunks, response.length = {len(content)})",
                          expected=f'... "GET /static/big.bin HTTP/1.1" 200 {len(content)} 0.000s',
                          received="\n".join(records.lines()) or "(no line)",
                          meaning="A streamed response keeps its bytes in response.chunks, read as it is sent, "
                          "and its body is empty: len(response.body) is 0. Its size is response.length.")
    sent = b"".join(getattr(returned, "chunks", None) or [])
    if sent != content:
        raise CheckFailed("After logging, the streamed file is no longer whole.",
                          expected=f"response.chunks still to give all {len(content)} bytes",
                          received=f"{len(sent)} bytes",
                          meaning="response.chunks is read once, by the server as it sends the file. Reading it "
                          "to count the bytes leaves nothing to send: the size is response.length.")


@pytest.mark.task(4)
@pytest.mark.hint("Compare the token with hmac.compare_digest(given, expected), on bytes: it takes as long "
                  "whatever the input, so timing reveals nothing.", docs="#authentication")
def test_the_token_is_compared_in_constant_time(learner_module, make_request, monkeypatch):
    """The token check goes through hmac.compare_digest, never == or !="""
    seen = compare_digest_calls(monkeypatch)
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


# The token the auth checks below protect their paths with.
TOKEN = "test-token"


def auth_answer(auth, request, shown, sent):
    """before_request's answer, or a CheckFailed that says an exception is never the right answer."""
    try:
        return call(auth.before_request, request, shown=shown)
    except CheckFailed as failure:
        failure.sent = failure.sent or sent
        if failure.meaning is None and "raised" in failure.summary:
            failure.meaning = ("Whatever a client sends, it gets an answer: a header the code did not expect must "
                               "be a 401, not an exception (the server would answer 500, to anyone who tries).")
        raise


@pytest.mark.task(4)
@pytest.mark.hint("The scheme is case-insensitive: compare scheme.lower() with \"bearer\"; the token is "
                  "everything after the space(s) that follow it, and is compared exactly.", docs="#bearer-tokens")
def test_the_scheme_is_read_in_any_case(middleware_module, make_request):
    """The Bearer scheme is accepted in any case, and the token after one space or more"""
    auth = middleware_module.AuthMiddleware(TOKEN, exempt=())
    for value in (f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"bEaReR {TOKEN}", f"Bearer  {TOKEN}"):
        shown = f"before_request(GET /private, Authorization: {value})"
        answer = auth_answer(auth, make_request("GET", "/private", [("Authorization", value)]), shown,
                             sent=f"Authorization: {value}")
        if answer is not None:
            raise CheckFailed("The right token was refused.", sent=f"Authorization: {value}",
                              expected="None (let the request through)",
                              received=f"a response with status {seen(answer)}",
                              meaning="RFC 9110 (section 11.1): an authentication scheme's name is "
                              "case-insensitive, so bearer and BEARER are Bearer. RFC 6750 (section 2.1) puts one "
                              "space or more between the scheme and the token.")


@pytest.mark.task(4)
@pytest.mark.hint("Ask self.is_exempt(request.path) first, and return None when it says so. \"/static/*\" "
                  "covers every path below /static/; \"/\" is the home page alone.", docs="#exempt-paths")
def test_exempt_paths_need_no_token_and_only_they(middleware_module, make_request):
    """Exempt paths pass without a token, with a query string too; every other path needs it"""
    auth = middleware_module.AuthMiddleware(TOKEN, exempt=("/", "/health", "/static/*"))
    cases = [
        ("/", True), ("/health", True), ("/static/", True), ("/static/app.css", True), ("/static/img/a.png", True),
        ("/?from=home", True), ("/health?verbose=1", True), ("/static/app.js?v=2", True),
        ("/api/secret", False), ("/api/secret?/static/x", False), ("/healthz", False), ("/health/more", False),
        ("/statics/x", False),
        ("/api/static/x", False), ("/index.html", False),
    ]
    for path, exempt in cases:
        shown = f"before_request(GET {path}, no Authorization)"
        answer = auth_answer(auth, make_request("GET", path, []), shown, sent=f"GET {path}")
        if exempt and answer is not None:
            raise CheckFailed(f"{path} is exempt, but was refused without a token.",
                              sent=f"GET {path} (exempt: /, /health, /static/*)",
                              expected="None (let the request through)",
                              received=f"a response with status {seen(answer)}",
                              meaning="An exempt path needs no token: ask is_exempt(request.path) before "
                              "anything else. The path has no query string; request.target has it.")
        if not exempt and seen(answer) != 401:
            raise CheckFailed(f"{path} is not exempt, but went through without a token.",
                              sent=f"GET {path} (exempt: /, /health, /static/*)",
                              expected="a 401 response",
                              received="None (let through)" if answer is None else described(answer),
                              meaning="Only the listed paths are exempt: \"/health\" is that path alone, not "
                              "/healthz or /health/more, and \"/static/*\" is what starts with /static/. "
                              "Anything else would open the private API by accident.")


@pytest.mark.task(4)
@pytest.mark.hint("Every refusal is unauthorized(...), which sets WWW-Authenticate. Compare bytes with bytes: "
                  "given.strip().encode(\"utf-8\") with self.token; a str with a non-ASCII character makes "
                  "compare_digest raise TypeError.", docs="#comparing-in-constant-time")
def test_every_wrong_authorization_is_a_401(middleware_module, make_request):
    """Every wrong Authorization, odd bytes included, gets 401 with WWW-Authenticate, never an error"""
    auth = middleware_module.AuthMiddleware(TOKEN, exempt=())
    wrong = [
        (None, "no Authorization header"),
        (b"", "an empty Authorization header"),
        (b"Bearer", "the scheme with no token"),
        (f"Bearer{TOKEN}".encode(), "no space after the scheme"),
        (f"Basic {TOKEN}".encode(), "another scheme, with the right token"),
        (b"Bearer wrong-token", "a wrong token"),
        (f"Bearer {TOKEN.upper()}".encode(), "the token in capitals: a token is compared exactly"),
        (f"Bearer {TOKEN[:-1]}".encode(), "the token without its last character"),
        (f"Bearer {TOKEN} extra".encode(), "the token, a space and more"),
        (f"Bearer junk {TOKEN}".encode(), "a word, then the token: a bearer token holds no space"),
        (f"Bearer wrong, Bearer {TOKEN}".encode(), "two credentials in one field, the right token last"),
        (f"BearerX {TOKEN}".encode(), "another scheme that starts like Bearer, with the right token"),
        (f"XBearer {TOKEN}".encode(), "another scheme that ends like Bearer, with the right token"),
        (f"Bearer {TOKEN}\xe9".encode("utf-8"), "the token and a non-ASCII character, in UTF-8"),
        (b"Bearer caf\xc3\xa9", "a non-ASCII token in UTF-8: Bearer café"),
        (b"Bearer caf\xe9", "a non-ASCII token in Latin-1"),
    ]
    cases = [(value, why, "/private", [] if value is None else [("Authorization", value)]) for value, why in wrong]
    cases += [(None, "the right token in the query string, and no Authorization: a token in a URL ends up in "
               "logs and histories (RFC 6750, section 2.3)", f"/private?access_token={TOKEN}", []),
              (b"Bearer wrong", "two Authorization fields, the right token in the second",
               "/private", [("Authorization", b"Bearer wrong"), ("Authorization", f"Bearer {TOKEN}".encode())])]
    for value, why, target, headers in cases:
        shown_value = "(none)" if not headers else " / ".join(short(field) for _, field in headers)
        shown = f"before_request(GET {target}, Authorization: {shown_value})"
        answer = auth_answer(auth, make_request("GET", target, headers), shown,
                             sent=f"Authorization: {shown_value}" if headers else "no Authorization")
        challenge = getattr(getattr(answer, "headers", None), "get", lambda name: None)("WWW-Authenticate") or ""
        if seen(answer) != 401 or not challenge.lower().startswith("bearer"):
            raise CheckFailed(f"A request with {why} was not refused with 401 and WWW-Authenticate: Bearer.",
                              sent=f"Authorization: {shown_value}" if value is not None else "no Authorization",
                              expected='a 401 response with WWW-Authenticate: Bearer realm="byo-http"',
                              received="None (let through)" if answer is None
                              else f"status {seen(answer)}, WWW-Authenticate: {challenge or '(none)'}",
                              meaning="Only Bearer and the exact token go through. RFC 9110 (section 15.5.2): a "
                              "401 must carry WWW-Authenticate, to say how to authenticate.")
        no_credentials = not headers or value in (b"", b"Bearer") or not value.lower().startswith(b"bearer ")
        if no_credentials and "error=" in challenge:
            raise CheckFailed(f"The 401 for a request with {why} says error= in its challenge.",
                              sent=f"Authorization: {shown_value}" if headers else "no Authorization",
                              expected='WWW-Authenticate: Bearer realm="byo-http", with no error=',
                              received=f"WWW-Authenticate: {challenge}",
                              meaning="No bearer token was given, so none can be invalid: RFC 6750 (section 3.1) says "
                              "a server should not send an error code then. error=\"invalid_token\" is for a token "
                              "that was given and is wrong, and tells a client to get a new one.")
