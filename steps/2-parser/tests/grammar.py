"""Requests drawn from RFC 9112's grammar, valid and broken, and h11's reading of them.

Step 2's property checks use this module (it is not a check itself). Hypothesis
draws a request piece by piece: the request line, the header fields, the
framing (Content-Length, Transfer-Encoding), the body, and sometimes the start
of a next request after it. Each piece is usually well-formed and sometimes
broken in one of the ways clients, proxies and attackers break it; every break
is recorded as an ``Oddity``: what it is, in plain words, and what the course
answers to it. Shrinking drops the breaks that do not matter, so a failing
check shows the smallest request that still fails, with its one oddity named.

h11, a strict HTTP/1.1 parser written by other people, is the oracle: what it
reads, the learner's parser must read the same way (method, target, version,
headers, body, bytes used); what it refuses, the learner's parser must refuse.

Where the course is stricter than h11, or leaves a choice the RFC leaves open,
the ``Oddity`` says so, and the comparison follows it (docs/steps/2-parser.md,
"Where the course is stricter than h11", says the same to learners):

* the target must be origin-form (it starts with /) or absolute-form (a full
  http:// URL), and printable ASCII: 400. h11 takes any visible bytes: ``*``,
  ``host:port``. parse_request hands a full URL on as a path, its host as the
  Host field (RFC 9112, section 3.2.2): ``as_served()`` reads h11's answer so;
* only HTTP/1.0 and HTTP/1.1 are spoken: 505. h11 reads any ``HTTP/x.y``;
* ``Transfer-Encoding`` is refused: 501, or 400 beside ``Content-Length``.
  h11 reads chunked bodies;
* a ``Content-Length`` over the server's ``max_body`` gets 413, from the head
  alone. h11 would wait for the body (and refuses over 20 digits with 400);
* obsolete line folding is refused with 400; h11 unfolds it. RFC 9112,
  section 5.2 allows both;
* a control character in a header value other than CR, LF and NUL: the course
  refuses it, h11 lets most through (real cookies carry some). RFC 9110,
  section 5.5 allows both, so either passes;
* a lone LF in a header line: the course ends lines at CRLF only and refuses
  a lone CR or LF with 400; h11 takes a lone LF for a line end.
  RFC 9112, section 2.2 allows both, so either passes;
* h11 refuses an HTTP/1.1 request without exactly one ``Host`` (RFC 9112,
  section 3.2), and so does the course; the course also refuses a ``Host``
  that is not a host and port (``a b``), which h11 lets through.
"""

import re
import string
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote

import h11
from hypothesis import strategies as st
from hypothesis.errors import Flaky

CRLF = b"\r\n"

# The max_body the parse_request property passes: small, so that 413 is cheap to reach.
PROPERTY_MAX_BODY = 100

# token = 1*tchar (RFC 9110, section 5.6.2)
TCHARS = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
# Characters that are not tchar, as a learner's token check might forget them.
NOT_TCHAR = (b"@", b",", b";", b":", b'"', b"/", b"(", b")", b"<", b">", b"[", b"]", b"?", b"=", b"{", b"}",
             b"\\", b"\x80", b"\xc3\xa9", b"\x01", b"\x7f")
# VCHAR, and characters whose UTF-8 bytes are all above 127 (obs-text to HTTP).
VISIBLE = "".join(chr(code) for code in range(0x21, 0x7F))
NON_ASCII = "éüßñ€中文😀"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")
FIELD_NAMES = ("Accept", "User-Agent", "X-Thing", "Cookie", "Referer", "accept-language", "X-Forwarded-For",
               "If-None-Match", "Authorization", "X-Trace-Id", "x", "X-!#$%&'*+.^_`|~09", "x_underscore", "1234",
               "A-Very-Long-Field-Name-Indeed")  # none that h11 interprets: no Host, Content-Length, Connection...
