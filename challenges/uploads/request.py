"""Steps 2–5: turn the bytes of a request into an ``HTTPRequest``.

The parser does no I/O. ``parse_request(data)`` looks at the bytes received
so far and returns either a finished request, or ``None`` ("need more data"),
or raises ``HTTPError`` with the status the client should get. That makes it
easy to test: feed it bytes whole, one at a time, or with extra bytes after.

The grammar, from RFC 9112 (HTTP/1.1), in the order a request arrives::

    HTTP-message = request-line CRLF *( field-line CRLF ) CRLF [ message-body ]
    request-line = method SP request-target SP HTTP-version
    field-line   = field-name ":" OWS field-value OWS
"""

import re
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qs, unquote

CRLF = b"\r\n"
END_OF_HEAD = b"\r\n\r\n"

# Limits. Each stops a client from making us hold, or wait for, unbounded data.
# A request line longer than this gets 414 (8 KiB is what RFC 9112 suggests supporting at least).
MAX_REQUEST_LINE_BYTES = 8 * 1024
# A head (request line and headers) longer than this gets 431; common among real servers.
MAX_HEAD_BYTES = 64 * 1024
# More header lines than this gets 431: nobody needs more, and each costs memory.
MAX_HEADERS = 100
# A body longer than this gets 413, unless the server is configured otherwise.
MAX_BODY_BYTES = 1024 * 1024

# A body of one of these types is not read before the handler is called: the handler reads it as it
# arrives, from request.stream (an upload of 50 MB never sits in memory). Its limit is this one.
STREAMED_TYPES = ("multipart/form-data",)
MAX_STREAMED_BYTES = 100 * 1024 * 1024

# token = 1*tchar  (RFC 9110, section 5.6.2): the characters allowed in methods and header names.
TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# HTTP-version = "HTTP/" DIGIT "." DIGIT
HTTP_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
# A target is printable ASCII (RFC 3986): a stray line feed or tab would let it say two things at once,
# and a raw byte above 127 has no agreed meaning (a client sends "é" as %C3%A9).
NOT_PRINTABLE_ASCII = re.compile(rb"[^\x21-\x7e]")
# absolute-form (RFC 9112, section 3.2.2): the full URL a client sends to a proxy, "http://host:port/path".
# A server must accept it too; check_host() turns it into origin-form ("/path") for the rest of the server.
ABSOLUTE_FORM = re.compile(rb"https?://(?P<authority>[^/?#]*)", re.IGNORECASE)
# Host = uri-host [ ":" port ] (RFC 9110, section 7.2): a name (or IPv4 address) of letters, digits and
# -._~!$&'()*+,;=%, or an IPv6 address in brackets, then perhaps a port. No space, no "@", no "/".
HOST_VALUE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(:[0-9]*)?")
# field-value = *field-content; field-vchar = VCHAR / obs-text (RFC 9110, section 5.5): visible characters,
# bytes above 127, and spaces and tabs between them. Any other control character is refused: a CR, LF or
# NUL in a value is "invalid and dangerous" (a stray line feed lets one header smuggle in another).
CONTROL_IN_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
SUPPORTED_VERSIONS = ("HTTP/1.0", "HTTP/1.1")


class HTTPError(Exception):
    """A request we must refuse; ``status`` is what the client gets, ``message`` says why."""

    def __init__(self, status, message):
        super().__init__(f"{int(status)} {message}")
        self.status = HTTPStatus(status)
        self.message = message


class Headers:
    """Header fields: names compared without regard to case, repeated fields all kept.

    >>> headers = Headers([("Host", "localhost:8080"), ("Accept", "a"), ("accept", "b")])
    >>> headers["HOST"]
    'localhost:8080'
    >>> headers.get_all("Accept")
    ['a', 'b']
    """

    def __init__(self, fields=()):
        self._fields = []  # (name as sent, value), in order
        for name, value in fields:
            self.add(name, value)

    def add(self, name, value):
        self._fields.append((name, value))

    def get_all(self, name):
        wanted = name.lower()
        return [value for key, value in self._fields if key.lower() == wanted]

    def get(self, name, default=None):
        """The value of ``name``; repeated fields are joined with ", " as RFC 9110 allows."""
        values = self.get_all(name)
        return ", ".join(values) if values else default

    def __getitem__(self, name):
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name, value):
        """Replace every field called ``name`` with one."""
        self.remove(name)
        self.add(name, value)

    def remove(self, name):
        unwanted = name.lower()
        self._fields = [(key, value) for key, value in self._fields if key.lower() != unwanted]

    def __contains__(self, name):
        wanted = name.lower()
        return any(key.lower() == wanted for key, _ in self._fields)

    def __iter__(self):
        return iter(self._fields)

    def __len__(self):
        return len(self._fields)

    def __repr__(self):
        return f"Headers({self._fields!r})"


