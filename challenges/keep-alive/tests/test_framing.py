"""keep-alive — framing: where a body ends, in requests and in responses, checked by calling your functions.

On a connection that carries one request after another, each message must say exactly where
it ends, or the next one is read from the wrong byte. These checks call your body_framing,
read_chunk and parse_request (request.py), HTTPResponse (response.py) and keeps_open
(server.py) directly, without a network (handle_client gets a loopback connection of its own);
h11, a strict HTTP/1.1 library, reads what they make.
"""

import socket
from http import HTTPStatus

import h11
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checks.properties import course_settings
from checks.report import CheckFailed, visible
from checks.unit import call, expect_equal, expect_refusal, short

HEAD = b"POST /api/echo HTTP/1.1\r\nHost: x\r\n"
CHUNKED_HEAD = HEAD + b"Transfer-Encoding: chunked\r\n\r\n"


def framing_of(request_module, fields, version="HTTP/1.1", max_body=1024 * 1024):
    headers = request_module.Headers(fields)
    shown = f"body_framing(Headers({fields!r}), {version!r}, {max_body})"
    try:
        return call(request_module.body_framing, headers, version, max_body, shown=shown,
                    expected_errors=(request_module.HTTPError,))
    except request_module.HTTPError as refusal:
        raise CheckFailed(f"{shown} refused a body it should read.", received=f"HTTPError: {refusal}",
                          expected="the body's framing: CHUNKED, or its length",
                          meaning="Transfer-Encoding names codings in any case, with optional spaces around "
                          "them: \" Chunked \" is chunked.") from None


@pytest.mark.task(1)
@pytest.mark.hint("Transfer-Encoding whose only coding is chunked (in any case, spaces around it allowed) "
                  "returns CHUNKED; without Transfer-Encoding, Content-Length frames the body, as in step 2's "
                  "body_length: digits only, or 400.", docs="#one-framing-or-none")
def test_chunked_and_content_length_frame_a_body(request_module):
    """body_framing returns CHUNKED for Transfer-Encoding: chunked, the length for Content-Length, 400 for a bad one"""
    for fields, version, expected in [
        ([("Transfer-Encoding", "chunked")], "HTTP/1.1", request_module.CHUNKED),
        ([("Transfer-Encoding", " Chunked ")], "HTTP/1.1", request_module.CHUNKED),
        ([("Content-Length", "5")], "HTTP/1.1", 5),
        ([("Content-Length", "5")], "HTTP/1.0", 5),
        ([("Content-Length", "5"), ("Content-Length", "5")], "HTTP/1.1", 5),
        ([("Content-Length", "0005")], "HTTP/1.1", 5),
        ([("Content-Length", "000000000005")], "HTTP/1.1", 5),
        ([("Content-Length", "0")], "HTTP/1.1", 0),
        ([("Content-Length", "1024")], "HTTP/1.1", 1024),
        ([], "HTTP/1.1", 0),
    ]:
        got = framing_of(request_module, fields, version, max_body=1024)
        expect_equal(f"body_framing for {fields} in {version}", got, expected,
                     meaning="A body is framed by its length, or by chunks (RFC 9112, section 6.3); a request "
                     "with neither has no body.")
    for value, why in [("five", "a length is digits"), ("-1", "a length cannot be negative"),
                       ("", "an empty length is no length: Content-Length is one digit or more"),
                       ("5\xa0", "byte A0 (a no-break space in Latin-1) is neither a digit nor HTTP whitespace"),
                       ("5X", "a length is digits only, with nothing after them"),
                       ("+5", "a length is digits only, with no sign, though int() takes one"),
                       ("5_0", "a length is digits only, though int() reads 5_0 as 50"),
                       ("\u0665", "a length is ASCII digits, though isdigit() and int() take the Arabic-Indic 5")]:
        expect_refusal(request_module.HTTPError, request_module.body_framing,
                       request_module.Headers([("Content-Length", value)]), "HTTP/1.1", 1024,
                       status=HTTPStatus.BAD_REQUEST, why=why)
    for value in ("1025", "9" * 5000):
        expect_refusal(request_module.HTTPError, request_module.body_framing,
                       request_module.Headers([("Content-Length", value)]), "HTTP/1.1", 1024,
                       status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE, why="the length is over max_body (1024)")


