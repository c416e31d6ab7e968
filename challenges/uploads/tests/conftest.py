"""What the uploads checks share, as fixtures and helpers.

* ``uploads_module``  the learner's uploads.py, imported fresh;
* ``body(parts, ...)``  a multipart/form-data body made by urllib3 (the encoder under requests), or by hand;
* ``parse(body, cuts=..., limits=..., stand_in=(), raises=False)``  the body fed to the learner's
  MultipartParser in pieces, then closed: the parts, as ``[(Part, content)]``. ``stand_in`` names TODOs
  (4, 5) whose code the parser takes from the checks instead (see ``use_stand_ins()``), so that the checks of
  TODO 3 do not wait on TODO 4, nor those of 3 and 4 on TODO 5. An UploadError fails the check, unless
  ``raises`` says the check expects one;
* ``stand_ins(parser, todos)``  the same, for a parser a check makes itself;
* ``accepted(function, *args, shown=...)``  the call's result; an UploadError fails the check as its own TODO;
* ``upload_error(function, *args, shown=...)``  the UploadError the call raises (the check fails if none does);
* ``expect_status(error, status, summary, ...)``  a failure unless the error has that status;
* ``bodies``  the body makers, for the checks.
"""

from http import HTTPStatus
from types import SimpleNamespace

import pytest
from urllib3.filepost import encode_multipart_formdata

from checks.report import CheckFailed
from checks.unit import call, short

# The boundary of the bodies the checks make, unless a check says otherwise.
BOUNDARY = "XyZ-boundary"


@pytest.fixture
def uploads_module(learner_module):
    return learner_module("uploads")


def encoded(fields, boundary=BOUNDARY):
    """The body urllib3 makes of ``fields`` ([(name, value)] or [(name, (filename, bytes, type))]), as bytes."""
    data, _content_type = encode_multipart_formdata(fields, boundary=boundary)
    return data


def by_hand(parts, boundary=BOUNDARY, preamble=b"", epilogue=b"", final=True):
    """A body of ``parts`` ([(head lines as bytes, content)]), with a preamble and epilogue, and the final boundary
    unless ``final`` is False."""
    dash = b"--" + boundary.encode()
    out = bytearray(preamble + b"\r\n" if preamble else b"")
    for head, content in parts:
        out += dash + b"\r\n" + b"".join(line + b"\r\n" for line in head) + b"\r\n" + content + b"\r\n"
    if final:
        out += dash + b"--\r\n" + epilogue
    return bytes(out)


def field_head(name):
    return [f'Content-Disposition: form-data; name="{name}"'.encode()]


def file_head(name, filename, content_type="application/octet-stream"):
    return [f'Content-Disposition: form-data; name="{name}"; filename="{filename}"'.encode(),
            f"Content-Type: {content_type}".encode()]


def pieces_of(data, cuts):
    """``data`` cut at the offsets ``cuts``."""
    edges = [0, *sorted(set(cut for cut in cuts if 0 < cut < len(data))), len(data)]
    return [data[start:end] for start, end in zip(edges, edges[1:])]


def cut_text(cuts):
    """How a body was fed: in one piece, or cut after these bytes."""
    if not cuts:
        return ", fed in one piece"
    return f", cut after byte{'s' if len(cuts) > 1 else ''} {', '.join(map(str, cuts))}"


def use_stand_ins(parser, uploads_module, todos):
    """Give ``parser`` the checks' own code for the ``todos`` (4, 5 or both), so a check grades its TODO apart from them.

    For TODO 5, _start_part() only counts (in ``parser.started``) and _content() hands on what it is given; for
    TODO 4, _after_delimiter() and close() do what TODO 4 asks, without judging the padding.
    """
    parser.started = 0

    if 5 in todos:
        def start_part():
            parser.started += 1

        def content(data, events):
            if parser.part is not None and data:
                events.append(data)

        parser._start_part = start_part
        parser._content = content

    if 4 in todos:
        def after_delimiter(events):
            buffer = parser.buffer
            if len(buffer) < 2:
                return False
            if buffer.startswith(b"--"):
                parser.state = "finished"
                buffer.clear()
                events.append(uploads_module.FINISHED)
                return False
            line_end = buffer.find(b"\r\n")
            if line_end == -1:
                return False
            del buffer[:line_end]
            parser._start_part()
            parser.state = "head"
            return True

        def close():
            if parser.state != "finished":
                raise uploads_module.UploadError(HTTPStatus.BAD_REQUEST, "no final boundary (the checks' stand-in)")

        parser._after_delimiter = after_delimiter
        parser.close = close
    return parser


