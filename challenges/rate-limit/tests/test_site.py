"""rate-limit — the finished site, over real connections.

Each check starts the learner's server with the token "test-token" and quotas small enough to spend
in a few requests and slow enough (one token every 20 minutes or more) that none comes back while
the check runs: the real clock may run as it likes, no check sleeps. Answers are read by h11, a
strict HTTP/1.1 parser, or by requests.
"""

import shutil
import threading

import http_sfv
import pytest

from checks.expect import expect_response
from checks.report import CheckFailed
from checks.wire import exchange, fetch

TOKEN = "test-token"


@pytest.fixture
def start_site(start_server, step, tmp_path):
    """``start_site(default=(3, 3600))``: the demo site with those quotas, serving a copy of the extension's static/."""
    folder = tmp_path / "static"
    shutil.copytree(step.folder / "static", folder)

    def start(**quotas):
        quotas = {name: list(quota) for name, quota in quotas.items()}
        return start_server({"app": {"token": TOKEN, "static_root": str(folder), "quotas": quotas}})

    return start


def request(path, *headers):
    lines = "".join(f"{header}\r\n" for header in headers)
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


def remaining_in(value):
    """The r= of a RateLimit field value, or None when it cannot be read."""
    field = http_sfv.List()
    try:
        field.parse((value or "").encode("ascii"))
        return list(field)[0].params.get("r")
    except (ValueError, UnicodeEncodeError, IndexError):
        return None


def client_key_tells_the_token_apart(ratelimit_module, make_request):
    """Whether the learner's client_key(), asked in this process, keys a request with the token apart from one without."""
    try:
        middleware = ratelimit_module.RateLimitMiddleware([], tokens=[TOKEN])
        with_token = middleware.client_key(make_request(client="127.0.0.1", token=TOKEN))
        without = middleware.client_key(make_request(client="127.0.0.1"))
    except Exception:  # a client_key() that fails is TODO 3's own check's to report
        return False
    return with_token != without


def spend(site, path, count, *headers):
    """``count`` GETs of ``path`` that must each be answered 200; returns the last exchange's response."""
    for number in range(count):
        result = exchange(site, request(path, *headers))
        response = expect_response(result, 200, f"200 OK: request {number + 1} of {count} is within the quota")
        left = remaining_in(response.header("ratelimit"))
        if left != count - number - 1:
            raise result.fail(
                f"Request {number + 1} of {count} says RateLimit: {response.header('ratelimit')}.",
                f"RateLimit with r={count - number - 1}: the tokens left after this request",
                meaning="Every answer on a limited path tells the client where it stands.",
                todo=7,
            )
    return response


@pytest.mark.task(6, needs=(1, 2, 4, 5, 7))
@pytest.mark.hint("Past the quota, before_request returns error_response(HTTPStatus.TOO_MANY_REQUESTS, ...) with "
                  "Retry-After; the response still goes through the afters, so the Pipeline's other middlewares "
                  "and your after_request add their fields to it.", docs="#too-many-requests")
def test_the_site_answers_429_past_the_quota(start_site):
    """Three requests of a quota of 3 get 200; the fourth gets a 429 that h11 reads, with Retry-After and the fields"""
    site = start_site(default=(3, 3600))  # a token every 1200 s
    spend(site, "/api/data", 3)
    result = exchange(site, request("/api/data"))
    what = '429 Too Many Requests, Retry-After: 1200 (or a second less), RateLimit: "default";r=0;t= the same'
    response = expect_response(result, 429, what)
    retry = response.header("retry-after") or ""
    if not retry.isdigit() or not 1190 <= int(retry) <= 1200:
        raise result.fail(f"The 429 says Retry-After: {retry or '(nothing)'}.", what,
                          meaning="A quota of 3 an hour gives a token every 1200 s; Retry-After is that wait in "
                                  "whole seconds, rounded up.")
    if remaining_in(response.header("ratelimit")) != 0 or response.header("ratelimit-policy") is None:
        raise result.fail("The 429 does not say where the client stands.", what, todo=7,
                          meaning="The refusal carries RateLimit-Policy and RateLimit too: r=0, and t= the "
                                  "seconds until the next token, as Retry-After says.")


@pytest.mark.task(6, needs=(1, 2, 4, 5, 7))
@pytest.mark.hint("Each policy has its own bucket per client: static files count against \"static\", not "
                  "\"default\", and /health has no policy at all (policy_for returns None: let it through).",
                  docs="#too-many-requests")