HOSTS = (b"example.com", b"127.0.0.1:8080", b"localhost", b"[::1]:8080", b"xn--caf-dma.example")
# Host values that are not uri-host [":" port] (RFC 9110, section 7.2); h11 lets them all through.
BAD_HOSTS = (b"a b", b"u@evil/x", b"evil.example/x", b"[::1", b"example.com:80a", b"a\tb")
# The start of a full URL as a target (absolute-form); an origin-form target follows it.
URL_STARTS = (b"http://example.com", b"HTTP://Example.com:8080", b"https://[::1]")


@dataclass(frozen=True)
class Oddity:
    """One way a drawn request differs from a plain, valid one, and what the course answers to it.

    ``must_refuse``: the course refuses it, with one of ``statuses``, whatever h11 says. Otherwise
    refusing it (with one of ``statuses``) is allowed, and so is reading it the way h11 does.
    ``part`` is the piece of the parser whose job it is: a key of ``PARTS``.
    """

    note: str
    statuses: tuple = (400,)
    must_refuse: bool = True
    part: str = "request line"


# Which function (and TODO) each part of a request is the job of.
PARTS = {
    "request line": "parse_request_line (TODO 1)",
    "header": "parse_headers (TODO 2)",
    "target": "split_target (TODO 3)",
    "framing": "parse_request (TODO 4), with the given body_length()",
    "host": "parse_request (TODO 4), with the given check_host()",
    "body": "parse_request (TODO 4)",
}


def shown(data):
    """A byte string as a Python literal, at most 60 characters of it."""
    text = repr(bytes(data))
    return text if len(text) <= 60 else text[:57] + "..."


def sometimes(draw, valid, choices, odds=4):
    """None about (odds - 1) times in odds, and always when ``valid``; else one of ``choices``.

    One draw (drawing is what costs time here). Shrinking moves towards None, the first
    choice, so a failing example keeps only the breaks it needs.
    """
    if valid:
        return None
    return draw(st.sampled_from((None,) * ((odds - 1) * len(choices)) + tuple(choices)))


def insert(draw, data, piece, start=0):
    """``data`` with ``piece`` put in at a drawn position at or after ``start``."""
    at = draw(st.integers(min(start, len(data)), len(data)))
    return data[:at] + piece + data[at:]


def run_property(check, *fixtures):
    """Run a property; if its failure did not happen again on the second try, report the first one.

    Hypothesis runs a failing input twice; when the second run passes (a server's timing, say), it
    raises Flaky with both outcomes. The learner should read the failure itself, not that story.
    """
    try:
        check(*fixtures)
    except Flaky as flaky:
        failures = [error for error in getattr(flaky, "exceptions", ()) if isinstance(error, AssertionError)]
        if failures:
            raise failures[0] from None
        raise


# --- The request line ---------------------------------------------------------------------------------
# request-line = method SP request-target SP HTTP-version        (RFC 9112, section 3)

path_segments = st.text(alphabet=string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@ é/%" + NON_ASCII,
                        max_size=10).map(lambda text: quote(text, safe="-._~!$&'()*+,;=:@/%"))
# Queries as clients send them: lists, empty values, + for a space, %26 for an &, a second ?, a stray %.
QUERIES = ("", "?", "?x=1", "?x=1&x=2&empty=", "?q=a+b%26c", "?name=caf%C3%A9", "?flag", "?a=1?b=2",
           "?%zz=1&ok=2", "?x=%2F..%2F", "?a=1&a=&a", "?key=v=w", "?x=1#part")


@st.composite
def origin_targets(draw):
    """``/path?query`` as a client sends it: percent-encoded where it must be, + and %xx in the query."""
    return ("/" + draw(path_segments) + draw(st.sampled_from(QUERIES))).encode("ascii")


