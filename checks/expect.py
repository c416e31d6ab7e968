"""What every HTTP response a check reads must get right, from step 2 on.

``expect_response(result, status)`` parses the response strictly (h11), then
checks the status line, the reason phrase, ``Date`` and ``Connection: close``,
and fails with the exchange shown in full.
"""

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from http import HTTPStatus

from .report import caret_diff
from .wire import request_method

# IMF-fixdate (RFC 9110, section 5.6.7): Sun, 06 Nov 1994 08:49:37 GMT
IMF_FIXDATE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT"
)
# How far a Date may be from this machine's clock. Both clocks are the same
# clock here; this only allows for the time the exchange took.
DATE_TOLERANCE = timedelta(minutes=5)


def status_line(status):
    status = HTTPStatus(status)
    return f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii")


def expect_response(result, status, what=None):
    """The parsed response of ``result``; it must have ``status`` and the headers every response needs."""
    expected_line = status_line(status)
    expected = what or f"a response starting with {expected_line.decode().strip()}"
    response = result.response(expected)
    if response.status != int(status):
        raise result.fail(
            f"Expected status {int(status)} {HTTPStatus(status).phrase}, got {response.status}.",
            expected,
            detail=caret_diff(expected_line, result.received),
        )
    if not result.received.startswith(expected_line):
        raise result.fail(
            "The status line is not exactly right.",
            expected,
            detail=caret_diff(expected_line, result.received),
            meaning="The reason phrase comes from http.HTTPStatus: HTTPStatus(code).phrase.",
        )
    date = response.header("date")
    if date is None or not IMF_FIXDATE.fullmatch(date):
        raise result.fail(
            f"The Date header is {'missing' if date is None else repr(date)}.",
            "Date: in IMF-fixdate form, in GMT, e.g. Date: Sun, 06 Nov 1994 08:49:37 GMT",
            meaning="email.utils.formatdate(usegmt=True) writes exactly this form.",
        )
    if abs(parsedate_to_datetime(date) - datetime.now(timezone.utc)) > DATE_TOLERANCE:
        raise result.fail(
            f"The Date header says {date}, which is not now.",
            "the current time, in GMT",
            meaning="Is it local time labelled GMT? Use email.utils.formatdate(usegmt=True).",
        )
    if response.header_count("content-length") > 1:
        raise result.fail("The response has more than one Content-Length header.", "exactly one Content-Length")
    if "close" not in [token.strip() for token in (response.header("connection") or "").lower().split(",")]:
        raise result.fail("The response does not say Connection: close.", "a Connection: close header")
    expect_no_content_where_none_is_allowed(result, response)
    return response


def expect_no_content_where_none_is_allowed(result, response):
    """A 204, a 304 and any answer to HEAD end at the blank line; a 204 never says Content-Length.

    h11 (like every client) stops reading at the end of such a head, so what
    follows would go unseen here and be misread as the next response on a
    connection that stays open: count it instead.
    """
    if response.status == HTTPStatus.NO_CONTENT and response.header("content-length") is not None:
        raise result.fail(
            f"The 204 No Content response says Content-Length: {response.header('content-length')}.",
            "a 204 with no Content-Length header at all",
            meaning="RFC 9110, section 8.6: a server MUST NOT send Content-Length in a 1xx or 204 response, "
            "not even Content-Length: 0. A 204 never has content, so there is no length to give.",
        )
    after_head = len(result.received) - len(response.raw_head)
    if after_head > 0:
        if response.status in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            section = "15.3.5" if response.status == HTTPStatus.NO_CONTENT else "15.4.5"
            why = f"the head alone: a {response.status} response ends at the blank line after its head " \
                  f"(RFC 9110, section {section}) and cannot contain content"
        elif request_method(result.sent) == "HEAD":
            why = "the head alone: the answer to HEAD never has content (RFC 9110, section 9.3.2), whatever its status"
        else:
            return
        raise result.fail(f"{after_head} bytes came after the head of a response that has no content.", why,
                          meaning="A client stops reading at the blank line: those bytes would be taken "
                          "for the start of the next response.")