def test_static_files_and_health_are_not_starved(start_site):
    """A client that spent its quota on the API still gets the site's static files, and /health always answers"""
    site = start_site(default=(2, 3600), static=(3, 3600))
    spend(site, "/api/data", 2)
    refused = exchange(site, request("/api/data"))
    expect_response(refused, 429, "429: the API quota of 2 is spent")
    spend(site, "/static/style.css", 3)
    for number in range(5):
        result = exchange(site, request("/health"))
        response = expect_response(result, 200, "200 OK: /health is never limited, so a monitor always sees the site")
        if response.header("ratelimit") is not None:
            raise result.fail("/health carries a RateLimit field.", "no rate-limit fields: /health has no quota",
                              todo=7)


@pytest.mark.task(3, needs=(1, 2, 4, 5, 6, 7))
@pytest.mark.hint("client_key: a Bearer token equal to one of self.tokens (hmac.compare_digest) is the client; a "
                  "token you do not know counts as the address, so it meets the address's empty bucket: 429.",
                  docs="#who-is-asking")
def test_a_known_token_has_a_quota_of_its_own(start_site, ratelimit_module, make_request):
    """With the address's quota spent, the real token still gets in, and a made-up one gets 429, not a fresh quota"""
    site = start_site(default=(2, 3600))
    spend(site, "/api/data", 2)
    refused = exchange(site, request("/api/data"))
    if refused.response("429 Too Many Requests: the address's quota of 2 is spent").status != 429:
        raise refused.fail("The third request of a quota of 2 was not refused with 429.",
                           "429 Too Many Requests", todo=6)
    known = exchange(site, request("/api/private", f"Authorization: Bearer {TOKEN}"))
    what = "200 OK: a known token is a client of its own, with its own quota"
    if known.response(what).status == 429 and client_key_tells_the_token_apart(ratelimit_module, make_request):
        raise known.fail("The token's own quota was refused, though client_key() tells the token apart.", what,
                         meaning="Asked directly, your client_key() gives the token a key of its own; so "
                                 "before_request() must be keying the bucket some other way. Give buckets.take() "
                                 "(policy.name, *self.client_key(request)).", todo=6)
    expect_response(known, 200, what)
    guessed = exchange(site, request("/api/private", "Authorization: Bearer made-up-token"))
    expect_response(guessed, 429, "429: a made-up token counts as its address, whose quota is spent (not a fresh "
                                  "quota, and not a 401 that lets a guesser keep guessing)")


@pytest.mark.task(6, needs=(1, 2, 4, 5, 7))
@pytest.mark.hint("Each connection has its own thread, and they all share one RateLimitMiddleware: each request "
                  "takes one token, through Buckets.take() and its lock, and is refused only when none is left.",
                  docs="#too-many-requests")
def test_simultaneous_connections_get_exactly_the_quota(start_site):
    """40 connections at once, with a quota of 20: exactly 20 answers are 200 and 20 are 429"""
    site = start_site(default=(20, 3600))
    start = threading.Barrier(40)
    statuses = []
    failures = []

    def client():
        try:
            start.wait()
            statuses.append(fetch(site, "GET", "/api/data").status_code)
        except CheckFailed as failure:
            failures.append(failure)

    clients = [threading.Thread(target=client) for _ in range(40)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join()
    if failures:
        raise failures[0]
    counts = {status: statuses.count(status) for status in sorted(set(statuses))}
    others = {status: count for status, count in counts.items() if status not in (200, 429)}
    if others:
        raise CheckFailed(
            "Some of 40 requests at once got neither 200 nor 429.",
            sent="40 GET /api/data, each on its own connection, all at once",
            expected="200: 20, 429: 20",
            received=", ".join(f"{status}: {count}" for status, count in counts.items()),
            meaning="A 500 is an error in the server's code, not a quota: its traceback is in the server's "
                    "output below, and another check probably shows the same error with fewer requests.",
            server_output=site.output(),
        )
    if counts != {200: 20, 429: 20}:
        raise CheckFailed(
            "40 requests at once with a quota of 20 did not get exactly 20 × 200 and 20 × 429.",
            sent="40 GET /api/data, each on its own connection, all at once",
            expected="200: 20, 429: 20",
            received=", ".join(f"{status}: {count}" for status, count in counts.items()),
            meaning="Every connection's thread takes from the same bucket: without a lock, two can take the same "
                    "token.",
            server_output=site.output(),
        )
