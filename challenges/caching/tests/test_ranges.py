"""caching — byte ranges: parse_range() and read_range() called directly, then 206, 416, 412 and 304 over real connections.

The server serves a folder made for the checks (see conftest.py): data.bin, a little over 1 MB of
random bytes whose every byte is compared, dated.txt, last changed on 2021-03-04 at 05:06:07.891
GMT, and huge.bin, 64 MB, for the memory check. h11, a strict HTTP/1.1 parser, reads every answer,
and requests (the library) downloads a file in two parts.
"""

import builtins
import hashlib
import io
import os
import random
import socket
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checks.expect import expect_response
from checks.properties import course_settings
from checks.report import CheckFailed, visible
from checks.unit import call, expect_equal
from checks.wire import ANSWER_TIMEOUT, Exchange, connect, exchange, fetch

MB = 1024 * 1024
TOKEN = "test-token"  # the demo site's token in these checks (conftest.py starts the server with it)


def shown_answer(static_module, got):
    if got is None:
        return "None"
    if isinstance(got, str) and got == getattr(static_module, "UNSATISFIABLE", object()):
        return "UNSATISFIABLE"
    return repr(got)


def parsed(static_module, value, size):
    """parse_range(value, size), a list turned into a tuple; a CheckFailed when it raises."""
    got = call(static_module.parse_range, value, size, shown=f"parse_range({value!r}, {size})")
    return tuple(got) if isinstance(got, list) else got


def expect_parsed(static_module, value, size, expected, why):
    got = parsed(static_module, value, size)
    wanted = static_module.UNSATISFIABLE if expected == "UNSATISFIABLE" else expected
    if got != wanted or type(got) is not type(wanted):
        raise CheckFailed(f"parse_range({value!r}, {size}) is not right.", sent=f"Range: {value}  (a file of {size} bytes)",
                          expected=f"{expected if expected == 'UNSATISFIABLE' else repr(expected)}: {why}",
                          received=shown_answer(static_module, got),
                          meaning="parse_range returns (first, last), both included and both inside the file; "
                          "UNSATISFIABLE when the range holds no byte of the file (416); None when the header is "
                          "ignored (the whole file, 200).")


@pytest.mark.task(4)
@pytest.mark.hint("value.partition(\"=\"); the unit, stripped and lower-cased, must be bytes; split the rest at "
                  "commas and drop empty items; one spec left: first-last gives (first, min(last, size - 1)), "
                  "first- gives (first, size - 1), -n gives (max(0, size - n), size - 1).",
                  docs="#reading-a-range")
def test_a_range_is_read_into_its_first_and_last_byte(static_module):
    """parse_range turns first-last, first- and -suffix into (first, last), both included, the last clipped to the file"""
    for value, size, expected, why in [
        ("bytes=0-99", 1000, (0, 99), "the first 100 bytes: 0 to 99, both included"),
        ("bytes=0-0", 1000, (0, 0), "the first byte alone"),
        ("bytes=999-999", 1000, (999, 999), "the last byte alone"),
        ("bytes=0-999", 1000, (0, 999), "the whole file, asked for as a range"),
        ("bytes=500-", 1000, (500, 999), "from byte 500 to the end"),
        ("bytes=0-", 1, (0, 0), "the whole of a one-byte file"),
        ("bytes=-1", 1000, (999, 999), "a suffix: the last byte"),
        ("bytes=-100", 1000, (900, 999), "a suffix: the last 100 bytes, not byte 100 on"),
        ("bytes=-1000", 1000, (0, 999), "the last 1000 bytes of 1000: all of them"),
        ("bytes=-5000", 1000, (0, 999), "a suffix longer than the file: the whole file (RFC 9110, section 14.1.1)"),
        ("bytes=0-1000", 1000, (0, 999), "a last byte past the end is clipped to the file's last byte"),
        ("bytes=990-5000", 1000, (990, 999), "clipped to the last byte"),
        ("bytes=0-" + "9" * 30, 1000, (0, 999), "a last byte far past the end is clipped too"),
        ("bytes=007-010", 1000, (7, 10), "leading zeros change nothing"),
        ("Bytes=0-9", 1000, (0, 9), "a range unit is compared without regard to case (RFC 9110, section 14.1)"),
        ("BYTES=0-9", 1000, (0, 9), "a range unit is compared without regard to case"),
        ("bytes=0-9,", 1000, (0, 9), "an empty list item means nothing (RFC 9110, section 5.6.1): one range"),
        ("bytes=, 0-9", 1000, (0, 9), "an empty list item means nothing: one range"),
        ("bytes= 0-9 ", 1000, (0, 9), "spaces around a list item are allowed"),
    ]:
        expect_parsed(static_module, value, size, expected, why)


