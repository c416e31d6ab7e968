"""sessions — reading and writing cookies, and signing what goes in them (sessions.py), called directly.

The expected values come from RFC 6265 (cookies) and from Python's hmac, hashlib and base64
modules, which compute the same HMAC-SHA256 the learner's signature() must.
"""

import secrets

import pytest

from checks.report import CheckFailed
from checks.unit import call, short

# (Cookie header, what parse_cookie must find). RFC 6265 §4.2.1: pairs joined by "; ".
WELL_FORMED = [
    ("session=abc123", {"session": "abc123"}),
    ("theme=dark; session=abc123; lang=en", {"theme": "dark", "session": "abc123", "lang": "en"}),
    ("theme=dark;session=abc123", {"theme": "dark", "session": "abc123"}),
    ('theme="dark"; session=abc123', {"theme": "dark", "session": "abc123"}),
    ("token=YWJj==; session=abc.def", {"token": "YWJj==", "session": "abc.def"}),
    ("empty=; session=abc123", {"empty": "", "session": "abc123"}),
    ('quoted=""; XSRF-TOKEN=abcX; session=abc123', {"quoted": "", "XSRF-TOKEN": "abcX", "session": "abc123"}),
    ("  theme=dark ;  session=abc123  ", {"theme": "dark", "session": "abc123"}),
    ("", {}),
]

# (Cookie header, what parse_cookie must find): pairs that are not name=value, or whose name is not a token
# or value not cookie-octets (RFC 6265 §4.1.1), cost nothing but themselves; of two with one name, the first counts.
BAD_PAIRS = [
    ("flag; session=abc123", {"session": "abc123"}),
    ("session=abc123; flag", {"session": "abc123"}),
    ("=orphan; session=abc123", {"session": "abc123"}),
    ("session=abc123;; ;", {"session": "abc123"}),
    (";", {}),
    ("=", {}),
    ("session=abc123; session=planted", {"session": "abc123"}),
    ("my cookie=1; session=abc123", {"session": "abc123"}),
    ("note=a,b; session=abc123", {"session": "abc123"}),
    ('half="open; session=abc123', {"session": "abc123"}),
]

# Headers full of junk, in which the session cookie must still be found, whatever else is made of the rest.
JUNK = [
    "\x00; session=abc123",
    "session=abc123; ==; =;=",
    "a=b=c=d; session=abc123",
    "é=ü; session=abc123",
    "x" * 5000 + "; session=abc123",
]


def parsed(sessions_module, header):
    return call(sessions_module.parse_cookie, header, shown=f"parse_cookie({short(header)})")


def expect_cookies(sessions_module, cases, meaning):
    for header, expected in cases:
        got = parsed(sessions_module, header)
        if got != expected:
            raise CheckFailed(
                f"parse_cookie({short(header)}) is not right.",
                expected=repr(expected),
                received=repr(got),
                meaning=meaning,
            )


@pytest.mark.task(1)
@pytest.mark.hint("Split the header on \";\", strip spaces from each pair, partition it at the first \"=\", and "
                  "remove one pair of double quotes around a value.", docs="#reading-cookies")
def test_cookie_pairs_are_read_by_name(sessions_module):
    """parse_cookie() reads name=value pairs, with or without spaces, quoted values, "=" inside values"""
    expect_cookies(sessions_module, WELL_FORMED,
                   "A browser joins its cookies with \"; \" (RFC 6265, section 4.2.1). The value starts after the "
                   "first \"=\" and may hold more of them (base64 ends in \"=\"); a value in double quotes is the "
                   "text between them; an empty value is a value too (cookie-value = *cookie-octet).")


@pytest.mark.task(1)
@pytest.mark.hint("Skip a pair without \"=\", or whose name does not fullmatch TOKEN, or whose value (one pair of "
                  "double quotes removed) does not fullmatch COOKIE_VALUE; keep the first cookie of each name with "
                  "cookies.setdefault(name, value).", docs="#reading-cookies")
