"""rate-limit — RateLimitMiddleware (ratelimit.py), called directly with requests made for the checks.

The middleware gets the demo site's limits (conftest.py): "/health" never limited, "/static/*" a
quota of 6 over 8 s, every other path 4 over 8 s (half a token a second), and a clock the checks
move by hand. Its fields are read with http_sfv, a parser of HTTP Structured Fields (RFC 9651),
as any client of the RateLimit draft would read them.
"""


import http_sfv
import pytest
from http_sfv.types import Token

from checks.report import CheckFailed
from checks.unit import call, compare_digest_calls, expect_equal

TOKEN = "test-token"


def status_of(answer):
    return None if answer is None else int(answer.status)


def ask(middleware, request, shown):
    """What before_request answers: a response, or None to let the request through."""
    return call(middleware.before_request, request, shown=f"before_request({shown})")


def let_through(middleware, make_request, count, shown, **request_options):
    for number in range(count):
        answer = ask(middleware, make_request(**request_options), shown)
        if answer is not None:
            raise CheckFailed(
                f"before_request({shown}) answered {status_of(answer)} to request {number + 1} of {count}.",
                expected=f"None (let through) for each of the first {count}: the quota allows a burst of that many",
                received=f"a response with status {status_of(answer)}",
                meaning="A client within its quota goes on to the handler: before_request returns None.",
            )


def expect_429(answer, shown, retry_after, why):
    if status_of(answer) != 429:
        raise CheckFailed(
            f"before_request({shown}) let a client past its quota through.",
            expected=f"a 429 Too Many Requests response with Retry-After: {retry_after}",
            received="None" if answer is None else f"a response with status {status_of(answer)}",
            meaning=why,
        )
    expect_equal(f"the 429's Retry-After for {shown}", answer.headers.get("Retry-After"), str(retry_after),
                 meaning="Retry-After says, in whole seconds, when the next token comes (RFC 9110, section "
                         "10.2.3; RFC 6585 for 429): a well-behaved client waits that long, and no longer.")


@pytest.mark.task(3)
@pytest.mark.hint("Split Authorization at the first space; when the scheme is bearer (any case) and the rest, "
                  "stripped, equals one of self.tokens by hmac.compare_digest, the client is that token; in every "
                  "other case it is request.client, the address.", docs="#who-is-asking")