@pytest.mark.task(4)
@pytest.mark.hint("A first byte at or past the end (first >= size), and the suffix -0, hold no byte of the "
                  "file: return UNSATISFIABLE, so the server answers 416.", docs="#reading-a-range")
def test_a_range_with_no_byte_of_the_file_is_unsatisfiable(static_module):
    """parse_range returns UNSATISFIABLE when the range starts past the end, or asks for the last 0 bytes"""
    for value, size, why in [
        ("bytes=1000-", 1000, "byte 1000 is one past the last (999)"),
        ("bytes=1000-2000", 1000, "the whole range is past the end"),
        ("bytes=5000-", 1000, "past the end"),
        ("bytes=1-", 1, "a one-byte file has byte 0 alone"),
        ("bytes=-0", 1000, "the last 0 bytes are no bytes"),
        ("bytes=-000", 1000, "the last 0 bytes, with leading zeros"),
        ("bytes=" + "9" * 30 + "-", 1000, "far past the end"),
    ]:
        expect_parsed(static_module, value, size, "UNSATISFIABLE", why)


@pytest.mark.task(4)
@pytest.mark.hint("Positions are ASCII digits only (DIGITS.fullmatch): int() takes \"+5\", \" 5\" and \"1_0\" "
                  "too. A last byte before the first, another unit, or more than one range: return None.",
                  docs="#what-is-ignored")
def test_a_malformed_or_multiple_range_is_ignored(static_module):
    """parse_range returns None for another unit, a value that breaks the grammar, and more than one range"""
    for value, why in [
        ("items=0-5", "another unit than bytes"),
        ("bytes 0-5", "no = after the unit"),
        ("bytes=", "no range at all"),
        ("bytes=,", "only empty list items: no range at all"),
        ("bytes=abc", "no numbers"),
        ("bytes=-", "neither a first nor a suffix length"),
        ("bytes=5", "no dash"),
        ("bytes=5-2", "the last byte comes before the first: invalid (RFC 9110, section 14.1.1)"),
        ("bytes=+0-5", "a position is digits only: int() takes +0, HTTP does not"),
        ("bytes=0-+5", "a position is digits only"),
        ("bytes=1_0-20", "a position is digits only: int() takes 1_0 as 10"),
        ("bytes=0x10-20", "a position is decimal digits"),
        ("bytes=--5", "a suffix length is digits only"),
        ("bytes=1-2-3", "one dash in a range"),
        ("bytes=0.5-6", "positions are whole numbers"),
        ("bytes=\u0663-5", "\u0663 is an Arabic-Indic digit: str.isdigit() says yes, HTTP says no"),
        ("bytes=0-1,5-6", "two ranges: this server sends one range or the whole file"),
        ("bytes=0-1, 5-6", "two ranges"),
        ("bytes=-1,0-0", "two ranges: a suffix and a start"),
        ("bytes=2000-3000,0-1", "two ranges, even if only one holds bytes of the file"),
    ]:
        expect_parsed(static_module, value, 1000, None, why)


@st.composite
def range_headers(draw):
    """(size, Range value, what Python's slicing selects): a range as a client may write it, and its meaning."""
    size = draw(st.integers(min_value=1, max_value=3000))
    position = st.one_of(st.integers(0, size + 2), st.integers(0, 3 * size), st.sampled_from([0, size - 1, size]))
    kind = draw(st.sampled_from(["first-last", "first-", "-suffix"]))
    zeros = draw(st.sampled_from(["", "0", "000"]))
    data = bytes(index % 251 for index in range(size))
    if kind == "first-last":
        first = draw(position)
        last = draw(st.integers(first, first + 2 * size))
        spec, selected = f"{zeros}{first}-{zeros}{last}", (None if first >= size else data[first:last + 1])
    elif kind == "first-":
        first = draw(position)
        spec, selected = f"{zeros}{first}-", (None if first >= size else data[first:])
    else:
        suffix = draw(st.integers(0, 2 * size + 2))
        spec, selected = f"-{zeros}{suffix}", (None if suffix == 0 else data[-suffix:])
    unit = draw(st.sampled_from(["bytes", "Bytes", "BYTES"]))
    before, after = draw(st.sampled_from(["", " ", ", "])), draw(st.sampled_from(["", " ", ","]))
    return size, f"{unit}={before}{spec}{after}", selected


@pytest.mark.task(4)
@pytest.mark.hint("For first-last, data[first:last + 1] is what the client asked for; for -n, data[-n:]. "
                  "Return positions inside the file: 0 <= first <= last <= size - 1.", docs="#reading-a-range")
def test_ranges_drawn_at_random_select_what_slicing_selects(static_module):
    """Ranges drawn at random select the bytes Python's slicing selects, with both ends inside the file"""
    ranges_agree(static_module)