def test_a_bad_pair_is_skipped_and_the_first_of_a_name_wins(sessions_module):
    """parse_cookie() skips pairs that break RFC 6265's grammar, never raises, and keeps the first of two same names"""
    expect_cookies(sessions_module, BAD_PAIRS,
                   "The Cookie header carries every cookie of the site, some set by scripts or other programs: one "
                   "malformed pair must not cost the request its session (or the server a 500). A pair is "
                   "malformed without \"=\", with a name that is not a token (a space, a quote), or with a value "
                   "holding what a cookie may not (a space, a comma, an unmatched quote). Of two cookies with one "
                   "name, browsers send the one with the longer Path first: it is the one to keep.")
    for header in JUNK:
        got = parsed(sessions_module, header)
        if not isinstance(got, dict) or got.get("session") != "abc123":
            raise CheckFailed(
                f"parse_cookie({short(header)}) lost the session cookie among the junk.",
                expected="a dict in which session is 'abc123'",
                received=short(got, 200),
                meaning="Whatever the other pairs are, a well-formed pair is read.",
            )


def built(sessions_module, *args, **options):
    shown = ", ".join([*map(repr, args), *(f"{key}={value!r}" for key, value in options.items())])
    shown = f"set_cookie({shown})"
    value = call(sessions_module.set_cookie, *args, shown=shown, **options)
    if not isinstance(value, str):
        raise CheckFailed(f"{shown} returned {type(value).__name__}.", expected="a str: the value of a Set-Cookie "
                          "field", received=short(value, 200))
    return shown, value


# (arguments, options, attributes that must be there with their values, attributes that must not be there)
ATTRIBUTE_CASES = [
    (("session", "abc123"), {}, {"path": "/", "httponly": True, "samesite": "Lax"}, ("secure", "max-age", "expires")),
    (("session", "abc123"), {"secure": True}, {"secure": True, "httponly": True, "samesite": "Lax"}, ()),
    (("session", ""), {"max_age": 0}, {"max-age": "0", "path": "/"}, ()),
    (("theme", "dark"), {"max_age": 3600, "http_only": False}, {"max-age": "3600"}, ("httponly",)),
    (("prefs", "x"), {"path": "/account", "same_site": "Strict"}, {"path": "/account", "samesite": "Strict"}, ()),
    (("sid", "abc"), {"same_site": "None", "secure": True}, {"samesite": "None", "secure": True}, ()),
]


@pytest.mark.task(2)
@pytest.mark.hint("Start with f\"{name}={value}\", then append \"Path=...\", \"Max-Age=...\" (only when max_age "
                  "is not None), \"Secure\", \"HttpOnly\" and \"SameSite=...\" as asked; join them with \"; \".",
                  docs="#sending-cookies")
def test_set_cookie_writes_the_pair_and_the_attributes_asked_for(sessions_module, oracle):
    """set_cookie() starts with name=value and adds Path, Max-Age, Secure, HttpOnly and SameSite as asked"""
    for args, options, present, absent in ATTRIBUTE_CASES:
        shown, value = built(sessions_module, *args, **options)
        name, cookie_value, attributes = oracle.attributes_of(value)
        wrong = [key for key, wanted in present.items() if attributes.get(key) != wanted]
        extra = [key for key in absent if key in attributes]
        if (name, cookie_value) != args or wrong or extra:
            wanted = "; ".join([f"{args[0]}={args[1]}"] + [key if wanted is True else f"{key}={wanted}"
                                                          for key, wanted in present.items()])
            raise CheckFailed(
                f"{shown} is not right.",
                expected=f"{wanted} (attributes in any order, their names in any case)"
                         + (f", and no {' or '.join(absent)}" if absent else ""),
                received=repr(value),
                meaning="The first pair is the cookie; each attribute after it tells the browser how to keep it. "
                        "HttpOnly keeps it from scripts, SameSite=Lax keeps it off most requests other sites "
                        "start, Secure keeps it off plain http://, and without Max-Age it ends when the browser "
                        "closes.",
            )