@st.composite
def request_lines(draw, valid=False, odds=2):
    """``(request line without its CRLF, [Oddity])``, broken about once in ``odds``."""
    method = draw(st.sampled_from(METHODS) | st.text(TCHARS, min_size=1, max_size=7)).encode("ascii")
    target = draw(origin_targets())
    version = draw(st.sampled_from((b"HTTP/1.1", b"HTTP/1.0")))
    first, second, before, after = b" ", b" ", b"", b""
    oddities = []
    kind = sometimes(draw, valid, [
        "method char", "method empty", "two spaces", "tab", "other whitespace", "before", "after",
        "absolute", "asterisk", "authority", "relative", "raw byte", "space in target",
        "unsupported version", "malformed version", "two parts",
    ], odds)
    if kind == "method char":
        bad = draw(st.sampled_from(NOT_TCHAR))
        method = insert(draw, method, bad)
        oddities.append(Oddity(f"the method holds {shown(bad)}, which a token cannot have"))
    elif kind == "method empty":
        method = b""
        oddities.append(Oddity("the method is empty, so the line starts with a space"))
    elif kind in ("two spaces", "tab", "other whitespace"):
        gap = {"two spaces": b"  ", "tab": b"\t"}.get(kind) or draw(st.sampled_from((b" \t", b"\t ", b"\x0b", b"\x0c")))
        where = draw(st.sampled_from(("after the method", "before the version")))
        if where == "after the method":
            first = gap
        else:
            second = gap
        oddities.append(Oddity(f"{shown(gap)} {where} instead of one space (SP is exactly one space byte)"))
    elif kind in ("before", "after"):
        space = draw(st.sampled_from((b" ", b"\t", b"\x0b") if kind == "after" else (b" ", b"\t")))
        if kind == "before":
            before = space
        else:
            after = space
        oddities.append(Oddity(f"{shown(space)} {kind} the request line's three parts"))
    elif kind == "absolute":
        target = draw(st.sampled_from(URL_STARTS)) + target  # absolute-form: a server MUST accept it
    elif kind == "asterisk":
        target = b"*"
        oddities.append(Oddity("the target * (asterisk-form, for OPTIONS *): the course wants origin-form"))
    elif kind == "authority":
        target = b"example.com:443"
        oddities.append(Oddity("the target host:port (authority-form, for CONNECT): the course wants origin-form"))
    elif kind == "relative":
        target = target.lstrip(b"/") or b"index.html"
        oddities.append(Oddity("a target that does not start with /"))
    elif kind == "raw byte":
        bad = draw(st.sampled_from((b"\xc3\xa9", b"\x80", b"\xff", b"\x7f", b"\x01", b"\x00")))
        target = insert(draw, target, bad, start=1)
        oddities.append(Oddity(f"the raw byte(s) {shown(bad)} in the target, which must be printable ASCII"))
    elif kind == "space in target":
        target = insert(draw, target, b" ", start=1)
        oddities.append(Oddity("a space inside the target, which makes four parts"))
    elif kind == "unsupported version":
        version = draw(st.sampled_from((b"HTTP/2.0", b"HTTP/0.9", b"HTTP/3.0", b"HTTP/1.2")))
        oddities.append(Oddity(f"the version {version.decode()}, well-formed but not spoken here", statuses=(505,)))
    elif kind == "malformed version":
        version = draw(st.sampled_from((b"HTTP/1", b"HTTP/11", b"http/1.1", b"HTTP/1.1.1", b"HTTPS/1.1",
                                        b"HTTP/1.x", b"HTTP/1,1", b"HTTP/\xd9\xa1.1")))
        oddities.append(Oddity(f"the version {shown(version)}, which is not HTTP/digit.digit"))
    line = before + method + first + target + second + version + after
    if kind == "two parts":
        line = method + b" " + target
        oddities.append(Oddity("only two parts: no version"))
    return line, oddities


# --- Header fields -------------------------------------------------------------------------------------
# field-line = field-name ":" OWS field-value OWS                  (RFC 9112, section 5)

