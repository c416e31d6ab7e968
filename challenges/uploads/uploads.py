"""The uploads extension — files sent from an HTML form, read as they arrive.

A form with ``enctype="multipart/form-data"`` sends each of its fields as a part of one body
(RFC 7578). Every part follows a line made of the boundary that the Content-Type names (RFC 2046,
section 5.1), and one more such line, ending in ``--``, closes the body::

    --XyZ\\r\\n
    Content-Disposition: form-data; name="note"\\r\\n
    \\r\\n
    hello\\r\\n
    --XyZ\\r\\n
    Content-Disposition: form-data; name="photo"; filename="cat.png"\\r\\n
    Content-Type: image/png\\r\\n
    \\r\\n
    <the bytes of the file>\\r\\n
    --XyZ--\\r\\n

``MultipartParser`` reads such a body piece by piece, as ``recv()`` hands it over, and keeps only a
few bytes between pieces: a 50 MB upload never sits in memory. ``receive_form()`` feeds it the
request's body stream, writes each file to a temporary file as its bytes come, and keeps each
field as a short string, all within ``Limits``. The client's filename is reduced to a safe base
name (``safe_filename()``) and is never trusted for the type; ``serve_upload()`` sends a stored
file back as bytes to save, never as a page for the browser to run.
"""

import os
import re
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

from request import HTTPError
from response import HTTPResponse, error_response
from static import read_in_chunks

# Bytes asked of the body stream at a time.
READ_SIZE = 64 * 1024

# What a boundary may be made of: 1 to 70 of these characters, the last one not a space (RFC 2046, 5.1.1).
BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")

# A header field's name (RFC 9110, 5.1).
TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

# One parameter of a header value: ; name=value, the value a token or "quoted"; or nothing (RFC 9110, 5.6.6 lets
# a list of parameters have empty places: "a; b=1;").
PARAMETER = re.compile(r';[ \t]*(?:([^=; \t]+)[ \t]*=[ \t]*("[^"]*"|[^; \t"]*)[ \t]*)?')

# The fields of a part's head that the parser reads: each may come once. Others are ignored (RFC 7578, 4.8).
READ_IN_A_HEAD = ("content-disposition", "content-type")

# How a browser writes these three characters inside a quoted name (WHATWG HTML, "multipart/form-data encoding").
ESCAPED_IN_QUOTES = {"%0A": "\n", "%0D": "\r", "%22": '"'}

# The characters a stored filename keeps besides letters and digits; any other becomes "_".
KEPT_IN_FILENAMES = " ._-()+,=@"

# The longest filename kept, in bytes of UTF-8 (file systems count bytes, most up to 255, and the stored name
# adds 17 in front); a longer one keeps its end, where the extension is.
MAX_FILENAME_BYTES = 200

# The name of a file with no name left once the unsafe characters are gone.
NO_NAME = "upload"

# How an uploaded file is named while it is still arriving: a leading dot, so serve_upload() never sends it.
PARTIAL_PREFIX = ".partial-"

# How a stored upload is named: 16 random hex digits, a dash, and the safe filename.
STORED_NAME = re.compile(r"[0-9a-f]{16}-[^/\\\x00]+")


class UploadError(HTTPError):
    """A body we refuse: 400 when it is malformed, 413 when it is over a limit, 415 when it is not a form."""


@dataclass(frozen=True)
class Limits:
    """How much one form may send. Past any of these, the upload is refused with 413 as soon as it is seen."""

    parts: int = 20  # parts in one body, fields and files together
    file_bytes: int = 64 * 1024 * 1024  # the content of one file part, written to disk as it comes
    field_bytes: int = 64 * 1024  # the value of one field (a part without a filename), kept in memory
    head_bytes: int = 8 * 1024  # the head of one part, its header lines


@dataclass
class Part:
    """The head of one part, as the client sent it: ``filename`` and ``content_type`` are its word, not facts."""

    name: str
    filename: str | None = None  # None for a field; "" for a file input left empty
    content_type: str = "text/plain"  # RFC 7578, 4.4: what a part without a Content-Type is
    headers: dict = field(default_factory=dict)


class Finished:
    """The event that the final boundary has come: every part is in, and what follows is ignored."""

    def __repr__(self):
        return "FINISHED"