# (name, value, options): each must raise ValueError.
REFUSED = [
    ("bad name", "x", {}), ("a;b", "x", {}), ("a=b", "x", {}), ("", "x", {}), ("café", "x", {}),
    ("sess\r\nion", "x", {}),
    ("session", "a b", {}), ("session", "a;b", {}), ("session", "a,b", {}), ("session", 'a"b', {}),
    ("session", "a\\b", {}), ("session", "café", {}),
    ("session", "x\r\nSet-Cookie: admin=1", {}),
    ("session", "x", {"path": "/; Domain=evil.example"}),
    ("session", "x", {"path": "/\r\nSet-Cookie: admin=1"}), ("session", "x", {"path": "/a\x00b"}),
    ("session", "x", {"path": "/a\x7fb"}),
    ("session", "x", {"max_age": "60; Domain=evil.example"}), ("session", "x", {"max_age": 1.5}),
    ("session", "x", {"max_age": -1}),
    ("session", "x", {"same_site": "None"}),
    ("session", "x", {"same_site": "Sometimes"}), ("session", "x", {"same_site": "none"}),
]


@pytest.mark.task(2)
@pytest.mark.hint("Check the name with a regular expression for an RFC 9110 token and the value for RFC 6265's "
                  "cookie-octets (printable ASCII but space, \", \",\", \";\" and \"\\\"); a path holds no \";\" "
                  "or control character; max_age is None or an int, 0 or more; SameSite=None needs secure=True.", docs="#sending-cookies")
def test_set_cookie_refuses_what_would_break_the_header(sessions_module, oracle):
    """set_cookie() raises ValueError for a name, value, path or max_age that would break the header, and for SameSite=None without Secure"""
    for name, value, options in REFUSED:
        shown = f"set_cookie({name!r}, {value!r}{''.join(f', {key}={arg!r}' for key, arg in options.items())})"
        try:
            returned = call(sessions_module.set_cookie, name, value, shown=shown, expected_errors=(ValueError,),
                            **options)
        except ValueError:
            continue
        raise CheckFailed(
            f"{shown} did not refuse.",
            expected="ValueError",
            received=f"it returned {returned!r}",
            meaning="A space, quote, comma, semicolon or backslash ends a cookie early or splits it; CR LF ends "
                    "the header and starts another (header injection: here, a cookie called admin); a path or "
                    "max_age with \";\" smuggles in an attribute. max_age is None or a whole number of seconds; same_site is \"Strict\", \"Lax\" or \"None\". Browsers drop SameSite=None without Secure. Refusing "
                    "to build such a field is the only safe answer.",
        )


    shown = "set_cookie('session', 'x', max_age=True)"
    try:
        returned = call(sessions_module.set_cookie, "session", "x", max_age=True, shown=shown,
                        expected_errors=(ValueError,))
    except ValueError:
        return
    age = oracle.attributes_of(returned)[2].get("max-age") if isinstance(returned, str) else None
    if not isinstance(age, str) or not age.isdigit():
        raise CheckFailed(
            f"{shown} wrote a Max-Age that is not a number.",
            expected="ValueError, or a Max-Age of digits",
            received=f"it returned {returned!r}",
            meaning="True is an int to Python (isinstance(True, int) holds), but Max-Age=True means nothing to a "
                    "browser: refuse a bool, or write it as a number.",
        )


def unsigned(sessions_module, oracle, signed):
    return call(sessions_module.unsign, signed, oracle.KEY, shown=f"unsign({short(signed)}, KEY)")


def altered(text, index):
    """``text`` with the character at ``index`` replaced by one whose base64 value differs in its top bits."""
    replacement = "z" if text[index] in "ABCDEFGHIJKLMNOP" else "A"
    return text[:index] + replacement + text[index + 1:]