@dataclass
class HTTPRequest:
    method: str
    target: str
    version: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    path: str = "/"
    query_params: dict = field(default_factory=dict)
    path_params: dict = field(default_factory=dict)  # filled in by the router (step 3)
    client: str = "-"  # the client's IP address, filled in by the server (for the access log)
    # A body of a STREAMED_TYPES type is not in ``body``: ``streamed_length`` says how long it is, and the
    # server sets ``stream``, whose read(size) gives its next bytes as they arrive (b"" at the end).
    streamed_length: int | None = None
    stream: object = None

    @property
    def raw_path(self):
        """The path as sent, still percent-encoded: what the router matches against."""
        return self.target.partition("?")[0]


def parse_request_line(line):
    """Split ``b"GET /a?b=1 HTTP/1.1"`` into ``("GET", "/a?b=1", "HTTP/1.1")``.

    Raises ``HTTPError`` 400 for a malformed line and 505 for a version we don't speak.
    """
    parts = line.split(b" ")
    if len(parts) != 3:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "the request line must be: method, target, version, one space apart")
    method, target, version = parts
    if not TOKEN.fullmatch(method):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "the method is not a valid token")
    if not (target.startswith(b"/") or ABSOLUTE_FORM.match(target)) or NOT_PRINTABLE_ASCII.search(target):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "the target must be a /path or an http:// URL, printable ASCII, no spaces")
    if not HTTP_VERSION.fullmatch(version):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "the version must look like HTTP/1.1")
    if version.decode("ascii") not in SUPPORTED_VERSIONS:
        raise HTTPError(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "this server speaks HTTP/1.0 and HTTP/1.1")
    return method.decode("ascii"), target.decode("latin-1"), version.decode("ascii")


def parse_headers(lines):
    """Turn header lines (bytes, without their CRLF) into ``Headers``.

    Raises ``HTTPError`` 400 for a malformed line, 431 for more than ``MAX_HEADERS``.
    """
    if len(lines) > MAX_HEADERS:
        raise HTTPError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"more than {MAX_HEADERS} header fields")
    headers = Headers()
    for line in lines:
        name, colon, value = line.partition(b":")  # only the first colon: values may hold more
        if not colon:
            raise HTTPError(HTTPStatus.BAD_REQUEST, "a header line has no colon")
        if not TOKEN.fullmatch(name):  # this also refuses whitespace before the colon
            raise HTTPError(HTTPStatus.BAD_REQUEST, "a header name is empty or not a valid token")
        if CONTROL_IN_VALUE.search(value):
            raise HTTPError(HTTPStatus.BAD_REQUEST, "a header value holds a control character (a CR, LF, NUL...)")
        headers.add(name.decode("ascii"), value.strip(b" \t").decode("latin-1"))
    return headers


def split_target(target):
    """Split ``"/a%20b?x=1&x=2&y="`` into ``("/a b", {"x": ["1", "2"], "y": [""]})``."""
    path, _, query = target.partition("?")
    return unquote(path), parse_qs(query, keep_blank_values=True)


def body_length(headers, max_body):
    """How many body bytes follow the head, from ``Content-Length`` (0 when absent)."""
    if "Transfer-Encoding" in headers:
        if "Content-Length" in headers:
            # Two framings: a proxy in front may believe one, we the other (request smuggling).
            raise HTTPError(HTTPStatus.BAD_REQUEST, "Content-Length and Transfer-Encoding together")
        raise HTTPError(HTTPStatus.NOT_IMPLEMENTED, "this server does not read chunked bodies")
    fields = headers.get_all("Content-Length")
    if not fields:
        return 0
    # One number, perhaps repeated ("5, 5", or two fields): RFC 9110, section 8.6. An empty one is no number.
    values = {value.strip(" \t") for value in ",".join(fields).split(",")}
    if not all(value.isascii() and value.isdigit() for value in values):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "Content-Length must be a non-negative whole number")
    if len(values) > 1:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "Content-Length is given twice with different values")
    digits = values.pop().lstrip("0") or "0"  # 007 is 7
    # Count the digits before int(): it refuses over 4300 of them, and no body that long is under the limit.
    if len(digits) > len(str(max_body)) or int(digits) > max_body:
        raise HTTPError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is over the limit of {max_body} bytes")
    return int(digits)