FINISHED = Finished()


@dataclass
class UploadedFile:
    """A file part, received: where it is on disk, and what the client said about it."""

    field: str
    filename: str  # safe_filename() of what the client sent
    content_type: str  # what the client said; never used to decide how the file is served
    path: Path
    size: int = 0


@dataclass
class Form:
    """A form, received: its fields (name to values, in order) and its files."""

    fields: dict = field(default_factory=dict)
    files: list = field(default_factory=list)

    def discard(self):
        """Remove every file received so far: a refused upload leaves nothing behind."""
        for upload in self.files:
            upload.path.unlink(missing_ok=True)


def parameters(value):
    """Split a header value into its first word, lowercased, and its parameters as (lowercased name, value) pairs.

    ``parameters('form-data; name="a"; filename="b.txt"')`` is
    ``("form-data", [("name", "a"), ("filename", "b.txt")])``. A quoted value runs to the next
    quote, and %0A, %0D and %22 in it are a line feed, a carriage return and a quote, as browsers
    (and requests) write them. Raises UploadError 400 when something in the value is not a parameter.
    """
    first, semicolon, rest = value.partition(";")
    rest = semicolon + rest
    pairs = []
    position = 0
    while position < len(rest):
        match = PARAMETER.match(rest, position)
        if match is None:
            raise UploadError(HTTPStatus.BAD_REQUEST, f"this header value is not name=value parameters: {value!r}")
        name, raw = match.groups()
        position = match.end()
        if name is None:
            continue
        if raw.startswith('"'):
            raw = re.sub("%0A|%0D|%22", lambda escaped: ESCAPED_IN_QUOTES[escaped.group()], raw[1:-1])
        pairs.append((name.lower(), raw))
    return first.strip(" \t").lower(), pairs


def only(pairs, name):
    """The value of the parameter ``name`` among ``pairs``, None if it is not there; refused if it is there twice."""
    values = [value for key, value in pairs if key == name]
    if len(values) > 1:
        raise UploadError(HTTPStatus.BAD_REQUEST, f"the parameter {name} is given twice")
    return values[0] if values else None


def boundary_of(content_type):
    """The boundary that a ``multipart/form-data`` Content-Type names, as bytes.

    Raises UploadError: 415 when the body is not multipart/form-data at all, 400 when the boundary
    is missing, given twice, or not 1 to 70 of the characters RFC 2046 allows.
    """
    # TODO 1: refuse any type but multipart/form-data (415), then return the one valid boundary (400 otherwise)
    # Read: docs/extensions/uploads.md#the-boundary
    raise NotImplementedError('TODO 1: refuse any type but multipart/form-data (415), then return the one valid boundary (400 otherwise) (see docs/extensions/uploads.md#the-boundary)')


def parse_part_head(block):
    """The ``Part`` that a part's head (its header lines, CRLF between them, bytes) describes.

    The block is UTF-8 (a byte that is not becomes U+FFFD). Every line is ``Name: value``, its name a
    TOKEN, with no CR or LF left in it. The head must hold one ``Content-Disposition: form-data`` with
    a ``name``; its ``filename``, when there is one (even ""), makes the part a file. Content-Type and
    Content-Disposition may each come once; other fields are ignored (RFC 7578, 4.8). Raises
    UploadError 400 otherwise.
    """
    # TODO 2: split the lines at CRLF, refuse a line that is not TOKEN: value, then read Content-Disposition
    # Read: docs/extensions/uploads.md#a-parts-head
    raise NotImplementedError('TODO 2: split the lines at CRLF, refuse a line that is not TOKEN: value, then read Content-Disposition (see docs/extensions/uploads.md#a-parts-head)')