def test_a_client_is_its_token_if_known_else_its_address(limiter, make_request, monkeypatch, ratelimit_module):
    """client_key() names the client by a known token wherever it comes from, else by its address"""
    compared = compare_digest_calls(monkeypatch, ratelimit_module)
    middleware = limiter(tokens=[TOKEN, "another-token"])

    asked = []

    def key(shown, **options):
        got = call(middleware.client_key, make_request(**options), shown=f"client_key({shown})")
        asked.append((shown, repr(got)))
        return got

    alone = key("192.0.2.7, no token", client="192.0.2.7")
    other = key("198.51.100.9, no token", client="198.51.100.9")
    token_here = key("192.0.2.7 with the token", client="192.0.2.7", token=TOKEN)
    token_there = key("198.51.100.9 with the token", client="198.51.100.9", token=TOKEN)
    lower = key("198.51.100.9, 'bearer' in lower case", client="198.51.100.9", token=TOKEN, scheme="bearer")
    second = key("192.0.2.7 with another known token", client="192.0.2.7", token="another-token")
    made_up = key("192.0.2.7 with a made-up token", client="192.0.2.7", token="guess-123")
    basic = key("192.0.2.7 with 'Basic <the token>'", client="192.0.2.7", token=TOKEN, scheme="Basic")
    shouted = key("192.0.2.7 with the token in capitals", client="192.0.2.7", token=TOKEN.upper())
    accented = key("192.0.2.7 with a made-up token, 'café'", client="192.0.2.7", token="café")
    forwarded = key("192.0.2.7, saying X-Forwarded-For: 198.51.100.9", client="192.0.2.7",
                    headers=[("X-Forwarded-For", "198.51.100.9")])
    try:
        hash(alone)
    except TypeError:
        raise CheckFailed("client_key() returned something that cannot be a dictionary key.",
                          received=repr(alone), expected="a tuple or a string") from None
    pairs = [
        (alone != other, "two addresses without a token are two clients", alone, other),
        (token_here == token_there, "one known token is one client, whatever address it comes from", token_here,
         token_there),
        (token_here != alone, "a known token is a client of its own, apart from its address", token_here, alone),
        (lower == token_here, "the scheme is case-insensitive (RFC 9110, section 11.1): bearer is Bearer", lower,
         token_here),
        (second != token_here, "two known tokens are two clients", second, token_here),
        (made_up == alone, "a token we do not know is no identity: it counts as its address, or each made-up "
                           "token would get a fresh bucket", made_up, alone),
        (basic == alone, "only a Bearer token names a client", basic, alone),
        (shouted == alone, "the token itself is compared exactly: TEST-TOKEN is not test-token, so it is a made-up "
                           "one and counts as its address", shouted, alone),
        (accented == alone, "a made-up token is its address, whatever its letters: compare bytes, as step 5 does "
                            "(hmac.compare_digest refuses a str that is not ASCII)", accented, alone),
        (forwarded == alone, "X-Forwarded-For is written by the client, who may write any address in it: without a "
                             "proxy of our own in front, the client is the connection's address", forwarded, alone),
    ]
    for holds, why, first, then in pairs:
        if not holds:
            raise CheckFailed(
                "client_key() does not tell clients apart as it should.",
                sent="\n".join(f"client_key({name}) returned {shown_as}" for name, shown_as in asked),
                expected=why,
                received=f"{first!r} and {then!r}",
                meaning="Requests that share a key share a bucket: the key decides who pays for what.",
            )
    if not any(TOKEN.encode() in (side if isinstance(side, bytes) else str(side).encode()) for pair in compared
               for side in pair):
        raise CheckFailed(
            "The token was not compared with hmac.compare_digest.",
            expected="client_key() to compare the given token with each known one by hmac.compare_digest(given, token)",
            received=f"{len(compared)} calls of compare_digest with the token",
            meaning="== stops at the first character that differs, so how long it takes tells a guesser how much of "
                    "a guess was right. compare_digest takes as long whatever it is given.",
        )


@pytest.mark.task(6, needs=(1, 2, 4, 5))
@pytest.mark.hint("policy = self.policy_for(request.path); None lets the request through. Else verdict = "
                  "self.buckets.take((policy.name, *self.client_key(request)), policy, self.clock()); keep "
                  "(policy, verdict) as request.rate_limit; when not verdict.allowed return a 429 "
                  "(error_response) with Retry-After: verdict.reset, the seconds until the next token.", docs="#too-many-requests")