field_names = st.sampled_from(tuple(name.encode("ascii") for name in FIELD_NAMES))
# Field values as they come: colons, commas, quotes, UTF-8 and bytes above 127 that are not UTF-8 (obs-text),
# spaces and tabs inside. Drawn whole, mostly, which keeps each request cheap to draw.
FIELD_VALUES = (
    b"a", b"", b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", b"localhost:8080", b"a:b:c", b"1, 2,  3",
    b'"quoted, with a comma"', "café".encode(), "日本語 ✓".encode(), b"caf\xe9", b"\x80\xff", b"a \t b",
    b"x" * 40, b"=?utf-8?q?x?=", b"Mozilla/5.0 (X11; Linux x86_64)", b"id=1; theme=dark", b"%41%zz", b"#!$%&'*+-.^_`|~",
)
value_words = st.text(alphabet=VISIBLE + NON_ASCII, min_size=1, max_size=8).map(str.encode)
# OWS before and after a value, both at once: the plain one first (shrinking goes there).
SPACES_AROUND = ((b" ", b""), (b"", b""), (b"  ", b" "), (b"\t", b"\t"), (b" \t", b" \t "), (b" ", b" "),
                 (b"", b"\t"))
spaces_around = st.sampled_from(SPACES_AROUND)

# Control characters a value must not hold, with what h11 does with each.
MUST_REFUSE_IN_VALUE = {b"\r": "a CR", b"\x00": "a NUL", b"\x0b": "a vertical tab", b"\x0c": "a form feed"}
MAY_REFUSE_IN_VALUE = (b"\x01", b"\x08", b"\x1b", b"\x1f", b"\x7f")


@st.composite
def draw_field_value(draw):
    """A field value: words of visible characters and bytes above 127, with spaces and tabs between."""
    return draw(st.sampled_from(FIELD_VALUES) | value_words)


field_values = draw_field_value()


def field_line(draw, name, value, valid=False, odds=5):
    """``(line, [Oddity])`` for one field, broken about once in ``odds``."""
    colon, (space_before, space_after) = b":", draw(spaces_around)
    oddities = []
    kind = sometimes(draw, valid, ["space before colon", "empty name", "name char", "no colon", "control"], odds)
    if kind == "space before colon":
        gap = draw(st.sampled_from((b" ", b"\t")))
        name += gap
        oddities.append(Oddity(f"{shown(gap)} between the field name and the colon (RFC 9112, section 5.1)",
                               part="header"))
    elif kind == "empty name":
        name = b""
        oddities.append(Oddity("a field line with an empty name", part="header"))
    elif kind == "name char":
        bad = draw(st.sampled_from(NOT_TCHAR[:-3] + (b" ", b"\x01")))
        name = insert(draw, name, bad)
        oddities.append(Oddity(f"the field name holds {shown(bad)}, which a token cannot have", part="header"))
    elif kind == "no colon":
        colon, space_before = b"", b" "
        oddities.append(Oddity("a field line without a colon", part="header"))
    elif kind == "control":
        control = draw(st.sampled_from((b"\r", b"\n", b"\x00", b"\x0b", b"\x0c", *MAY_REFUSE_IN_VALUE)))
        value = insert(draw, value, control)
        if control == b"\n":
            oddities.append(Oddity("a lone LF inside a field line: h11 takes it for a line end, the course "
                                   "refuses it (both are allowed)", must_refuse=False, part="header"))
        elif control in MUST_REFUSE_IN_VALUE:
            oddities.append(Oddity(f"{MUST_REFUSE_IN_VALUE[control]} ({shown(control)}) inside a field value "
                                   "(RFC 9110, section 5.5)", part="header"))
        else:
            oddities.append(Oddity(f"the control character {shown(control)} inside a field value: h11 lets it "
                                   "through, the course refuses it (both are allowed)", must_refuse=False,
                                   part="header"))
    return name + colon + space_before + value + space_after, oddities


host_lines = st.sampled_from(tuple(name + b":" + before + host + after for host in HOSTS
                                   for before, after in SPACES_AROUND for name in (b"Host", b"host", b"HOST")))