@course_settings(max_examples=300)
@given(drawn=range_headers())
@example(drawn=(1000, "bytes=-100", bytes(index % 251 for index in range(1000))[-100:]))
@example(drawn=(1000, "bytes=0-1000", bytes(index % 251 for index in range(1000))))
def ranges_agree(static_module, drawn):
    size, value, selected = drawn
    data = bytes(index % 251 for index in range(size))
    got = parsed(static_module, value, size)
    sent = f"Range: {value}  (a file of {size} bytes: data = bytes(i % 251 for i in range({size})))"
    meaning = ("first-last means data[first:last + 1] (both ends included); first- means data[first:]; -n means "
               "data[-n:], the last n bytes. A range that selects nothing is UNSATISFIABLE.")
    if selected is None:
        if got != static_module.UNSATISFIABLE:
            raise CheckFailed(f"parse_range({value!r}, {size}) is not right.", sent=sent,
                              expected="UNSATISFIABLE: Python's slicing selects no byte here",
                              received=shown_answer(static_module, got), meaning=meaning)
        return
    if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(end, int) for end in got)):
        raise CheckFailed(f"parse_range({value!r}, {size}) is not right.", sent=sent,
                          expected=f"(first, last): the {len(selected)} bytes Python's slicing selects",
                          received=shown_answer(static_module, got), meaning=meaning)
    first, last = got
    if not 0 <= first <= last < size:
        raise CheckFailed(f"parse_range({value!r}, {size}) returned {got!r}, which is not inside the file.",
                          sent=sent, expected=f"0 <= first <= last <= {size - 1}",
                          received=repr(got), meaning="Content-Range will say these numbers: a last byte past "
                          "the end must be clipped to size - 1, and a suffix longer than the file starts at 0.")
    if data[first:last + 1] != selected:
        start = data.find(selected)
        raise CheckFailed(f"parse_range({value!r}, {size}) selects other bytes than slicing does.", sent=sent,
                          expected=f"({start}, {start + len(selected) - 1}): {len(selected)} bytes",
                          received=f"{got!r}: {last - first + 1} bytes", meaning=meaning)


class SpyFile:
    """A file opened for the check, noting how much is read from it, in which pieces, and whether it is closed."""

    def __init__(self, real):
        self._real = real
        self.reads = []  # sizes of what each read returned
        self.closed_by_learner = False

    def _note(self, data):
        self.reads.append(len(data))
        return data

    def read(self, *args):
        return self._note(self._real.read(*args))

    def read1(self, *args):
        return self._note(self._real.read1(*args))

    def readline(self, *args):
        return self._note(self._real.readline(*args))

    def readinto(self, buffer):
        count = self._real.readinto(buffer)
        self.reads.append(count or 0)
        return count

    def __iter__(self):
        for line in self._real:
            yield self._note(line)

    def close(self):
        self.closed_by_learner = True
        self._real.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __getattr__(self, name):
        return getattr(self._real, name)


@contextmanager
def spying_on(target):
    """While it lasts, every open() of ``target`` (builtins.open, io.open, Path.open) gives a SpyFile."""
    opened = []
    real_open = io.open
    target = Path(target).resolve()

    def spy_open(file, *args, **kwargs):
        handle = real_open(file, *args, **kwargs)
        try:
            same = isinstance(file, (str, bytes, os.PathLike)) and Path(os.fsdecode(file)).resolve() == target
        except (OSError, ValueError):
            same = False
        if not same:
            return handle
        spy = SpyFile(handle)
        opened.append(spy)
        return spy

    saved = builtins.open, io.open
    builtins.open = io.open = spy_open
    try:
        yield opened
    finally:
        builtins.open, io.open = saved
        for spy in opened:
            spy._real.close()


def read_pieces(static_module, path, first, last):
    """list(read_range(path, first, last)); a CheckFailed when it raises or does not give bytes."""
    shown = f"list(read_range(path, {first}, {last}))"
    pieces = call(lambda: list(static_module.read_range(path, first, last)), shown=shown)
    if not all(isinstance(piece, (bytes, bytearray)) for piece in pieces):
        raise CheckFailed(f"{shown} gave something other than bytes.", received=repr(pieces)[:200],
                          meaning="read_range yields bytes, read from the file in binary mode (\"rb\").")
    return shown, pieces


@pytest.mark.task(5)
@pytest.mark.hint("file.seek(first); left = last - first + 1; while left: chunk = file.read(min(CHUNK_SIZE, "
                  "left)); stop if it is empty; left -= len(chunk); yield chunk.", docs="#reading-only-the-range")
