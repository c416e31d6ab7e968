"""caching — conditional requests: If-Match, If-Unmodified-Since and If-Range, called directly.

The checks call your precondition_failed() and if_range_matches() (static.py) with requests made
for them, in a time zone 5 h 45 min ahead of GMT. The checks of the order RFC 9110 gives them
(section 13.2.2), over real connections, are in test_ranges.py, after those of the 206.
"""

import time
from email.utils import formatdate

import pytest

from checks.report import CheckFailed
from checks.unit import call

# The ETag and modification time the functions are given.
ETAG = '"5f3a9c1e-2a"'
MTIME = 1614834367.891  # 2021-03-04 05:06:07.891 GMT
SAME_SECOND = "Thu, 04 Mar 2021 05:06:07 GMT"  # Last-Modified for MTIME: whole seconds
SECOND_BEFORE = "Thu, 04 Mar 2021 05:06:06 GMT"
SECOND_AFTER = "Thu, 04 Mar 2021 05:06:08 GMT"
# Tags that are not ETAG, though they look like it or hold it.
NEAR_MISSES = ['"5f3a9c1e-2a0"', '"x5f3a9c1e-2a"', '"5F3A9C1E-2A"', '5f3a9c1e-2a', '"*"', '""']


def ask(static_module, request_module, function, fields):
    """``function(request, ETAG, MTIME)`` for a request with ``fields``; what was sent, as text, and the answer."""
    headers = request_module.Headers([("Host", "x"), *fields])
    request = request_module.HTTPRequest("GET", "/static/file.txt", "HTTP/1.1", headers, b"", "/static/file.txt", {})
    sent = "".join(f"{name}: {value}\n" for name, value in fields) or "(no conditional headers)\n"
    shown = f"{function}(request, {ETAG!r}, {MTIME!r})"
    try:
        return sent + f"then {shown}", call(getattr(static_module, function), request, ETAG, MTIME, shown=shown)
    except CheckFailed as failure:
        failure.sent = sent + f"then {shown}"
        if failure.meaning is None:
            failure.meaning = "A header the client sent must never crash the handler (that is a 500): a value " \
                              "you cannot use is ignored."
        raise


def expect_answer(static_module, request_module, function, fields, expected, why, meaning):
    sent, got = ask(static_module, request_module, function, fields)
    if bool(got) != expected:
        raise CheckFailed(f"{function}() says {got!r} for these fields.", sent=sent,
                          expected=f"{expected}: {why}", received=repr(got), meaning=meaning)


IF_MATCH_MEANING = ("If-Match holds * or a list of ETags, separated by commas with optional spaces. It is "
                    "compared strongly (RFC 9110, section 8.8.3.2): a tag marked weak, W/\"...\", matches nothing, "
                    "because the client is about to rely on exact bytes. No match means 412.")


@pytest.mark.task(3)
@pytest.mark.hint("tags = [tag.strip() for tag in value.split(\",\")]; failed unless \"*\" in tags or etag in "
                  "tags (W/ plus the tag is not the tag). When If-Match is there, it decides alone: "
                  "If-Unmodified-Since is then ignored.", docs="#if-match-and-if-unmodified-since")
def test_if_match_compares_strongly(static_module, request_module):
    """precondition_failed: If-Match fails unless it holds * or this very ETag, strongly; it overrules If-Unmodified-Since"""
    cases = [
        ([("If-Match", ETAG)], False, "the tag is this file's ETag"),
        ([("If-Match", "*")], False, "* matches any file that exists"),
        ([("If-Match", f'"a", {ETAG}')], False, "the list holds the ETag"),
        ([("If-Match", f'"a",{ETAG},"b"')], False, "the list holds the ETag, without spaces"),
        ([("If-Match", f'"a" ,\t{ETAG}')], False, "spaces and tabs around the commas are allowed"),
        ([("If-Match", f"W/{ETAG}")], True, "a weak tag never matches in If-Match: the comparison is strong"),
        ([("If-Match", f'"a", W/{ETAG}')], True, "the only tag that names this version is weak"),
        ([("If-Match", '"nope"')], True, "another version's tag"),
        ([("If-Match", ", ".join(NEAR_MISSES))], True, "none of these tags is exactly the ETag, quotes included"),
        ([("If-Match", '"*"')], True, "\"*\" in quotes is a tag like any other; only a bare * matches any file"),
        ([("If-Match", ETAG), ("If-Unmodified-Since", SECOND_BEFORE)], False,
         "If-Match matches, and If-Unmodified-Since must then be ignored (RFC 9110, section 13.1.4)"),
        ([("If-Match", '"nope"'), ("If-Unmodified-Since", SECOND_AFTER)], True,
         "If-Match does not match: If-Unmodified-Since cannot save it"),
        ([], False, "no condition at all"),
    ]
    for fields, expected, why in cases:
        expect_answer(static_module, request_module, "precondition_failed", fields, expected, why, IF_MATCH_MEANING)


DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def asctime(seconds):
    """The asctime form of an HTTP date (RFC 9110, section 5.6.7): no zone, the day padded with a space.

    Written out by hand: strftime's names for days and months follow the machine's locale.
    """
    moment = time.gmtime(seconds)
    return (f"{DAYS[moment.tm_wday]} {MONTHS[moment.tm_mon - 1]} {moment.tm_mday:2d} "
            f"{moment.tm_hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d} {moment.tm_year}")


@pytest.mark.task(3)
@pytest.mark.hint("since = http_date_seconds(value); None (not a date) means no condition: False. Otherwise "
                  "failed when int(mtime) > since: the file changed after that date, in whole seconds.",
                  docs="#if-match-and-if-unmodified-since")
def test_if_unmodified_since_is_a_date_the_file_must_not_have_passed(static_module, request_module,
                                                                     local_time_is_not_gmt):
    """precondition_failed: If-Unmodified-Since fails when the file changed after that date, in whole seconds; no date is ignored"""
    cases = [
        (SAME_SECOND, False, "the file changed at 05:06:07.891: within that second, not after it (whole seconds)"),
        (SECOND_BEFORE, True, "the file changed a second after that date"),
        (SECOND_AFTER, False, "the file has not changed since"),
        (formatdate(MTIME + 86400, usegmt=True), False, "a day later: not changed since"),
        (formatdate(0, usegmt=True), True, "1970: the file changed since"),
        ("Thursday, 04-Mar-21 05:06:06 GMT", True, "RFC 850 form, a second before"),
        (asctime(MTIME - 1), True, "asctime form, a second before (it has no zone: every HTTP date is GMT)"),
        (asctime(MTIME), False, "asctime form, the same second (no zone: GMT, not local time)"),
        ("yesterday", False, "not a date: the condition is ignored (RFC 9110, section 13.1.4)"),
        ("", False, "an empty value is no date: ignored"),
        ("Wed, 25 Nov 99999999999 16:40:36 GMT", False, "a year too large is no date: ignored"),
        (f"{SECOND_BEFORE}, {SECOND_BEFORE}", False, "a list of dates is no date: ignored"),
    ]
    for value, expected, why in cases:
        expect_answer(static_module, request_module, "precondition_failed", [("If-Unmodified-Since", value)],
                      expected, why, "If-Unmodified-Since says: send it only if the file has not changed since "
                      "this date. Dates have whole seconds, so compare int(mtime); a value that is not a date "
                      "is ignored, never a 412 and never a 500.")


@pytest.mark.task(6)
@pytest.mark.hint("No If-Range: True. A value that starts with \" or W/ is an ETag: True only when it equals "
                  "etag exactly (a weak one never does). Else a date: True only when http_date_seconds(value) "
                  "== int(mtime).", docs="#if-range")
def test_if_range_names_this_very_version(static_module, request_module):
    """if_range_matches: only the file's own strong ETag, or its exact Last-Modified, lets the Range through"""
    cases = [
        ([], True, "no If-Range: the Range stands"),
        ([("If-Range", ETAG)], True, "the client's part came from this very version"),
        ([("If-Range", f"W/{ETAG}")], False, "a weak tag never matches: the parts must be the same bytes"),
        ([("If-Range", '"nope"')], False, "another version: the client's first part belongs to it"),
        ([("If-Range", '"5f3a9c1e-2a0"')], False, "almost the ETag is another ETag"),
        ([("If-Range", SAME_SECOND)], True, "the file's own Last-Modified"),
        ([("If-Range", SECOND_AFTER)], False,
         "a second later is not the Last-Modified: If-Range matches exactly, unlike If-Modified-Since"),
        ([("If-Range", SECOND_BEFORE)], False, "a second earlier: the file changed since the client's part"),
        ([("If-Range", "yesterday")], False, "neither an ETag nor a date: it names no version"),
        ([("If-Range", "*")], False, "* is no validator"),
    ]
    for fields, expected, why in cases:
        expect_answer(static_module, request_module, "if_range_matches", fields, expected, why,
                      "If-Range says: send the part I ask for if the file is still this version, else all of it "
                      "(RFC 9110, section 13.1.5). Gluing a part of one version to a part of another makes a "
                      "corrupt file, so only an exact, strong match lets the Range through.")