@pytest.mark.task(1)
@pytest.mark.hint("Refuse with 400: Content-Length beside Transfer-Encoding; Transfer-Encoding in HTTP/1.0; "
                  "chunked not last, or given twice. A coding before chunked that you cannot decode (gzip) is "
                  "501.", docs="#one-framing-or-none")
def test_a_body_framed_two_ways_is_refused(request_module):
    """A request whose end could be read two ways is refused: 400 (or 501 for a coding we cannot decode)"""
    bad = HTTPStatus.BAD_REQUEST
    for fields, version, status, why in [
        ([("Content-Length", "5"), ("Transfer-Encoding", "chunked")], "HTTP/1.1", bad,
         "a proxy may trust one framing and we the other: the bytes between are a smuggled request"),
        ([("Transfer-Encoding", "chunked"), ("Content-Length", "5")], "HTTP/1.1", bad, "the same, in the other order"),
        ([("Content-Length", ""), ("Transfer-Encoding", "chunked")], "HTTP/1.1", bad,
         "an empty Content-Length is there all the same: a proxy may read it as 0 and pass the chunks on as a request"),
        ([("Transfer-Encoding", "chunked, identity")], "HTTP/1.1", bad,
         "chunked must be the last coding, or the body's end cannot be known (RFC 9112, section 6.3)"),
        ([("Transfer-Encoding", "identity")], "HTTP/1.1", bad, "without chunked last, the body's end is unknown"),
        ([("Transfer-Encoding", "chunked"), ("Transfer-Encoding", "chunked")], "HTTP/1.1", bad,
         "chunked applied twice is not allowed (RFC 9112, section 7)"),
        ([("Transfer-Encoding", "chunked, ")], "HTTP/1.1", bad, "an empty coding is no coding"),
        ([("Transfer-Encoding", "xchunked")], "HTTP/1.1", bad, "xchunked is not chunked"),
        ([("Transfer-Encoding", "Xchunked")], "HTTP/1.1", bad, "Xchunked is not chunked either"),
        ([("Transfer-Encoding", "chunked\xa0")], "HTTP/1.1", bad,
         "byte A0 (a no-break space in Latin-1) is not whitespace in HTTP: only spaces and tabs are"),
        ([("Transfer-Encoding", "chunked")], "HTTP/1.0", bad,
         "HTTP/1.0 has no Transfer-Encoding: a server must treat the framing as faulty (RFC 9112, section 6.1)"),
        ([("Transfer-Encoding", "gzip, chunked")], "HTTP/1.1", HTTPStatus.NOT_IMPLEMENTED,
         "chunked is last, so the end is known, but this server cannot undo gzip"),
        ([("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], "HTTP/1.1", HTTPStatus.NOT_IMPLEMENTED,
         "two fields are one list: gzip, then chunked"),
    ]:
        headers = request_module.Headers(fields)
        try:
            expect_refusal(request_module.HTTPError, request_module.body_framing, headers, version, 1024,
                           status=status, why=why)
        except CheckFailed as failure:
            failure.args = (f"{failure.args[0]} The fields: {fields}, in {version}.",)
            raise


def chunked_request(chunks, trailers=b"", extension=b"", after=b""):
    body = b"".join(b"%x%b\r\n%b\r\n" % (len(chunk), extension, chunk) for chunk in chunks)
    return CHUNKED_HEAD + body + b"0\r\n" + trailers + b"\r\n" + after


def h11_body(data):
    """The body h11 reads from a chunked request, or its complaint."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(data)
    body = bytearray()
    try:
        while True:
            event = server.next_event()
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return bytes(body)
            elif event is h11.NEED_DATA:
                return None
    except h11.RemoteProtocolError as problem:
        return f"refused: {problem}"


def parsed_body(request_module, data, max_body=1024 * 1024):
    got = call(request_module.parse_request, data, max_body, shown=f"parse_request({short(data)})")
    if got is None:
        raise CheckFailed("parse_request returned None for a whole chunked request.", sent=visible(data),
                          expected="(request, used): the last chunk, of size 0, and the blank line after it are here",
                          meaning="The body ends with the chunk of size 0 and the (empty) trailer section after it.")
    return got


@pytest.mark.task(2, needs=(1,))
@pytest.mark.hint("In read_chunk: find the CRLF that ends the size line; the size is the hex digits before any "
                  "';' (int(digits, 16)); the data is the next `size` bytes, and CRLF must follow them.",
                  docs="#reading-a-chunk")
def test_a_chunked_body_is_decoded(request_module):
    """A chunked body is put back together: sizes in hex, extensions ignored, trailers dropped, the rest left"""
    after = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    for data, body, what in [
        (chunked_request([b"hello", b" world"]), b"hello world", "two chunks"),
        (chunked_request([b"x" * 26]), b"x" * 26, "a chunk of 26 bytes: size 1a"),
        (chunked_request([b"z" * 5000]), b"z" * 5000, "a chunk of 5000 bytes, longer than any size line may be"),
        (CHUNKED_HEAD + b"0" * 19 + b"5\r\nhello\r\n0\r\n\r\n", b"hello", "a size with 19 leading zeros: still 5"),
        (CHUNKED_HEAD + b"5" + b";a=b" * 1023 + b";ab\r\nhello\r\n0\r\n\r\n", b"hello",
         "a size line of exactly MAX_CHUNK_LINE_BYTES (4096 bytes), the most allowed"),
        (CHUNKED_HEAD + b"1A\r\n" + b"y" * 26 + b"\r\n000\r\n\r\n", b"y" * 26, "upper-case hex, and 000 as the last"),
        (CHUNKED_HEAD + b"0005\r\nhello\r\n0\r\n\r\n", b"hello", "a size with leading zeros"),
        (chunked_request([b"hi"], extension=b";name=value"), b"hi", "a chunk extension, which is ignored"),
        (chunked_request([b"hi"], extension=b' ; a="q \\" ;"'), b"hi", "an extension with a quoted value"),
        (chunked_request([b"hi"], trailers=b"X-Checksum: 42\r\n"), b"hi", "a trailer field, which is dropped"),
        (chunked_request([b"a\r\n0\r\n\r\n"]), b"a\r\n0\r\n\r\n", "data that looks like the end, but is data"),
        (chunked_request([]), b"", "no chunk but the last: an empty body"),
        (chunked_request([b"hello"], after=after), b"hello", "the next request right behind"),
    ]:
        request, used = parsed_body(request_module, data)
        expect_equal(f"the body of {what}", request.body, body, sent=data,
                     meaning="Each chunk is its size in hex, CRLF, that many bytes, CRLF; the chunk of size 0 "
                     "(then any trailer fields, then CRLF) ends the body.")
        expect_equal(f"used, for {what}", used, len(data) - (len(after) if data.endswith(after) else 0), sent=data,
                     meaning="used counts the bytes of this request, up to the CRLF after the last chunk and its "
                     "trailers: what follows is the next request's.")


@st.composite
def chunked_bodies(draw):
    """A chunked body as a client may send it: any sizes, hex in either case, leading zeros, extensions, trailers."""
    pieces = draw(st.lists(st.binary(min_size=1, max_size=40), max_size=6))
    encoded = b""
    for piece in pieces:
        digits = b"%x" % len(piece)
        digits = draw(st.sampled_from([digits, digits.upper(), b"00" + digits]))
        extension = draw(st.sampled_from([b"", b";a", b";a=b", b';n="v"']))  # h11 takes no space before ;
        encoded += digits + extension + b"\r\n" + piece + b"\r\n"
    trailers = draw(st.sampled_from([b"", b"X-T: 1\r\n", b"A: b\r\nC: d\r\n"]))
    encoded += draw(st.sampled_from([b"0", b"000"])) + b"\r\n" + trailers + b"\r\n"
    return b"".join(pieces), encoded, draw(st.integers(min_value=0, max_value=len(encoded) - 1))


@pytest.mark.task(2, needs=(1,))
@pytest.mark.hint("Until the whole chunk (data and its CRLF) is there, read_chunk returns None; until the "
                  "blank line after the last chunk is there, parse_request does too.", docs="#reading-a-chunk")
def test_a_chunked_body_agrees_with_h11_whole_and_in_part(request_module):
    """Chunked bodies drawn at random are read as h11 reads them, and are not complete a byte too early"""
    chunked_agrees(request_module)


@course_settings(max_examples=120)
@given(drawn=chunked_bodies())
@example(drawn=(b"", b"0\r\n\r\n", 3))
def chunked_agrees(request_module, drawn):
    body, encoded, cut = drawn
    data = CHUNKED_HEAD + encoded
    expected = h11_body(data)
    if expected != body:  # the drawing is wrong, not the learner: say so plainly
        raise AssertionError(f"the course's own generator made a body h11 reads as {expected!r}: {data!r}")
    request, used = parsed_body(request_module, data)
    expect_equal("the decoded body (h11 reads the same bytes as the body in 'expected')", request.body, body,
                 sent=data)
    expect_equal("used", used, len(data), sent=data)
    prefix = data[:len(CHUNKED_HEAD) + cut]
    got = call(request_module.parse_request, prefix, shown=f"parse_request({short(prefix)})")
    if got is not None:
        raise CheckFailed(f"parse_request returned a request from the first {len(prefix)} of {len(data)} bytes.",
                          sent=visible(prefix), expected="None: the chunked body has not all arrived",
                          received=short(got, 200),
                          meaning="The body ends only after the chunk of size 0 and the blank line after the trailers.")


@pytest.mark.task(2, needs=(1,))
@pytest.mark.hint("A size line that is not hex digits (then optional ;extensions), data that is not followed by "
                  "CRLF right where the size says, and a trailer line without a colon are 400; a chunk that "
                  "would take the body past max_body is 413, before its data arrives.", docs="#reading-a-chunk")
def test_a_malformed_chunk_is_refused(request_module):
    """A bad chunk size, data longer or shorter than its size, or a bad trailer gets 400; too much gets 413"""
    bad = HTTPStatus.BAD_REQUEST
    for encoded, status, why in [
        (b"x\r\nhello\r\n0\r\n\r\n", bad, "x is not a hex digit"),
        (b"-5\r\nhello\r\n0\r\n\r\n", bad, "a size has no sign"),
        (b"+5\r\nhello\r\n0\r\n\r\n", bad, "a size has no sign, not even + (which int() takes)"),
        (b"1_0\r\n" + b"h" * 16 + b"\r\n0\r\n\r\n", bad, "a size is hex digits only, no _ (which int() takes)"),
        (b"0x5\r\nhello\r\n0\r\n\r\n", bad, "a size has no 0x in front"),
        (b"\r\nhello\r\n0\r\n\r\n", bad, "a size line with no size"),
        (b"5\r\nhello!\r\n0\r\n\r\n", bad, "the data is longer than its size: CRLF must follow the 5th byte"),
        (b"5\r\nhell\r\n0\r\n\r\n", bad, "the data is shorter than its size: the 5 bytes hold a CR, and no CRLF follows"),
        (b"5\r\nhelloXY3\r\nabc\r\n0\r\n\r\n", bad, "the two bytes after a chunk's data must be CRLF, not XY"),
        (b"5;\r\nhello\r\n0\r\n\r\n", bad, "an extension needs a name after the ;"),
        (b"5\nhello\r\n0\r\n\r\n", bad, "the size line ends with a lone LF, not CRLF"),
        (b"5\r\nhello\r\n0\r\nno colon here\r\n\r\n", bad, "a trailer line is a field: name, colon, value"),
        (b"5" + b" " * 5000 + b"\r\nhello\r\n0\r\n\r\n", bad, "a size line of 5000 bytes: nobody needs that"),
        (b"400\r\n", HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a chunk of 1024 bytes when max_body is 1000"),
        (b"200\r\n" + b"a" * 512 + b"\r\n200\r\n", HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
         "two chunks of 512 bytes when max_body is 1000"),
        (b"f" * 40 + b"\r\n", HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a size of 40 hex digits"),
    ]:
        expect_refusal(request_module.HTTPError, request_module.parse_request, CHUNKED_HEAD + encoded, 1000,
                       status=status, why=why)
    endless = CHUNKED_HEAD + b"5" + b";a=b" * 1024  # a size line that never ends: 4097 bytes, and no CRLF yet
    expect_refusal(request_module.HTTPError, request_module.parse_request, endless, 1000, status=bad,
                   why="a size line over 4096 bytes is refused before its CRLF comes: waiting would let it grow")
    waiting = call(request_module.parse_request, endless[:-1], 1000, shown="parse_request(a size line of 4096 bytes)")
    expect_equal("parse_request for a size line of exactly 4096 bytes, no CRLF yet", waiting, None,
                 meaning="MAX_CHUNK_LINE_BYTES is 4096: a line of that length is allowed, and may still end.")
    full = CHUNKED_HEAD + b"3e8\r\n" + b"a" * 1000 + b"\r\n0\r\n\r\n"
    request, _ = parsed_body(request_module, full, max_body=1000)
    expect_equal("the body of one chunk of exactly max_body (1000, 3e8 in hex) bytes", len(request.body), 1000,
                 sent=full[:80], meaning="A body of exactly max_body bytes is allowed; one byte more is not.")


def response_head(response_module, response):
    raw = call(response.to_bytes, shown="response.to_bytes()")
    if not isinstance(raw, bytes):
        raise CheckFailed("to_bytes() must return bytes.", received=short(raw))
    return raw.partition(b"\r\n\r\n")[0].decode("latin-1")


def fields_of(head):
    fields = {}
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    return fields


def make_response(response_module, status=200, body=b"hi", chunks=None, length=None, keep_alive=True,
                  version="HTTP/1.1"):
    response = response_module.HTTPResponse(status, body)
    if chunks is not None:
        response.chunks, response.length = chunks, length
    response.keep_alive, response.client_version = keep_alive, version
    return response


@pytest.mark.task(3)
@pytest.mark.hint("Content-Length when the length is known; Transfer-Encoding: chunked for an unknown length "
                  "(self.chunked); neither for 204 and 304. Connection: close when self.closes_connection; "
                  "Connection: keep-alive for an HTTP/1.0 client kept open.", docs="#framing-each-response")
def test_each_response_says_how_it_ends_and_what_follows(response_module):
    """Each response frames its body one way (length, chunks, or none) and says whether the connection goes on"""
    def pieces():
        yield b"a"

    cases = [
        ("200 with a body, kept open", dict(), {"content-length": ["2"]}, ["connection", "transfer-encoding"]),
        ("200 with a body, closing", dict(keep_alive=False), {"content-length": ["2"], "connection": ["close"]},
         ["transfer-encoding"]),
        ("streamed, length known", dict(chunks=pieces(), length=1, body=b""), {"content-length": ["1"]},
         ["transfer-encoding", "connection"]),
        ("streamed, length unknown, HTTP/1.1", dict(chunks=pieces(), body=b""), {"transfer-encoding": ["chunked"]},
         ["content-length", "connection"]),
        ("streamed, length unknown, HTTP/1.0", dict(chunks=pieces(), body=b"", version="HTTP/1.0"),
         {"connection": ["close"]}, ["content-length", "transfer-encoding"]),
        ("HTTP/1.0 kept open", dict(version="HTTP/1.0"), {"content-length": ["2"], "connection": ["keep-alive"]},
         ["transfer-encoding"]),
        ("204 No Content", dict(status=204, body=b""), {}, ["content-length", "transfer-encoding", "connection"]),
        ("304 Not Modified, streamed", dict(status=304, body=b"", chunks=pieces()), {},
         ["content-length", "transfer-encoding", "connection"]),
    ]
    for what, settings, wanted, unwanted in cases:
        head = response_head(response_module, make_response(response_module, **settings))
        found = fields_of(head)
        wrong = {name: value for name, value in wanted.items() if [v.lower() for v in found.get(name, [])] != value}
        extra = [name for name in unwanted if name in found]
        if wrong or extra:
            raise CheckFailed(
                f"The head of a response ({what}) does not frame it right.",
                received=head,
                expected="; ".join([f"{name}: {', '.join(value)}" for name, value in wanted.items()]
                                   + [f"no {name}" for name in unwanted]),
                meaning="The client reads the body by exactly one rule: Content-Length, chunks, or until the "
                "close (HTTP/1.0 only). 204 and 304 have no body at all. An HTTP/1.1 connection stays open "
                "unless the response says Connection: close; an HTTP/1.0 one closes unless it says keep-alive.")


class Collector:
    """A client socket that only collects what is sent to it."""

    def __init__(self):
        self.sent = bytearray()
        self.writes = 0

    def sendall(self, data):
        self.sent += data
        self.writes += 1

    send = sendall


def h11_read(raw, method="GET"):
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
    client.send(h11.EndOfMessage())
    client.receive_data(raw)
    body = bytearray()
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, h11.EndOfMessage):
            return bytes(body), client.trailing_data[0]
        elif event is h11.NEED_DATA:
            raise h11.RemoteProtocolError("the response stops before its body ends")


@pytest.mark.task(4)
@pytest.mark.hint("For each piece: skip it if empty, else send its size in hex, CRLF, the piece, CRLF "
                  "(b\"%x\\r\\n\" % len(piece)); after the loop, the last chunk b\"0\\r\\n\\r\\n\".",
                  docs="#sending-chunks")
def test_a_streamed_body_goes_out_in_chunks(response_module):
    """A body of unknown length goes out as chunks h11 reads back, empty pieces skipped, ended by the last chunk"""
    for what, pieces in [("three pieces", [b"10\n", b"9\n", b"liftoff!\n"]),
                         ("an empty piece in the middle", [b"a", b"", b"b"]),
                         ("a piece of 70000 bytes", [b"z" * 70000]),
                         ("no pieces at all", [])]:
        response = make_response(response_module, body=b"", chunks=iter(pieces))
        client = Collector()
        call(response.write_to, client, shown="response.write_to(client)")
        raw = bytes(client.sent)
        if not raw.startswith(b"HTTP/1.1 200 "):
            raise CheckFailed(f"write_to sent no head for a streamed body ({what}).", received=visible(raw),
                              expected="HTTP/1.1 200 OK, its fields, then the chunks",
                              meaning="Every request gets one answer: with no piece to carry it, the head (and the "
                              "last chunk) must still go out, or the next answer on the connection is read as this one.")
        chunks = raw.partition(b"\r\n\r\n")[2]  # the head is TODO 3's: here only what follows it is read
        try:
            body, extra = h11_read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        except h11.RemoteProtocolError as problem:
            raise CheckFailed(f"h11 (a strict HTTP/1.1 parser) cannot read the chunks of a response ({what}).",
                              received=visible(raw), expected=f"the body {short(b''.join(pieces))}, in chunks",
                              meaning=f"h11 says: {problem}. An empty piece sent as a chunk of size 0 would end "
                              "the body early: skip it.") from None
        expect_equal(f"the body h11 reads ({what})", body, b"".join(pieces), sent=None)
        if extra:
            raise CheckFailed(f"More bytes came after the last chunk ({what}).", received=visible(raw),
                              expected="nothing after 0\\r\\n\\r\\n",
                              meaning="On a kept-open connection, those bytes would be read as the next response.")
    for what, length, version in [("no pieces, and a length of 0", 0, "HTTP/1.1"),
                                  ("no pieces, to an HTTP/1.0 client, which reads until the close", None, "HTTP/1.0")]:
        response = make_response(response_module, body=b"", chunks=iter([]), length=length, version=version,
                                 keep_alive=length == 0)
        client = Collector()
        call(response.write_to, client, shown="response.write_to(client)")
        raw = bytes(client.sent)
        if not raw.startswith(b"HTTP/1.1 200 ") or raw.partition(b"\r\n\r\n")[1:] != (b"\r\n\r\n", b""):
            raise CheckFailed(f"write_to did not send the head alone for a streamed body with {what}.",
                              received=visible(raw) if raw else "(nothing)", expected="HTTP/1.1 200 OK, its fields, "
                              "and nothing after the blank line: no chunk, since this body is not chunked",
                              meaning="Every request gets one answer: with no piece to carry it, the head must "
                              "still go out, or the next answer on the connection is read as this one's.")


@pytest.mark.task(5)
@pytest.mark.hint("Split every Connection field at commas, strip and lower-case each option; close means no; "
                  "otherwise HTTP/1.1 means yes, and HTTP/1.0 means yes only with keep-alive.",
                  docs="#who-closes")
def test_who_keeps_the_connection_open(server_module, make_request):
    """keeps_open: HTTP/1.1 unless Connection says close; HTTP/1.0 only with keep-alive"""
    for version, fields, expected in [
        ("HTTP/1.1", [], True),
        ("HTTP/1.1", [("Connection", "close")], False),
        ("HTTP/1.1", [("Connection", "Close")], False),
        ("HTTP/1.1", [("Connection", "keep-alive, close")], False),
        ("HTTP/1.1", [("Connection", "Upgrade,close")], False),
        ("HTTP/1.1", [("Connection", "keep-alive,\tclose")], False),
        ("HTTP/1.1", [("Connection", "TE"), ("connection", "close")], False),
        ("HTTP/1.1", [("Connection", "Upgrade")], True),
        ("HTTP/1.1", [("Connection", "closed")], True),
        ("HTTP/1.0", [], False),
        ("HTTP/1.0", [("Connection", "keep-alive")], True),
        ("HTTP/1.0", [("Connection", "Keep-Alive ")], True),
        ("HTTP/1.0", [("Connection", "TE,\tkeep-alive")], True),
        ("HTTP/1.0", [("Connection", "keep-alive"), ("Connection", "close")], False),
    ]:
        request = make_request("GET", "/", fields, version=version)
        got = call(server_module.keeps_open, request, shown=f"keeps_open(a {version} request with {fields})")
        expect_equal(f"keeps_open for {version} with {fields or 'no Connection field'}", got, expected,
                     meaning="Connection holds a comma-separated list of options, in any case, with spaces or tabs "
                     "around the commas, perhaps in several fields. The option close ends the connection; HTTP/1.1 keeps it by default, HTTP/1.0 only "
                     "when asked with keep-alive (RFC 9112, section 9.3).")


class RecordingSocket(socket.socket):
    """A real connected socket that notes the options set on it."""

    def __init__(self, accepted):
        super().__init__(accepted.family, accepted.type, accepted.proto, fileno=accepted.detach())
        self.options = []

    def setsockopt(self, level, name, value, *rest):
        self.options.append((level, name, value))
        super().setsockopt(level, name, value, *rest)


def connected_pair():
    """(the server's end as a RecordingSocket, the client's end) of a new loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname(), timeout=10)
        accepted, _ = listener.accept()
    return RecordingSocket(accepted), peer


@pytest.mark.task(7, needs=(1, 3, 5, 6))
@pytest.mark.hint("client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1), first thing in handle_client.",
                  docs="#nagle-and-delayed-acks")
def test_the_connection_sends_without_delay(server_module):
    """handle_client turns off Nagle's algorithm (TCP_NODELAY) on the connection"""
    server = server_module.HTTPServer(handler=lambda request: server_module.error_response(404, ""))
    client, peer = connected_pair()
    with client, peer:
        peer.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        peer.shutdown(socket.SHUT_WR)  # all it will send: as in the other checks of this file, nothing is waited for
        call(server.handle_client, client, ("127.0.0.1", 50000), shown="handle_client(client, address)")
        client.close()  # handle_client should have: so the loop below ends whatever it did
        answer = b""
        while chunk := peer.recv(65536):
            answer += chunk
    if (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) not in [(level, name, int(value)) for level, name, value in client.options]:
        raise CheckFailed("handle_client did not set TCP_NODELAY on the client's socket.",
                          received=f"setsockopt calls: {client.options or 'none'}",
                          expected="setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)",
                          meaning="Without it, a small write waits until the client acknowledges the one before, "
                          "and clients delay acknowledgements by up to 40 ms: every second response on a connection "
                          "could wait that long (Nagle's algorithm meets delayed ACK).")
    if not answer.startswith(b"HTTP/1.1 404"):
        raise CheckFailed("handle_client did not answer the request.", received=visible(answer),
                          expected="HTTP/1.1 404 ...")