def test_read_range_yields_exactly_those_bytes(static_module, tmp_path):
    """read_range yields bytes first to last of the file, both included, in pieces of at most CHUNK_SIZE"""
    chunk = static_module.CHUNK_SIZE
    data = random.Random(5).randbytes(3 * chunk + 1234)
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    size = len(data)
    for first, last, what in [
        (0, 0, "the first byte"), (size - 1, size - 1, "the last byte"), (0, 99, "the first 100 bytes"),
        (chunk - 1, chunk, "two bytes on either side of a piece's end"), (0, size - 1, "the whole file"),
        (100, 100 + 2 * chunk, "two pieces and a byte, from byte 100"), (size - 1000, size - 1, "the last 1000 bytes"),
    ]:
        shown, pieces = read_pieces(static_module, path, first, last)
        got = b"".join(pieces)
        if got != data[first:last + 1]:
            raise CheckFailed(f"{shown} did not give {what}.", sent=f"a file of {size} bytes; read_range(path, "
                              f"{first}, {last})", expected=f"data[{first}:{last + 1}]: {last - first + 1} bytes",
                              received=f"{len(got)} bytes" + (", starting where they should" if
                                                              got[:1] == data[first:first + 1] else ", from elsewhere"),
                              meaning="first and last are both included: last - first + 1 bytes, starting at byte "
                              "first (seek there).")
        biggest = max(map(len, pieces), default=0)
        if biggest > chunk:
            raise CheckFailed(f"{shown} yielded a piece of {biggest} bytes.", expected=f"pieces of at most "
                              f"CHUNK_SIZE ({chunk}) bytes", received=f"pieces of {[len(p) for p in pieces][:8]} bytes",
                              meaning="A range may be most of a large file: each piece is held in memory while it "
                              "is sent, so keep them small.")
    shown, pieces = read_pieces(static_module, path, size - 10, size + 4999)
    if b"".join(pieces) != data[-10:]:
        raise CheckFailed(f"{shown} did not stop at the end of a file shorter than the range.",
                          sent=f"a file of {size} bytes; read_range(path, {size - 10}, {size + 4999}), as if the file "
                          "had shrunk since its size was read", expected="its last 10 bytes, then the end",
                          received=f"{sum(map(len, pieces))} bytes",
                          meaning="A file can shrink between stat() and read(): when read() returns b\"\", there is "
                          "no more to send, so stop.")


@pytest.mark.task(5)
@pytest.mark.hint("Open the file with `with path.open(\"rb\") as file:`, seek(first) before the first read, and "
                  "never ask for more than CHUNK_SIZE bytes at once, nor for what comes after last.",
                  docs="#reading-only-the-range")
def test_read_range_reads_only_the_range(static_module, tmp_path):
    """read_range seeks to the range: it never reads the bytes before it, nor the file whole, and closes the file"""
    chunk = static_module.CHUNK_SIZE
    path = tmp_path / "large.bin"
    size = 4 * MB
    with open(path, "wb") as file:
        file.truncate(size)  # sparse: 4 MB of zeros that take no disk space
    for first, last, what in [(size - 100, size - 1, "the last 100 bytes"),
                              (MB, MB + 5 * chunk - 1, "5 pieces from the middle"),
                              (0, 9, "the first 10 bytes")]:
        length = last - first + 1
        with spying_on(path) as opened:
            shown, pieces = read_pieces(static_module, path, first, last)
        total = sum(spy_read for spy in opened for spy_read in spy.reads)
        reads = sum(len(spy.reads) for spy in opened)
        biggest = max((size_read for spy in opened for size_read in spy.reads), default=0)
        sent = f"a file of {size} bytes; read_range(path, {first}, {last}): {what}"
        if total > length + chunk:
            raise CheckFailed(f"{shown} read {total} bytes of the file to send {length}.", sent=sent,
                              expected=f"about {length} bytes read: seek(first), then read the range alone",
                              received=f"{total} bytes read, in {reads} read{'s' if reads != 1 else ''}",
                              meaning="Reading from the start to reach the range (or the whole file, then slicing) "
                              "costs the whole file for a few bytes at its end: the last minute of a film is read "
                              "from its first. file.seek(first) goes straight there.")
        if biggest > chunk:
            raise CheckFailed(f"{shown} read {biggest} bytes in one read.", sent=sent,
                              expected=f"reads of at most CHUNK_SIZE ({chunk}) bytes",
                              meaning="One read of the whole range holds all of it in memory at once: a range can "
                              "be gigabytes. Read min(CHUNK_SIZE, left) at a time.")
        if any(not spy.closed_by_learner for spy in opened):
            raise CheckFailed(f"{shown} left the file open after its last piece.", sent=sent,
                              expected="the file closed once the range is read: with path.open(\"rb\") as file:",
                              meaning="Each download in progress holds one open file; a server that never closes "
                              "them runs out of file descriptors.")