def test_a_client_past_its_quota_gets_429_with_retry_after(limiter, make_request, clock):
    """before_request lets a burst of the quota through, then answers 429 with Retry-After until a token comes"""
    middleware = limiter()
    first = make_request()
    if ask(middleware, first, "GET /api/data, the 1st") is not None:
        raise CheckFailed("before_request refused the first request of a new client.",
                          expected="None: a new client has a full bucket of 4", received="a response")
    kept = getattr(first, "rate_limit", None)
    if not (isinstance(kept, tuple) and len(kept) == 2 and getattr(kept[0], "name", None) == "default"
            and tuple(kept[1]) == (True, 3, 2)):
        raise CheckFailed(
            "before_request let the 1st request through without keeping its verdict on the request.",
            expected="request.rate_limit = (the default Policy, Verdict(allowed=True, remaining=3, reset=2))",
            received=f"request.rate_limit = {kept!r}",
            meaning="after_request() reads request.rate_limit to tell every client where it stands: keep "
                    "(policy, verdict) on every limited request, allowed or refused.",
        )
    let_through(middleware, make_request, 3, "GET /api/data")
    fifth = make_request()
    answer = ask(middleware, fifth, "GET /api/data")
    expect_429(answer, "GET /api/data, the 5th at once", 2,
               "The quota is 4 at once; a token comes every 2 s (4 tokens over 8 s).")
    kept = getattr(fifth, "rate_limit", None)
    if not (isinstance(kept, tuple) and len(kept) == 2 and getattr(kept[0], "name", None) == "default"
            and tuple(kept[1])[:2] == (False, 0)):
        raise CheckFailed(
            "before_request refused the 5th request without keeping its verdict on the request.",
            expected="request.rate_limit = (the default Policy, its Verdict: allowed False, remaining 0, ...)",
            received=f"request.rate_limit = {kept!r}",
            meaning="after_request() reads request.rate_limit to tell the client where it stands, and a refused "
                    "client needs that most: keep (policy, verdict) on every limited request, refused or not.",
        )
    clock.now += 1
    answer = ask(middleware, make_request(), "GET /api/data")
    expect_429(answer, "GET /api/data, 1 s later", 1,
               "Half a token has come back in 1 s: the next whole one is 1 s away. Use self.clock, the clock "
               "the middleware was given, not time.monotonic() itself.")
    clock.now += 1
    answer = ask(middleware, make_request(), "GET /api/data, 2 s after the burst")
    if answer is not None:
        raise CheckFailed(
            "before_request refused a client whose bucket has refilled a token.",
            expected="None: 2 s after the burst, one token has come back",
            received=f"a response with status {status_of(answer)}",
            meaning="Read the time from self.clock(): the checks move it by hand.",
        )


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5))
@pytest.mark.hint("policy_for(request.path), the path without its query, chooses: None for /health (never limited), "
                  "the static policy under "
                  "/static/, the default one elsewhere; each policy has its own bucket for each client, so the key "
                  "you give buckets.take() is the policy's name and self.client_key(request).",
                  docs="#too-many-requests")
def test_one_noisy_client_starves_nobody(limiter, make_request):
    """A client past its quota is limited alone: other clients, a known token, its static files and /health get through"""
    middleware = limiter(tokens=[TOKEN])
    let_through(middleware, make_request, 4, "GET /api/data from 192.0.2.7")
    answer = ask(middleware, make_request(), "GET /api/data from 192.0.2.7")
    expect_429(answer, "GET /api/data from 192.0.2.7, the 5th", 2, "Its quota is spent.")
    let_through(middleware, make_request, 4, "GET /api/data from 198.51.100.9, another client",
                client="198.51.100.9")
    let_through(middleware, make_request, 4, "GET /api/data from 192.0.2.7 with the token, a client of its own",
                token=TOKEN)
    let_through(middleware, make_request, 6, "GET /static/style.css from 192.0.2.7",
                path="/static/style.css")
    let_through(middleware, make_request, 25, "GET /health from 192.0.2.7", path="/health")
    let_through(middleware, make_request, 25, "GET /health?full=1 from 192.0.2.7 (a path with a query)",
                path="/health", query="full=1")
    answer = ask(middleware, make_request(path="/static/logo.png"), "GET /static/logo.png, the 7th static file")
    expect_429(answer, "GET /static/logo.png, the 7th static file", 2,
               "Static files have their own quota (6 over 8 s): spending it is refused too.")


def read_fields(response, shown):
    """(RateLimit-Policy, RateLimit) of ``response`` as parsed Structured Field lists."""
    parsed = []
    for name in ("RateLimit-Policy", "RateLimit"):
        value = response.headers.get(name)
        if value is None:
            raise CheckFailed(f"The {name} field is missing after {shown}.",
                              expected=f"{name} on every answer to a limited path",
                              received="no such field" + (f" (status {response.status})" if response else ""),
                              meaning="Clients read these fields to slow down before they are refused.")
        field = http_sfv.List()
        try:
            field.parse(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError) as problem:
            raise CheckFailed(f"The {name} field is not a valid Structured Field list.",
                              expected='e.g. "default";q=4;w=8 (a quoted name, then ;key=integer parameters)',
                              received=f"{name}: {value}  ({problem})",
                              meaning="The draft defines both fields as Structured Field Lists (RFC 9651): the "
                                      "policy's name is a quoted String, its parameters Integers.") from None
        parsed.append((value, field))
    return parsed