@pytest.mark.task(3)
@pytest.mark.hint("signature(): base64.urlsafe_b64encode(hmac.new(key, value.encode(), hashlib.sha256).digest())"
                  ".rstrip(b\"=\").decode(). unsign(): signed.rpartition(\".\"); None when there is no dot or the "
                  "signature computed for the value differs from the one given.", docs="#signed-ids")
def test_a_signed_value_comes_back_only_untouched(sessions_module, oracle):
    """signature() is HMAC-SHA256 in URL-safe base64; unsign() returns the value only when not one character was changed"""
    for value in ("abc123", "", "a.b", "naïve"):
        got = call(sessions_module.signature, value, oracle.KEY, shown=f"signature({value!r}, KEY)")
        if got != oracle.signature(value):
            raise CheckFailed(
                f"signature({value!r}, KEY) is not right.",
                expected=repr(oracle.signature(value)),
                received=short(got, 200),
                meaning="HMAC-SHA256 of the value's UTF-8 bytes under the key, in URL-safe base64 (\"-\" and "
                        "\"_\", which a cookie may hold) without the \"=\" padding. Only who holds the key can "
                        "make it, and no one can undo it to find the key.",
            )
    session_id = secrets.token_urlsafe(32)
    for value in (session_id, "a.b.c", "abc"):
        signed = f"{value}.{oracle.signature(value)}"
        expect_unsigned(sessions_module, oracle, signed, value, "a value signed with KEY comes back whole, dots and all "
                        "(the signature is after the last dot)")
    signed = f"{session_id}.{oracle.signature(session_id)}"
    forged = [altered(signed, index) for index in range(len(signed) - 1) if signed[index] != "."]
    others = [
        (f"{session_id}.{oracle.signature(session_id, oracle.OTHER_KEY)}", "signed with another key"),
        (session_id, "no signature at all"), ("", "an empty string"), (".", "a lone dot"),
        (f"{session_id}.", "an empty signature"), (oracle.signature(""), "no dot: the signature of \"\" alone"), (f"{session_id}.é{oracle.signature(session_id)[1:]}", "non-ASCII"),
        (f"{signed}é", "a non-ASCII character after the signature"),
        (f"{signed[:-5]}\u2603{signed[-5:]}", "a non-ASCII character inside the signature"),
        (f"{signed}\udcff", "a lone surrogate after the signature"),
        (f"{session_id}.{oracle.signature(session_id)[:20]}", "half a signature"),
    ]
    for text, why in [(text, "one character changed") for text in forged] + others:
        expect_unsigned(sessions_module, oracle, text, None, f"{why}: whoever changed it does not have the key")


def expect_unsigned(sessions_module, oracle, signed, expected, why):
    got = unsigned(sessions_module, oracle, signed)
    if got != expected:
        raise CheckFailed(
            f"unsign({short(signed)}, KEY) is not right: {why}.",
            expected=repr(expected),
            received=short(got, 200),
            meaning="unsign() is the only thing between a forged cookie and the store: it returns the value when "
                    "its signature is the one signature() computes for it, and None for anything else.",
        )


@pytest.mark.task(3)
@pytest.mark.hint("Compare the signature you compute with the one given by hmac.compare_digest(given.encode(), "
                  "expected.encode()), never ==.", docs="#signed-ids")
def test_signatures_are_compared_in_constant_time(sessions_module, oracle, compare_digest_calls):
    """unsign() compares signatures with hmac.compare_digest, so its time tells nothing of a forged one"""
    compared = compare_digest_calls
    signed = oracle.signed("abc123")
    for text in (signed, altered(signed, 10)):
        unsigned(sessions_module, oracle, text)
        if not compared:
            raise CheckFailed(
                f"unsign({short(text)}, KEY) did not call hmac.compare_digest.",
                expected="the two signatures compared with hmac.compare_digest",
                received="no call to it",
                meaning="== stops at the first character that differs, so it takes longer the more of a forged "
                        "signature is right; measured over many tries, that time spells the signature out one "
                        "character at a time. hmac.compare_digest takes as long whatever matches.",
            )
        compared.clear()
