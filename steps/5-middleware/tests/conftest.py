"""What step 5's checks share, as fixtures: requests made by the learner's own parser, and logs to read.

* ``make_request(method, target, headers, version=, body=)``  an ``HTTPRequest``, parsed from bytes;
* ``catch_logs(logger=None)``  a ``with`` block that catches log records (the root logger's when None);
* ``access_line(text)``  the fields of an access-log line, or None if it has not that shape;
* ``local_time_is_not_utc``  for a check's duration, this process's local time is 5 h 45 min ahead of UTC.
"""

import os
import re
import time

import pytest

from checks.logs import caught_logs

# An access-log line, as far as the checks read it: "request line" status size duration.
# The size may be "-" for an empty body (Apache writes that); the duration is seconds or milliseconds.
ACCESS_LINE = re.compile(r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<size>\d+|-)(?: (?P<took>-?\d+(?:\.\d+)?)(?P<unit>m?s))?')


@pytest.fixture
def middleware_module(learner_module):
    return learner_module("middleware")


@pytest.fixture
def make_request(learner_module):
    """``make_request("POST", "/x", [("Origin", "...")], body=b"...")``: an HTTPRequest from the learner's parser."""
    parse_request = learner_module("request").parse_request

    def make(method="GET", target="/", headers=(), version="HTTP/1.1", body=b"", client="192.0.2.7"):
        head = f"{method} {target} {version}\r\nHost: x\r\n".encode("latin-1")
        for name, value in headers:
            head += f"{name}: ".encode("latin-1") + (value if isinstance(value, bytes) else value.encode("latin-1"))
            head += b"\r\n"
        if body:
            head += f"Content-Length: {len(body)}\r\n".encode()
        request, _ = parse_request(head + b"\r\n" + body)
        request.client = client
        return request

    return make


def read_access_line(text):
    """``{"request", "status", "size", "seconds"}`` from an access-log line, or None if it has not that shape.

    ``size`` is an int ("-" reads as 0); ``seconds`` is None when the line shows no duration.
    """
    match = ACCESS_LINE.search(text)
    if match is None:
        return None
    seconds = None
    if match["took"] is not None:
        seconds = float(match["took"]) / (1000 if match["unit"] == "ms" else 1)
    size = 0 if match["size"] == "-" else int(match["size"])
    return {"request": match["request"], "status": int(match["status"]), "size": size, "seconds": seconds}


@pytest.fixture
def catch_logs():
    return caught_logs


@pytest.fixture
def access_line():
    return read_access_line


@pytest.fixture
def local_time_is_not_utc():
    """For the check's duration this process's local time is 5 h 45 min ahead of UTC, as a server's may be."""
    if not hasattr(time, "tzset"):
        yield  # Windows: the time zone cannot be changed for one process
        return
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "CHK-5:45"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