def check_host(target, version, headers):
    """Check which host the request is for (RFC 9112, section 3.2); return the target in origin-form.

    An HTTP/1.1 request names its host in exactly one valid ``Host`` field, or it gets 400: a server
    that guesses the host can be steered to the wrong site. A full URL as the target (absolute-form)
    names the host itself: its host replaces the ``Host`` field, and its path is what is returned.
    """
    hosts = headers.get_all("Host")
    if len(hosts) > 1:
        raise HTTPError(HTTPStatus.BAD_REQUEST, "the Host field is given more than once")
    if not hosts and version == "HTTP/1.1":
        raise HTTPError(HTTPStatus.BAD_REQUEST, "an HTTP/1.1 request must name its host in a Host field")
    if hosts and not HOST_VALUE.fullmatch(hosts[0]):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "the Host field is not a host name with an optional :port")
    absolute = ABSOLUTE_FORM.match(target.encode("latin-1"))
    if not absolute:
        return target
    authority = absolute["authority"].decode("latin-1")
    if not authority or not HOST_VALUE.fullmatch(authority):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "the URL in the request line has no valid host")
    headers["Host"] = authority  # the URL's host wins over the Host field (RFC 9112, section 3.2.2)
    path = target[absolute.end():]
    return path if path.startswith("/") else "/" + path


def parse_request(data, max_body=MAX_BODY_BYTES):
    """Parse ``data``, the bytes received so far.

    Returns ``(request, used)`` where ``used`` is how many bytes of ``data`` the
    request took, or ``None`` when the request is not complete yet.
    Raises ``HTTPError`` when it never can be.
    """
    head_end = data.find(END_OF_HEAD)
    line_end = data.find(CRLF)
    if (line_end == -1 and len(data) > MAX_REQUEST_LINE_BYTES) or line_end > MAX_REQUEST_LINE_BYTES:
        raise HTTPError(HTTPStatus.REQUEST_URI_TOO_LONG, f"the request line is over {MAX_REQUEST_LINE_BYTES} bytes")
    if (head_end == -1 and len(data) > MAX_HEAD_BYTES) or head_end > MAX_HEAD_BYTES:
        raise HTTPError(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"the head is over {MAX_HEAD_BYTES} bytes")
    if lone_cr_or_lf(data, head_end):
        raise HTTPError(HTTPStatus.BAD_REQUEST, "a line of the head ends with a CR or LF alone, not CRLF")
    if head_end == -1:
        return None  # the head is still arriving
    request_line, *header_lines = data[:head_end].split(CRLF)
    method, target, version = parse_request_line(request_line)
    headers = parse_headers(header_lines)
    target = check_host(target, version, headers)
    streamed = streams_body(headers)
    length = body_length(headers, MAX_STREAMED_BYTES if streamed else max_body)
    body_start = head_end + len(END_OF_HEAD)
    path, query_params = split_target(target)
    if streamed:
        request = HTTPRequest(method, target, version, headers, b"", path, query_params, streamed_length=length)
        return request, body_start  # the handler reads the body, as it arrives
    if len(data) < body_start + length:
        return None  # the body is still arriving
    request = HTTPRequest(
        method, target, version, headers, bytes(data[body_start:body_start + length]), path, query_params
    )
    return request, body_start + length


def lone_cr_or_lf(data, head_end):
    """Whether the head at the start of ``data`` holds a CR or an LF that is not part of a CRLF.

    A line ends with CRLF. A CR or LF alone is refused at once: waiting for a CRLF that never comes
    would hold the connection, and a neighbour that reads a lone LF as a line end would disagree with
    us. ``head_end`` is ``data.find(END_OF_HEAD)``: -1 while the head is still arriving, and then a CR
    at the very end is not lone yet, as its LF may come with the next ``recv()``. Counting is fast:
    this runs every time more bytes arrive.
    """
    head = data if head_end == -1 else data[:head_end + len(CRLF)]  # up to the CRLF that ends the last line
    pairs = head.count(CRLF)
    unfinished = head_end == -1 and head.endswith(b"\r")
    return head.count(b"\n") > pairs or head.count(b"\r") - unfinished > pairs


def request_size(head, max_body=MAX_BODY_BYTES):
    """How many bytes the request takes in all, head and body, given its whole ``head`` (blank line included).

    The server reads with it: once the head is in, it can wait for the whole body before asking
    parse_request() again, so that a body arriving in a thousand small pieces is parsed once, not a
    thousand times. It reads the fields with the same parse_headers() and body_length() as parse_request().
    """
    _request_line, *header_lines = head[:-len(END_OF_HEAD)].split(CRLF)
    headers = parse_headers(header_lines)
    if streams_body(headers):
        return len(head)  # parse_request() wants the head alone; the handler reads the body as it arrives
    return len(head) + body_length(headers, max_body)


def streams_body(headers):
    """Whether the body is of a STREAMED_TYPES type, for the handler to read as it arrives."""
    media_type = headers.get("Content-Type", "").partition(";")[0].strip(" \t").lower()
    return media_type in STREAMED_TYPES