class MultipartParser:
    """Reads a multipart/form-data body in pieces of any size, and says what each piece completes.

    ``feed(piece)`` returns a list of events, in order: a ``Part`` when a part's head has come,
    ``bytes`` of that part's content as they come (a part's content is all the bytes between its
    ``Part`` and the next one), and ``FINISHED`` when the final boundary has come. ``close()``
    says the body has ended. Malformed bodies and limits passed raise ``UploadError``.
    """

    def __init__(self, boundary, limits=Limits()):
        # Each boundary line starts a new line: the CRLF before it belongs to the boundary, not the content before.
        self.delimiter = b"\r\n--" + boundary
        self.limits = limits
        # A body may start with its first boundary line, and no CRLF before it: this one lets it be found the same way.
        self.buffer = bytearray(b"\r\n")
        self.state = "until delimiter"
        self.part = None  # the part whose content is arriving; None before the first (the preamble)
        self.parts = 0  # parts begun so far
        self.part_size = 0  # content bytes of this part so far

    def feed(self, piece):
        """Parse the next ``piece`` of the body; return the events it completes."""
        events = []
        if self.state == "finished":
            return events  # the epilogue, after the final boundary: ignored (RFC 2046, 5.1.1)
        self.buffer += piece
        steps = {"until delimiter": self._until_delimiter, "after delimiter": self._after_delimiter,
                 "head": self._head}
        while self.state in steps and steps[self.state](events):
            pass
        return events

    def _until_delimiter(self, events):
        """Pass on the content before the next delimiter; True once the delimiter is found, False to wait for more."""
        # TODO 3: hand on what cannot be the start of a delimiter; keep the rest for the next piece
        # Read: docs/extensions/uploads.md#split-boundaries
        raise NotImplementedError('TODO 3: hand on what cannot be the start of a delimiter; keep the rest for the next piece (see docs/extensions/uploads.md#split-boundaries)')

    def _after_delimiter(self, events):
        """After a delimiter: ``--`` ends the body; spaces or tabs and CRLF start a part; anything else is refused.

        True once a part has started, False to wait for more. Refuses with 400 a byte that is not padding,
        and with 413 a line still without its CRLF past limits.head_bytes (padding is a few spaces).
        """
        # TODO 4: finish at --; after padding and CRLF, start a part; refuse anything else (the boundary inside the data)
        # Read: docs/extensions/uploads.md#what-follows-a-boundary
        raise NotImplementedError('TODO 4: finish at --; after padding and CRLF, start a part; refuse anything else (the boundary inside the data) (see docs/extensions/uploads.md#what-follows-a-boundary)')

    def close(self):
        """The body has ended: refuse it with 400 unless its final boundary came."""
        # TODO 4: refuse a body that ends before its final --boundary-- (400)
        # Read: docs/extensions/uploads.md#what-follows-a-boundary
        raise NotImplementedError('TODO 4: refuse a body that ends before its final --boundary-- (400) (see docs/extensions/uploads.md#what-follows-a-boundary)')

    def _head(self, events):
        """Read a part's head, up to the blank line; True once it has come, False to wait for more."""
        # The buffer starts with the CRLF that ended the boundary line, so an empty head ends at once.
        end = self.buffer.find(b"\r\n\r\n")
        if end == -1 and len(self.buffer) > self.limits.head_bytes or end > self.limits.head_bytes:
            raise UploadError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                              f"a part's head is over {self.limits.head_bytes} bytes")
        if end == -1:
            return False
        self.part = parse_part_head(bytes(self.buffer[2:end]))
        del self.buffer[:end + 4]
        events.append(self.part)
        self.state = "until delimiter"
        return True

    def _start_part(self):
        """Count a part beginning; refuse it with 413 if it is one too many."""
        # TODO 5: count the parts, and refuse the one past limits.parts
        # Read: docs/extensions/uploads.md#limits
        raise NotImplementedError('TODO 5: count the parts, and refuse the one past limits.parts (see docs/extensions/uploads.md#limits)')

    def _content(self, data, events):
        """Pass on ``data``, the next content of the current part (dropped before the first part: the preamble).

        The limit is limits.field_bytes for a field (filename None), limits.file_bytes for a file (any filename,
        even ""); past it, 413.
        """
        if self.part is None or not data:
            return
        # TODO 5: count this part's bytes, and refuse them past its limit (a file's, or a field's)
        # Read: docs/extensions/uploads.md#limits
        raise NotImplementedError("TODO 5: count this part's bytes, and refuse them past its limit (a file's, or a field's) (see docs/extensions/uploads.md#limits)")
        events.append(data)