@st.composite
def header_blocks(draw, valid=False, most=4, odds=3):
    """``([field line], [Oddity])``: one Host and up to ``most`` other fields, in any order, maybe a folded line.

    Each field is broken about once in ``odds``; a folded line comes about once in 2 * ``odds``.
    """
    lines, oddities = [draw(host_lines)], []
    for _ in range(draw(st.integers(0, most))):
        line, odd = field_line(draw, draw(field_names), draw(field_values), valid, odds)
        lines.append(line)
        oddities += odd
    lines = draw(st.permutations(lines))
    if sometimes(draw, valid, ["fold"], odds=2 * odds):
        fold = draw(st.sampled_from((b" ", b"\t"))) + draw(field_values.filter(bool))
        lines = insert_line(draw, lines, fold)
        oddities.append(Oddity("a line that starts with whitespace (obsolete line folding, RFC 9112, section 5.2): "
                               "h11 joins it to the line before, the course refuses it", part="header"))
    return lines, oddities


def insert_line(draw, lines, line):
    at = draw(st.integers(0, len(lines)))
    return [*lines[:at], line, *lines[at:]]


# --- Framing and body ----------------------------------------------------------------------------------
# Content-Length = 1*DIGIT                                        (RFC 9110, section 8.6)

bodies = (
    st.binary(max_size=12)
    | st.text(alphabet=VISIBLE + " \r\n" + NON_ASCII, max_size=8).map(str.encode)
    | st.sampled_from((b"a\r\n\r\nb", b"\r\n\r\n", b"caf\xc3\xa9\r\n"))
)


def content_lengths(draw, number, max_body, valid=False, odds=4):
    """``([Content-Length values], [Oddity])`` that say ``number``, badly about once in ``odds``."""
    plain = str(number).encode()
    form = draw(st.sampled_from(("plain",) * 4 + ("zeros", "list", "list tight", "twice")))
    values = {
        "plain": [plain],
        "zeros": [b"0" * draw(st.integers(1, 3)) + plain],
        "list": [plain + b", " + plain],
        "list tight": [plain + b"," + plain],
        "twice": [plain, plain],
    }[form]
    oddities = []
    if number > max_body:
        oddities.append(Oddity(f"Content-Length {number} is over max_body ({max_body}): 413 from the head alone",
                               statuses=(413,), part="framing"))
    bad = sometimes(draw, valid, ["sign", "minus", "two numbers", "different", "different fields", "empty",
                                  "trailing comma", "leading comma", "hex", "decimal", "underscore",
                                  "arabic digit", "nbsp", "huge"], odds)
    if bad is None:
        return values, oddities
    other = str(number + 1).encode()
    values, note = {
        "sign": ([b"+" + plain], "a plus sign"),
        "minus": ([b"-" + plain], "a minus sign"),
        "two numbers": ([plain + b" " + plain], "two numbers with a space between"),
        "different": ([plain + b", " + other], "a list of two different lengths"),
        "different fields": ([plain, other], "two Content-Length fields that differ"),
        "empty": ([b""], "an empty value"),
        "trailing comma": ([plain + b","], "a trailing comma"),
        "leading comma": ([b"," + plain], "a leading comma"),
        "hex": ([b"0x" + format(number, "x").encode()], "a hexadecimal number"),
        "decimal": ([plain + b".0"], "a decimal point"),
        "underscore": ([b"1_" + plain], "an underscore (which int() accepts)"),
        "arabic digit": (["٥".encode()], "an Arabic-Indic digit five (which int() accepts)"),
        "nbsp": ([plain + b"\xa0"], "a no-break space (byte A0) after the number, which str.strip() removes"),
        "huge": ([b"9" * draw(st.integers(19, 30))], "a number of 19 to 30 digits"),
    }[bad]
    if bad == "huge":
        return values, [Oddity(f"Content-Length is {note}, far over max_body: 413 (h11 says 400 past 20 digits)",
                               statuses=(413,), part="framing")]
    return values, [Oddity(f"Content-Length with {note}: not a valid length (RFC 9112, section 6.3)",
                           part="framing")]