class Parsed:
    """What a parser made of a body: the parts, each a [Part, content], and whether FINISHED came."""

    def __init__(self, uploads_module):
        self.uploads = uploads_module
        self.parts = []
        self.finished = False
        self.problems = []

    def take(self, events):
        for event in events:
            if self.finished:
                self.problems.append(f"{short(event, 60)} after FINISHED")
            elif isinstance(event, self.uploads.Part):
                self.parts.append([event, b""])
            elif isinstance(event, bytearray):
                self.problems.append(f"content as a bytearray, {short(bytes(event), 40)}: hand on bytes(...), "
                                     "a copy that the buffer's next changes cannot touch")
            elif isinstance(event, bytes):
                if not self.parts:
                    self.problems.append(f"content {short(bytes(event), 60)} before any Part")
                else:
                    self.parts[-1][1] += bytes(event)
            elif event is self.uploads.FINISHED:
                self.finished = True
            else:
                self.problems.append(f"an event that is neither a Part, bytes nor FINISHED: {short(event, 60)}")

    def __repr__(self):
        return (f"{len(self.parts)} parts ({', '.join(repr(part.name) for part, _ in self.parts[:4])})"
                f"{', then FINISHED' if self.finished else ', and no FINISHED'}")

    def summary(self):
        """The parts as a reader compares them: (name, filename, content type, content)."""
        return [(part.name, part.filename, part.content_type, content) for part, content in self.parts]


@pytest.fixture
def parse(uploads_module):
    """``parse(body, cuts=(), limits=None, stand_in=False, close=True)``: the learner's parser's reading of ``body``."""
    def parsed(body, cuts=(), limits=None, stand_in=(), close=True, boundary=BOUNDARY, raises=False):
        limits = limits or uploads_module.Limits()
        parser = call(uploads_module.MultipartParser, boundary.encode(), limits,
                      shown=f"MultipartParser({boundary.encode()!r}, {limits})")
        if stand_in:
            use_stand_ins(parser, uploads_module, stand_in)
        result = Parsed(uploads_module)
        shown_cuts = cut_text(list(cuts))
        try:
            for piece in pieces_of(body, cuts):
                result.take(call(parser.feed, piece, shown=f"feed({short(piece, 50)}) of the body {short(body, 60)}"
                                                           f"{shown_cuts}", expected_errors=(uploads_module.UploadError,)))
            if close:
                call(parser.close, shown=f"close(), after the body {short(body, 60)}{shown_cuts}",
                     expected_errors=(uploads_module.UploadError,))
        except uploads_module.UploadError as error:
            if raises:
                raise
            raise CheckFailed(f"The parser refused a body it should read{shown_cuts}.", sent=body,
                              expected="its parts, then FINISHED", received=f"UploadError {error}") from None
        result.started = getattr(parser, "started", None)
        if result.problems:
            raise CheckFailed("The parser's events are out of order.", sent=body,
                              expected="for each part, its Part, then its content as bytes; FINISHED last",
                              received="; ".join(result.problems[:3]))
        return result
    return parsed


@pytest.fixture
def accepted(uploads_module):
    """``accepted(function, *args, shown=..., what=...)``: the call's result; an UploadError, refusing input that is
    valid, fails the check as the check's own TODO (the function that raised it may be right to, given what it got)."""
    def accept(function, *args, shown, what="a valid body", **kwargs):
        try:
            return call(function, *args, shown=shown, expected_errors=(uploads_module.UploadError,), **kwargs)
        except uploads_module.UploadError as error:
            raise CheckFailed(f"{shown} refused {what}.", expected="no UploadError", received=f"UploadError {error}",
                              meaning="Only a malformed body or one over a limit is refused. If the error comes "
                                      "from a function that is right to refuse what it was given, the bytes it "
                                      "was given are wrong: look at the code that cut them out.") from None
    return accept


@pytest.fixture
def stand_ins(uploads_module):
    """``stand_ins(parser, todos)``: ``parser`` with the checks' own code for those TODOs (see use_stand_ins())."""
    return lambda parser, todos: use_stand_ins(parser, uploads_module, todos)


@pytest.fixture
def upload_error(uploads_module):
    """``upload_error(function, *args, shown=...)``: the UploadError the call raises (the check fails if none)."""
    def raised(function, *args, shown, expected="an UploadError", **kwargs):
        try:
            got = call(function, *args, shown=shown, expected_errors=(uploads_module.UploadError,), **kwargs)
        except uploads_module.UploadError as error:
            return error
        raise CheckFailed(f"{shown} did not raise UploadError.", expected=expected,
                          received=f"it returned {short(got, 120)}")
    return raised


@pytest.fixture
def expect_status():
    """``expect_status(error, status, summary, sent=, meaning=)``: a failure unless the UploadError has ``status``."""
    def expect(error, status, summary, sent=None, meaning=None):
        got = getattr(error, "status", None)
        if got != status:
            status = HTTPStatus(status)
            raise CheckFailed(summary, sent=sent, expected=f"UploadError with status {status.value} {status.phrase}",
                              received=f"{type(error).__name__} {error}", meaning=meaning)
    return expect


@pytest.fixture
def bodies():
    """The body makers above, for the checks: bodies.encoded(...), bodies.by_hand(...), and the rest."""
    return SimpleNamespace(BOUNDARY=BOUNDARY, encoded=encoded, by_hand=by_hand, field_head=field_head,
                           file_head=file_head, pieces_of=pieces_of, cut_text=cut_text)