def get(path, *header_lines, method="GET"):
    lines = "".join(f"{line}\r\n" for line in header_lines)
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode("latin-1")


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16] + "…"


def head_fields(received):
    """The status line and {lowercased name: value} of a response's head, read as sent, before h11 judges it."""
    lines = received.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    return lines[0], fields


def expect_part(result, data, first, last, etag):
    """A 206 for bytes first..last of ``data``: Content-Range, Content-Length, the bytes, the type and the ETag."""
    size = len(data)
    wanted = f"bytes {first}-{last}/{size}"
    what = f"206 Partial Content with Content-Range: {wanted} and the {last - first + 1} bytes"
    status_line, fields = head_fields(result.received)
    if status_line.startswith("HTTP/1.1 206"):  # the framing first: h11 would only say the body ran short
        content_range = fields.get("content-range")
        if content_range != wanted:
            meaning = "Content-Range is bytes first-last/size, both ends included, size the whole file's."
            if content_range == f"bytes {first}-{last + 1}/{size}":
                meaning = "The last position is included in HTTP: bytes 0-99 are 100 bytes, and Content-Range " \
                          "says 0-99."
            raise result.fail(f"The 206's Content-Range is {content_range!r}.", what, meaning=meaning)
        length = fields.get("content-length")
        if length != str(last - first + 1):
            raise result.fail(f"The 206 says Content-Length: {length}.", what,
                              meaning="Content-Length is the length of the body sent: the part, last - first + 1 "
                              "bytes, not the whole file" + (" (that is its size)" if length == str(size) else "") +
                              ". A client waits for as many bytes as it says.")
    response = expect_response(result, 206, what=what)
    if response.body != data[first:last + 1]:
        raise result.fail("The 206's body is not those bytes of the file.", what,
                          detail=f"expected SHA-256 {digest(data[first:last + 1])}, received {len(response.body)} "
                          f"bytes with SHA-256 {digest(response.body)}")
    if response.header("content-type") != "application/octet-stream":
        raise result.fail(f"The 206's Content-Type is {response.header('content-type')!r}.",
                          "Content-Type: application/octet-stream, the file's own type",
                          meaning="A part is a part of a file of that type: give the 206 the type the 200 has.")
    if response.header("etag") != etag:
        raise result.fail(f"The 206's ETag is {response.header('etag')!r}.", f"ETag: {etag}, as the 200 says",
                          meaning="A 206 carries the ETag a 200 would (RFC 9110, section 15.3.7): a client "
                          "resuming later sends it back in If-Range.")


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("For a GET with a Range: part = parse_range(...); a 206 with the file's headers, Content-Range "
                  "f\"bytes {first}-{last}/{size}\", Content-Type, chunks = read_range(path, first, last) and "
                  "length = last - first + 1. The 200 says Accept-Ranges: bytes.", docs="#one-answer-in-order")
def test_a_range_gets_206_with_exactly_those_bytes(site_server, layout, data):
    """A GET with a Range gets 206 Partial Content: those bytes, with Content-Range, Content-Length, type and ETag"""
    path = f"/static/{layout.data_file}"
    size = len(data)
    whole = exchange(site_server, get(path), timeout=15)
    full = expect_response(whole, 200)
    if full.header("accept-ranges") != "bytes":
        raise whole.fail(f"The 200 for a file says Accept-Ranges: {full.header('accept-ranges')!r}.",
                         "Accept-Ranges: bytes", meaning="It tells clients they may ask for parts: download "
                         "managers and media players look for it before they resume or seek.")
    etag = full.header("etag")
    draw = random.Random(206)
    spread = [(a, min(size - 1, a + draw.randrange(1, 200_000))) for a in (draw.randrange(size) for _ in range(8))]
    cases = [(f"bytes={first}-{last}", first, last) for first, last in [(0, 99), (65530, 65545), (777, 777), *spread]]
    cases += [(f"bytes={size - 7}-", size - 7, size - 1), ("bytes=-7", size - 7, size - 1),
              ("bytes=1000000-", 1000000, size - 1), (f"bytes=500-{2 * size}", 500, size - 1)]
    for value, first, last in cases:
        result = exchange(site_server, get(path, f"Range: {value}"), timeout=15)
        expect_part(result, data, first, last, etag)


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("When parse_range says UNSATISFIABLE: 416 with Content-Range: bytes */size (an asterisk, "
                  "then the file's size), so the client learns what it may ask for.", docs="#one-answer-in-order")