@dataclass(frozen=True)
class Case:
    """A drawn request for parse_request: the bytes, what is odd about them, and a place to cut them short."""

    data: bytes  # the request, then maybe the start of the next one
    length: int  # how many bytes of ``data`` the request itself takes, as drawn
    oddities: tuple = ()
    cut: int = 0  # a shorter prefix, to feed first: "the bytes so far"
    max_body: int = PROPERTY_MAX_BODY

    @classmethod
    def pinned(cls, data, *oddities, after=b"", max_body=PROPERTY_MAX_BODY):
        """A case written by hand, for ``@example``: a bug once found, pinned so it never returns."""
        return cls(data + after, len(data), tuple(oddities), max(0, len(data) - 1), max_body)


@st.composite
def requests(draw, valid=False):
    """A whole request for parse_request: request line, fields, framing, body, maybe more after it."""
    # Each piece is broken less often than in the properties of the pieces alone, so that about half
    # of the requests are valid, and the framing (complete, short, with more after) gets its turn.
    framing = draw(st.sampled_from(("exact", "short", "long", "none")))  # drawn first: it varies most
    line, oddities = draw(request_lines(valid, odds=10))
    lines, odd = draw(header_blocks(valid, most=3, odds=12))
    oddities += odd
    body = draw(bodies)
    if framing == "none" and body and draw(st.booleans()):
        body = b""
    if framing != "none":
        number = {"exact": len(body), "short": len(body) + draw(st.integers(1, 4)),
                  "long": max(0, len(body) - draw(st.integers(1, 4)))}[framing]
        if sometimes(draw, valid, ["over the limit"], odds=12):
            number = PROPERTY_MAX_BODY + draw(st.integers(1, 10**6))
        values, odd = content_lengths(draw, number, PROPERTY_MAX_BODY, valid, odds=8)
        oddities += odd
        for value in values:
            name = draw(st.sampled_from((b"Content-Length", b"content-length", b"CONTENT-LENGTH")))
            before, after = draw(spaces_around)
            lines = insert_line(draw, lines, name + b":" + before + value + after)
    lines, odd = host_oddity(draw, lines, line.endswith(b"HTTP/1.0"), valid)
    oddities += odd
    coding = sometimes(draw, valid, [b"chunked", b"gzip, chunked", b"identity", b"Chunked"], odds=14)
    if coding is not None:
        lines = insert_line(draw, lines, b"Transfer-Encoding: " + coding)
        together = framing != "none"
        oddities.append(Oddity(
            "Transfer-Encoding " + ("beside Content-Length: two framings, refused with 400" if together
                                    else "(a chunked body): not implemented here, 501"),
            statuses=(400,) if together else (501,), part="framing"))
    message = line + CRLF + CRLF.join(lines) + CRLF + CRLF + body
    after = b"" if framing == "short" else draw(st.sampled_from((b"", b"GET /next HTTP/1.1\r\n")))
    cut = draw(st.integers(0, len(message) - 1))
    return Case(message + after, len(message), tuple(oddities), cut)


def host_oddity(draw, lines, http_1_0, valid, odds=12):
    """``(lines, [Oddity])``: the one Host line kept, about once in ``odds`` dropped, doubled or spoiled."""
    kind = sometimes(draw, valid, ["no host", "two hosts", "bad host"], odds)
    at = next(index for index, line in enumerate(lines) if line[:5].lower() == b"host:")
    if kind == "no host":
        lines = lines[:at] + lines[at + 1:]
        return lines, [] if http_1_0 else [Oddity("no Host field in an HTTP/1.1 request (RFC 9112, section 3.2)",
                                                  part="host")]
    if kind == "two hosts":
        lines = insert_line(draw, lines, b"Host: " + draw(st.sampled_from(HOSTS)))
        return lines, [Oddity("two Host fields (RFC 9112, section 3.2)", part="host")]
    if kind == "bad host":
        bad = draw(st.sampled_from(BAD_HOSTS))
        lines = [*lines[:at], b"Host: " + bad, *lines[at + 1:]]
        return lines, [Oddity(f"the Host field is {shown(bad)}, which is not a host and port: h11 lets it through, "
                              "RFC 9112, section 3.2 asks for 400", part="host")]
    return lines, []