def expect_fields(response, shown, name, quota, window, remaining, reset):
    (policy_text, policy_field), (limit_text, limit_field) = read_fields(response, shown)
    for text, field, label, wanted in [
        (policy_text, policy_field, "RateLimit-Policy", {"q": quota, "w": window}),
        (limit_text, limit_field, "RateLimit", {"r": remaining, "t": reset}),
    ]:
        members = list(field)
        got = (members[0].value, {key: members[0].params.get(key) for key in wanted}) if len(members) == 1 else None
        expected_text = f'"{name}";' + ";".join(f"{key}={value}" for key, value in wanted.items())
        if got != (name, wanted) or isinstance(members[0].value, Token):  # a bare name is a Token, not a String
            raise CheckFailed(
                f"The {label} field after {shown} is not right.",
                expected=f"{label}: {expected_text}",
                received=f"{label}: {text}",
                meaning={
                    "RateLimit-Policy": "The policy: its name (a quoted string), q= its quota, w= its window in "
                                        "seconds.",
                    "RateLimit": "Where this client stands after this request: r= whole tokens left, t= seconds "
                                 "until one more is there (draft -10: until more quota is made available; on a "
                                 "429, the same as Retry-After).",
                }[label],
            )


@pytest.mark.task(7)
@pytest.mark.hint('On every response whose request has a rate_limit (policy, verdict), 429s included: '
                  'RateLimit-Policy: "{name}";q={capacity};w={window} and RateLimit: "{name}";r={remaining};'
                  't={reset}, where reset is the seconds until one more whole token. A request of an unlimited '
                  'path has no rate_limit: leave its response alone, and return the response in every case.',
                  docs="#telling-clients-where-they-stand")
def test_every_limited_answer_says_where_the_client_stands(limiter, make_request, response_module, ratelimit_module):
    """after_request adds RateLimit-Policy and RateLimit to each limited answer, the 429 too, and to nothing else"""
    middleware = limiter()
    Policy, Verdict = ratelimit_module.Policy, ratelimit_module.Verdict
    default, static = Policy("default", 4, 8), Policy("static", 6, 8)
    # What before_request (TODO 6) keeps on each request, made here by hand, so that this check is about after_request.
    cases = [
        ("/api/data", (default, Verdict(True, 3, 2)), 200, "a 200 with 3 tokens left, the next in 2 s", 3, 2),
        ("/api/data", (default, Verdict(True, 1, 1)), 404, "a 404, which spent a token too", 1, 1),
        ("/api/data", (default, Verdict(False, 0, 1)), 429, "the 429 of a refused request", 0, 1),
        ("/static/a.css", (static, Verdict(True, 5, 2)), 200, "a static file, under its own policy", 5, 2),
    ]
    for path, limited, status, what, remaining, reset in cases:
        request = make_request(path=path)
        request.rate_limit = limited
        response = response_module.HTTPResponse(status, b"{}")
        shown = f"after_request(GET {path}, a {status} response)"
        returned = call(middleware.after_request, request, response, shown=shown)
        if returned is not response:
            raise CheckFailed(f"{shown} did not return the response it was given.",
                              expected="the same response, with the two fields added",
                              received=repr(returned),
                              meaning="The Pipeline sends what after_request returns: return the response.")
        policy, verdict = limited
        expect_fields(response, f"{what} (request.rate_limit = ({policy.name!r} policy, {tuple(verdict)}))",
                      policy.name, policy.capacity, policy.window, remaining, reset)
    health = response_module.HTTPResponse(200, b"ok")
    returned = call(middleware.after_request, make_request(path="/health"), health,
                    shown="after_request(GET /health, a 200 response)")
    present = [name for name in ("RateLimit-Policy", "RateLimit") if name in health.headers]
    if returned is not health or present:
        raise CheckFailed(
            "The answer to /health, which is never limited, is not left alone.",
            expected="the same response back, with no RateLimit-Policy and no RateLimit (its request has no "
                     "rate_limit)",
            received=", ".join(f"{name}: {health.headers.get(name)}" for name in present) or repr(returned),
            meaning="These fields describe a quota; a path with none has nothing to describe.",
        )