def test_a_range_past_the_end_gets_416_with_the_size(site_server, layout, data):
    """A Range with no byte of the file gets 416 Range Not Satisfiable, with Content-Range: bytes */size"""
    path = f"/static/{layout.data_file}"
    size = len(data)
    for value in (f"bytes={size}-", f"bytes={size}-{size + 10}", "bytes=-0", "bytes=99999999999-"):
        result = exchange(site_server, get(path, f"Range: {value}"))
        response = expect_response(result, 416, what=f"416 Range Not Satisfiable for Range: {value} (a file of "
                                   f"{size} bytes)")
        if response.header("content-range") != f"bytes */{size}":
            raise result.fail(f"The 416 says Content-Range: {response.header('content-range')!r}.",
                              f"Content-Range: bytes */{size}",
                              meaning="RFC 9110, section 15.5.17: a 416 says the file's size this way, so that the "
                              "client can ask again for a range that exists.")


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("When parse_range returns None, go on to the 200 with the whole file, as if there were no "
                  "Range; and an empty file (st_size 0) is always sent whole.", docs="#what-is-ignored")
def test_a_range_that_is_ignored_gets_the_whole_file(site_server, layout):
    """A Range that breaks the grammar, names another unit, holds several ranges, or asks an empty file for bytes gets 200 and the whole file"""
    path = f"/static/{layout.text_file}"
    for value in ("bytes=5-2", "bytes=abc", "items=0-5", "bytes=+0-5", "bytes=0-1,5-6", "bytes=-1, 0-0"):
        result = exchange(site_server, get(path, f"Range: {value}"))
        response = expect_response(result, 200, what=f"200 and the whole file: Range: {value} is ignored")
        if response.body != layout.text_bytes or response.header("content-range") is not None:
            raise result.fail("The answer is not the whole file, or it says Content-Range.",
                              "200 with the whole file, and no Content-Range")
    empty = f"/static/{layout.empty_file}"
    for value in ("bytes=-5", "bytes=0-", "bytes=0-0", "bytes=5-"):
        result = exchange(site_server, get(empty, f"Range: {value}"))
        # A range starting at byte 0 or later names no byte of an empty file: 416 is right for those too.
        refusable = value != "bytes=-5" and result.received.startswith(b"HTTP/1.1 416 ")
        response = expect_response(result, 416 if refusable else 200, what="200 and the empty file: it has no byte to pick")
        whole = response.status == 200 and response.body == b"" and response.header("content-range") is None
        refused = response.status == 416 and response.header("content-range") == "bytes */0"
        if not (whole or refused):
            raise result.fail("The answer to a Range on an empty file is not the empty file.",
                              "200 with no body and no Content-Range" + ("" if value == "bytes=-5" else
                                                                          " (or 416 with Content-Range: bytes */0)"),
                              meaning="An empty file has no byte for a range to pick, and a 206 must send at least "
                              "one (RFC 9110, section 15.3.7): send it whole, as nginx does.")


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("Serve a Range only when request.method == \"GET\": a HEAD with a Range gets the head of the "
                  "200, Content-Length the file's size (RFC 9110, section 14.2).", docs="#only-get-has-ranges")