# --- h11's reading -------------------------------------------------------------------------------------

@dataclass
class Reading:
    """What a parser made of some bytes: a request, "need more data", or a refusal with a status."""

    outcome: str  # "request", "need more data" or "refused"
    status: int | None = None
    reason: str = ""
    method: object = None
    target: object = None
    version: object = None
    headers: list = field(default_factory=list)  # [(lowercase name, value)], values as latin-1 text
    body: object = None
    used: object = None
    path: object = None
    query_params: object = None


def h11_reads(data):
    """h11's reading of ``data`` as one request from a client."""
    connection = h11.Connection(our_role=h11.SERVER, max_incomplete_event_size=1024 * 1024)
    connection.receive_data(bytes(data))
    try:
        request = connection.next_event()
        if request is h11.NEED_DATA:
            return Reading("need more data")
        body = bytearray()
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                return Reading("need more data")
            if isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
    except h11.RemoteProtocolError as refusal:
        reason = str(refusal).split(": bytearray(", 1)[0]  # h11 quotes the bytes, which are shown anyway
        return Reading("refused", status=refusal.error_status_hint, reason=reason)
    target = request.target.decode("latin-1")
    path, _, query = target.partition("?")
    return Reading(
        "request",
        method=request.method.decode("ascii"),
        target=target,
        version="HTTP/" + request.http_version.decode("ascii"),
        headers=[(name.decode("ascii").lower(), value.decode("latin-1"))
                 for name, value in request.headers.raw_items()],
        body=bytes(body),
        used=len(data) - len(connection.trailing_data[0]),
        path=unquote(path),  # split_target's job, as the course defines it (TODO 3)
        query_params=parse_qs(query, keep_blank_values=True),
    )


def as_served(reading):
    """h11's reading of a request as the course's parse_request hands it on: a full URL becomes its path.

    RFC 9112, section 3.2.2: a server takes the host from an absolute-form target, whatever the Host
    field says. The course's check_host() puts that host in the Host field (last, in place of any
    other) and keeps the path and query as the target.
    """
    url = re.match(r"https?://([^/?#]*)", reading.target, re.IGNORECASE) if reading.outcome == "request" else None
    if not url:
        return reading
    authority, rest = url[1], reading.target[url.end():]
    target = rest if rest.startswith("/") else "/" + rest
    path, _, query = target.partition("?")
    headers = [(name, value) for name, value in reading.headers if name != "host"] + [("host", authority)]
    return Reading("request", method=reading.method, target=target, version=reading.version, headers=headers,
                   body=reading.body, used=reading.used, path=unquote(path),
                   query_params=parse_qs(query, keep_blank_values=True))


@dataclass
class Expected:
    """What the course's parser must do with a case: refuse it, or read it as h11 does, or either."""

    must_refuse: bool
    may_refuse: bool
    statuses: tuple
    reading: Reading  # h11's

    def describe(self, fields=None):
        refusal = "HTTPError with status " + " or ".join(str(status) for status in self.statuses)
        if self.must_refuse:
            return refusal
        agree = describe_reading(self.reading, fields)
        return f"{agree}\nor else {refusal} (both are allowed)" if self.may_refuse else agree


def expectation(oddities, reading):
    """Combine h11's reading with the course's own rules (the oddities) into what the learner's parser must do."""
    statuses = sorted({status for oddity in oddities for status in oddity.statuses}
                      | ({reading.status} if reading.outcome == "refused" else set()))
    must = reading.outcome == "refused" or any(oddity.must_refuse for oddity in oddities)
    return Expected(must, bool(oddities), tuple(statuses), reading)