def safe_filename(filename):
    """A name the server may store a file under, from the one a client sent: a base name, never a path.

    Only what follows the last / or \\ is kept, in Unicode's composed form (NFC: a Mac sends an accent
    as a letter of its own); every character but letters, digits and KEPT_IN_FILENAMES becomes "_"
    (so no NUL, no control character, no quote); at most MAX_FILENAME_BYTES of UTF-8 are kept, from
    the end; leading dots and spaces go (no hidden file, no ".."), and so do trailing ones. A name
    with nothing left is NO_NAME.
    """
    # TODO 6: keep the base name in NFC, replace what is not a letter, digit or KEPT_IN_FILENAMES, keep the last MAX_FILENAME_BYTES, strip dots and spaces at both ends
    # Read: docs/extensions/uploads.md#safe-filenames
    raise NotImplementedError('TODO 6: keep the base name in NFC, replace what is not a letter, digit or KEPT_IN_FILENAMES, keep the last MAX_FILENAME_BYTES, strip dots and spaces at both ends (see docs/extensions/uploads.md#safe-filenames)')


def receive_form(request, folder, limits=Limits()):
    """Read ``request``'s multipart/form-data body from ``request.stream`` as it arrives; return the ``Form``.

    Each file's content is written to a new file in ``folder`` as it comes (named PARTIAL_PREFIX
    and random letters until the app keeps it); a file input left empty (filename "") is skipped.
    Each field's value is decoded from UTF-8. On any error, the file being written is closed, every
    file written so far is removed (even if closing fails: a full disk fails to flush), and the
    error raised again.
    """
    boundary = boundary_of(request.headers.get("Content-Type", ""))
    parser = MultipartParser(boundary, limits)
    form = Form()
    # TODO 7: read the stream piece by piece, each part's content to where begin() says; on any error, remove every file
    # Read: docs/extensions/uploads.md#streamed-to-disk
    raise NotImplementedError("TODO 7: read the stream piece by piece, each part's content to where begin() says; on any error, remove every file (see docs/extensions/uploads.md#streamed-to-disk)")


class FieldValue:
    """The value of a field while it arrives: written to like a file, kept in memory (Limits.field_bytes is small)."""

    def __init__(self, name):
        self.name = name
        self.data = bytearray()

    def write(self, data):
        self.data += data

    def close(self):
        pass


def begin(part, form, folder):
    """Where ``part``'s content goes: a new partial file in ``folder`` for a file, a FieldValue for a field,
    None for a file input left empty. A file is listed in ``form.files`` as soon as it exists."""
    # TODO 7: a field gets a FieldValue; a file a new PARTIAL_PREFIX file from tempfile.mkstemp, listed in form.files at once
    # Read: docs/extensions/uploads.md#streamed-to-disk
    raise NotImplementedError('TODO 7: a field gets a FieldValue; a file a new PARTIAL_PREFIX file from tempfile.mkstemp, listed in form.files at once (see docs/extensions/uploads.md#streamed-to-disk)')


def finish(receiver, form):
    """The part that went to ``receiver`` is complete: keep its field's value, or close its file and note its size."""
    if isinstance(receiver, FieldValue):
        form.fields.setdefault(receiver.name, []).append(receiver.data.decode("utf-8", errors="replace"))
    elif receiver is not None:
        receiver.close()
        form.files[-1].size = form.files[-1].path.stat().st_size


def keep(upload, folder):
    """Give a received file its stored name, random digits before its safe filename; return that name."""
    stored = f"{secrets.token_hex(8)}-{upload.filename}"
    upload.path = upload.path.rename(Path(folder) / stored)
    return stored


def serve_upload(folder, name):
    """The response for ``GET /uploads/<name>``: the stored file, as bytes to save, whatever it holds.

    404 for any name that STORED_NAME.fullmatch() refuses (a path, a partial file), that is not a file
    in ``folder``, or that the file system refuses (OSError: a name too long, say). The file is sent
    in chunks, with both forms of its name: filename="ASCII" and filename*=UTF-8''percent-encoded.
    """
    # TODO 8: send application/octet-stream, nosniff, and an attachment with both filename forms
    # Read: docs/extensions/uploads.md#never-trusted-for-the-type
    raise NotImplementedError('TODO 8: send application/octet-stream, nosniff, and an attachment with both filename forms (see docs/extensions/uploads.md#never-trusted-for-the-type)')