def test_head_gets_the_head_of_the_whole_file(site_server, layout, data):
    """HEAD gets the head a plain GET gets, Accept-Ranges included, even with a Range: only GET has ranges"""
    path = f"/static/{layout.data_file}"
    full = expect_response(exchange(site_server, get(path), timeout=15), 200)
    for lines in ([], ["Range: bytes=0-99"], ["Range: bytes=-0"]):
        result = exchange(site_server, get(path, *lines, method="HEAD"))
        response = expect_response(result, 200, what="200 with the head of the whole file" +
                                   (f", whatever {lines[0]} says" if lines else ""))
        for name in ("content-length", "content-type", "etag", "last-modified", "accept-ranges", "content-range"):
            if response.header(name) != full.header(name):
                raise result.fail(f"The HEAD answer says {name}: {response.header(name)!r}, the GET {full.header(name)!r}.",
                                  f"the head of a GET without a Range: {name}: {full.header(name)}",
                                  meaning="Range is defined for GET alone: a server MUST ignore it on any other "
                                  "method (RFC 9110, section 14.2). HEAD asks about the whole file.")
    echo = exchange(site_server, (f"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                                  "Range: bytes=0-1\r\nContent-Length: 10\r\n\r\n0123456789").encode())
    if expect_response(echo, 200).body != b"0123456789":
        raise echo.fail("The echo of a POST with a Range is not the whole body.", "200 with 0123456789")


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("The second request carries Range: bytes=<what arrived>- and If-Range: <the ETag>: answer 206 "
                  "with the rest when the ETag is still the file's, else 200 with the whole (new) file.",
                  docs="#a-download-that-resumes")
def test_a_download_resumes_where_it_stopped(site_server, layout, data, site, changing):
    """A download cut short resumes with Range and If-Range, and the two parts make the file; a changed file comes whole"""
    path = f"/static/{layout.data_file}"
    with fetch(site_server, "GET", path, stream=True) as first:
        if first.status_code != 200:
            raise CheckFailed(f"GET {path} got {first.status_code}.", expected="200 and the file")
        part = first.raw.read(300_000)  # the connection breaks here, say
        etag = first.headers.get("ETag")
    rest = fetch(site_server, "GET", path, headers={"Range": f"bytes={len(part)}-", "If-Range": etag or ""})
    sent = (f"requests.get(url, stream=True), read {len(part)} bytes, then\nrequests.get(url, headers="
            f"{{'Range': 'bytes={len(part)}-', 'If-Range': {etag!r}}})")
    if rest.status_code != 206 or part + rest.content != data:
        joined = part + rest.content
        differs = next((index for index, (a, b) in enumerate(zip(joined, data)) if a != b), min(len(joined), len(data)))
        raise CheckFailed("The two parts of the download do not make the file.", sent=sent,
                          expected=f"206, then bytes {len(part)}-{len(data) - 1}: {len(data)} bytes in all, "
                          f"SHA-256 {digest(data)}",
                          received=f"{rest.status_code}, Content-Range: {rest.headers.get('Content-Range')}; "
                          f"{len(joined)} bytes in all, the first wrong one at byte {differs}",
                          meaning="This is what a browser or curl -C - does after a broken download: it asks for "
                          "the rest, from the first byte it lacks.")
    changing_path = site / layout.changing_file
    changing_path.write_bytes(changing(1))
    os.utime(changing_path, (1_700_000_000, 1_700_000_000))
    old = fetch(site_server, "GET", f"/static/{layout.changing_file}")
    changing_path.write_bytes(changing(2))  # a new version, while the client holds half of the old one
    os.utime(changing_path, (1_700_000_100, 1_700_000_100))
    for validator in (old.headers.get("ETag") or "", old.headers.get("Last-Modified") or ""):
        again = fetch(site_server, "GET", f"/static/{layout.changing_file}",
                      headers={"Range": "bytes=150000-", "If-Range": validator})
        if again.status_code != 200 or again.content != changing(2):
            raise CheckFailed("A download resumed after the file changed did not get the whole new version.",
                              sent=f"the file changed; then Range: bytes=150000- with If-Range: {validator} "
                              "(the old version's)",
                              expected="200 and the whole new version: the client's half is of the old one",
                              received=f"{again.status_code}, {len(again.content)} bytes",
                              meaning="Half of one version glued to half of another is a corrupt file. If-Range "
                              "says: the rest if it is still this version, else everything.")


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("In __call__: precondition_failed() first (412), then not_modified() (304), then the Range; "
                  "RFC 9110, section 13.2.2 fixes that order.", docs="#one-answer-in-order")
def test_preconditions_are_answered_in_rfc_order(site_server, layout):
    """Over real connections: 412 comes before 304, and 304 before 206, as RFC 9110 orders them"""
    path = f"/static/{layout.dated_file}"
    etag = expect_response(exchange(site_server, get(path)), 200).header("etag")
    modified = layout.dated_last_modified
    before = "Thu, 04 Mar 2021 05:06:06 GMT"  # a second before the file's time
    cases = [
        ([f"If-Match: {etag}"], 200, "If-Match holds the file's ETag"),
        (['If-Match: "nope"'], 412, "If-Match names another version"),
        ([f"If-Match: W/{etag}"], 412, "a weak tag does not match in If-Match"),
        ([f"If-Unmodified-Since: {before}"], 412, "the file changed after that date"),
        (["If-Unmodified-Since: not a date"], 200, "an If-Unmodified-Since that is no date is ignored"),
        ([f"If-Match: {etag}", f"If-Unmodified-Since: {before}"], 200,
         "If-Match matches, so If-Unmodified-Since is ignored"),
        (['If-Match: "nope"', f"If-None-Match: {etag}"], 412,
         "If-Match is evaluated before If-None-Match: 412, not 304"),
        ([f"If-Unmodified-Since: {before}", f"If-None-Match: {etag}"], 412,
         "If-Unmodified-Since is evaluated before If-None-Match: 412, not 304"),
        ([f"If-None-Match: {etag}", "Range: bytes=0-4"], 304, "a current copy gets 304, whatever the Range"),
        ([f"If-Modified-Since: {modified}", "Range: bytes=0-4"], 304, "a current copy gets 304, whatever the Range"),
        (['If-Match: "nope"', "Range: bytes=0-4"], 412, "a failed precondition gets 412, whatever the Range"),
        (['If-Match: "nope"', "Range: bytes=99999-"], 412, "412 before 416: the precondition is evaluated first"),
        ([f"If-Match: {etag}", "Range: bytes=0-4"], 206, "the precondition holds: the Range is served"),
    ]
    for lines, expected, why in cases:
        result = exchange(site_server, get(path, *lines))
        response = expect_response(result, expected, what=f"{expected} because {why}")
        if expected == 304 and len(result.received) > len(response.raw_head):
            raise result.fail("The 304 response carries a body.", "the head alone")


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("Honour the Range only when if_range_matches(request, etag, stat.st_mtime) is True; "
                  "otherwise answer 200 with the whole file.", docs="#if-range")
def test_if_range_decides_between_206_and_200(site_server, layout):
    """Over real connections: a Range with If-Range gets 206 for this version, and the whole file for any other"""
    path = f"/static/{layout.dated_file}"
    whole = layout.dated_bytes
    etag = expect_response(exchange(site_server, get(path)), 200).header("etag")
    for if_range, expected, why in [
        (etag, 206, "the ETag of this version"),
        (layout.dated_last_modified, 206, "the file's exact Last-Modified"),
        (f"W/{etag}", 200, "a weak tag: never good enough to glue parts together"),
        ('"another-version"', 200, "another version's ETag"),
        ("Thu, 04 Mar 2021 05:06:08 GMT", 200, "a date that is not the Last-Modified"),
    ]:
        result = exchange(site_server, get(path, "Range: bytes=2-6", f"If-Range: {if_range}"))
        response = expect_response(result, expected, what=f"{expected} for If-Range: {if_range} ({why})")
        body = whole[2:7] if expected == 206 else whole
        if response.body != body:
            raise result.fail("The body is not what the status says.", f"{body!r}")


# The client's receive buffer during the memory check: small, so the server soon waits, mid-range.
SMALL_RECEIVE_BUFFER = 64 * 1024
# Seconds to wait for the head of the 63 MB range: a server that reads the file whole first takes a moment.
HEAD_TIMEOUT = 15.0



def read_head(conn, timeout):
    received = bytearray()
    deadline = time.monotonic() + timeout
    while b"\r\n\r\n" not in received and time.monotonic() < deadline:
        conn.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        try:
            chunk = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        received += chunk
    return bytes(received)


@pytest.mark.task(7, needs=(3, 4, 5, 6))
@pytest.mark.hint("Give the 206 its bytes as response.chunks = read_range(path, first, last) with response.length "
                  "= last - first + 1, never as a body sliced out of path.read_bytes().",
                  docs="#reading-only-the-range")
def test_a_large_range_is_sent_piece_by_piece(site_server, layout):
    """A 63 MB range of a 64 MB file is streamed: the server's memory does not grow by the range's size"""
    size = layout.huge_bytes
    start = MB
    sent = get(f"/static/{layout.huge_file}", f"Range: bytes={start}-")
    before = site_server.memory()
    result = Exchange(server=site_server, sent=sent, timeout=HEAD_TIMEOUT)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RECEIVE_BUFFER)
        conn.settimeout(ANSWER_TIMEOUT)
        try:
            conn.connect(site_server.address)
        except OSError:
            connect(site_server).close()  # says why nothing is listening, in the harness's words
            raise
        conn.sendall(sent)
        # The head arrives once the server has started sending; the check reads no further, so the
        # server waits with the range half sent.
        result.received = read_head(conn, HEAD_TIMEOUT)
        during = site_server.memory()
    if not result.received.startswith(b"HTTP/1.1 206 ") or b"\r\n\r\n" not in result.received:
        result.timed_out = b"\r\n\r\n" not in result.received
        raise result.fail(f"The {(size - start) // MB} MB range did not start arriving.",
                          "a head starting with HTTP/1.1 206 Partial Content, then the range's bytes")
    grown = {name: during[name] - before[name] for name in before if name in during}
    if not grown:
        return  # this system cannot say how much memory a process uses: nothing to compare
    name, grew = max(grown.items(), key=lambda item: item[1])
    if grew > (size - start) // 2:
        raise CheckFailed(
            f"While it sent a {(size - start) // MB} MB range, your server's {name} grew by {grew / MB:.0f} MB.",
            sent=visible(sent),
            expected="growth of a few 64 KiB pieces at most: a range sent in pieces costs the same memory, "
            "whatever its size",
            received=f"{name}: {before[name] / MB:.0f} MB before the request, {during[name] / MB:.0f} MB once the "
            "range was on its way (the check stopped reading after the head, so the server had to wait mid-range)",
            meaning="The whole range, or the whole file, was in memory at once. Video players ask for ranges "
            "all the time: a few viewers, and the server runs out of memory.",
        )