# The fields of a reading, in the order they are shown.
FIELDS = ("method", "target", "version", "headers", "path", "query_params", "body", "used")


def describe_reading(reading, fields=None):
    """A reading in a few lines: the fields asked for, or what was refused, or "need more data"."""
    if reading.outcome == "other":
        return reading.reason
    if reading.outcome == "need more data":
        return "None: the request is not complete yet (need more data)"
    if reading.outcome == "refused":
        return f"HTTPError with status {reading.status}" + (f": {reading.reason}" if reading.reason else "")
    lines = []
    for name in fields or FIELDS:
        value = getattr(reading, name)
        lines.append(f"{name} = {shown(value) if isinstance(value, (bytes, bytearray)) else repr(value)}")
    return "\n".join(lines)


def without_lengths(headers):
    """Headers without Content-Length, which h11 reports once and normalised ("5, 5" is 5)."""
    return [(name, value) for name, value in headers if name != "content-length"]


def lengths_agree(expected, got):
    """Every Content-Length value the learner kept says what h11's one value says."""
    wanted = [value for name, value in expected if name == "content-length"]
    kept = [part.strip(" \t") for name, value in got if name == "content-length"
            for part in (value.split(",") if isinstance(value, str) else [value])]
    return bool(wanted) == bool(kept) and all(part == wanted[0] for part in kept)


# --- Requests for the demo handler, cut into pieces ------------------------------------------------------

@dataclass(frozen=True)
class Pieces:
    """A valid request for the demo handler (``/echo``, or a description as JSON) and where to cut it."""

    data: bytes
    cuts: tuple  # byte offsets: the request is sent in len(cuts) + 1 writes, cut at each


DEMO_BODIES = (b"", b"hello", "café, naïve, 日本".encode(), b"a\r\n\r\nb", bytes(range(256)), b"\xc3", "😀".encode() * 3)


@st.composite
def demo_requests(draw):
    """A valid request the demo handler answers 200, with cuts where readers go wrong.

    The cuts come from anywhere, and mostly from the places that break readers: inside the blank
    line that ends the head, inside a character of two or more bytes, right after the head, inside
    the body, inside the Content-Length digits.
    """
    echo = draw(st.booleans())
    target = (b"/echo" if echo else b"/" + draw(path_segments).encode("ascii")) + draw(st.sampled_from(QUERIES)).encode()
    body = draw(st.sampled_from(DEMO_BODIES) | st.binary(max_size=40))
    method = draw(st.sampled_from((b"POST", b"PUT"))) if body else draw(st.sampled_from((b"GET", b"POST", b"DELETE")))
    lines = [draw(host_lines), b"User-Agent: " + draw(st.sampled_from((b"checks", "Zoë/1.0 ✓".encode())))]
    if not echo:
        lines.append(b"Accept: application/json")
    if body or method == b"POST":
        lines.append(b"Content-Length: " + str(len(body)).encode())
    for _ in range(draw(st.integers(0, 2))):
        line, _odd = field_line(draw, draw(field_names), draw(field_values), valid=True)
        lines.append(line)
    head = b"%s %s HTTP/1.1\r\n" % (method, target) + CRLF.join(draw(st.permutations(lines))) + CRLF + CRLF
    data = head + body
    inside = [index for index, byte in enumerate(data) if 0x80 <= byte < 0xC0]  # before a UTF-8 continuation byte
    length_at = head.find(b"Content-Length: ") + len(b"Content-Length: ") + 1
    tricky = [len(head) - 3, len(head) - 2, len(head) - 1, len(head), len(head) + len(body) // 2, length_at] + inside
    places = st.sampled_from(tuple(cut for cut in tricky if 0 < cut < len(data))) | st.integers(1, len(data) - 1)
    cuts = draw(st.lists(places, min_size=1, max_size=4, unique=True))
    return Pieces(data, tuple(sorted(cuts)))
