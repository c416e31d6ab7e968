"""Steps 4–5 — static files: serve a folder, safely, with the right types, sizes and caching headers.

Mount it on the router under a prefix, with the catch-all pattern of step 3::

    app.add_route("/static/{path:path}", StaticFiles("static"), ["GET"])

``GET /static/css/site.css`` then sends ``static/css/site.css``. Nothing
outside the folder is ever sent: not through ``..``, encoded dots, absolute
paths, backslashes, symlinks pointing out, nor a sibling folder whose name
starts the same (``static-secret``). Such requests get 404, exactly like a
missing file, so they reveal nothing about what exists outside.

Files are streamed in chunks, so a large file costs no more memory than a
small one. ``ETag`` and ``Last-Modified`` let browsers ask "has it changed?",
and get ``304 Not Modified`` with no body when it has not.

The caching extension adds the rest of RFC 9110's conditional requests and
ranges: ``If-Match`` and ``If-Unmodified-Since`` (``412 Precondition Failed``),
and ``Range`` with ``If-Range``: ``206 Partial Content`` sends the bytes asked
for, read from where they start, and ``416 Range Not Satisfiable`` says there
are none. The order of it all is RFC 9110's, section 13.2.2.
"""

import mimetypes
import re
from datetime import timezone
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path

from response import HTTPResponse, error_response

# Bytes read from the file per piece sent.
CHUNK_SIZE = 64 * 1024

# Python's own table of types, without the machine's /etc/mime.types, so every
# machine answers the same; plus the types it lacks or states the old way.
TYPES = mimetypes.MimeTypes()
TYPES.add_type("text/javascript", ".js")  # RFC 9239: the one JavaScript type
TYPES.add_type("text/javascript", ".mjs")
TYPES.add_type("image/webp", ".webp")

# Types that are text even though they are not text/*: they get a charset too.
TEXT_TYPES = {"application/json", "application/xml", "image/svg+xml"}

# What parse_range() returns for a range that holds no byte of the file: the answer is 416.
UNSATISFIABLE = "unsatisfiable"

# 416; Python 3.13 renamed REQUESTED_RANGE_NOT_SATISFIABLE to RANGE_NOT_SATISFIABLE, as RFC 9110 did.
RANGE_NOT_SATISFIABLE = HTTPStatus(416)

# A position in a Range header: ASCII digits, nothing else (int() would take "+5", " 5" and "1_0" too).
DIGITS = re.compile(r"[0-9]+")

# More bytes than any file holds. A position with more digits than this means the same to
# parse_range() as this does, and int() is never asked to read thousands of digits (it refuses).
FARTHEST = 10**18


class StaticFiles:
    """A handler that serves the files under ``root``.

    The router gives it the rest of the path as ``request.path_params["path"]``,
    already percent-decoded once. The folder is only read, never created.
    """

    def __init__(self, root, index="index.html"):
        self.root = Path(root)
        self.index = index

    def resolve(self, relative):
        """The file (or folder) ``relative`` names inside the root, or ``None`` if it is not inside.

        ``relative`` is decoded already: decoding it again would turn ``%252e``
        into ``.``, an attack that got past real servers. A path the file system
        refuses (a name too long for it, a symlink loop) may raise OSError or
        RuntimeError: ``__call__`` answers those with 404.
        """
        if "\x00" in relative or "\\" in relative:
            return None
        root = self.root.resolve()
        # The joined path is resolved: "..", symlinks and all, to where it really points.
        candidate = (root / relative).resolve()  # an absolute `relative` replaces root: caught below
        if not candidate.is_relative_to(root):  # compares path parts, not characters
            return None
        return candidate

    def __call__(self, request):
        """Answer ``GET`` for one file: 200 with the file, 304 if the client's copy is current, else 404."""
        relative = request.path_params.get("path", "")
        try:
            path = self.resolve(relative)
            if path is not None and path.is_dir():
                path = self.resolve(f"{relative}/{self.index}")  # checked again: the index may be a symlink too
            elif relative.endswith("/"):
                path = None  # "hello.txt/" asks for a folder, and a file is not one
            if path is None or not path.is_file():
                return error_response(HTTPStatus.NOT_FOUND, "There is no such file.")
            stat = path.stat()
        except (OSError, RuntimeError):  # a name too long, a symlink loop, a file gone meanwhile: nothing to send
            return error_response(HTTPStatus.NOT_FOUND, "There is no such file.")
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        headers = {"ETag": etag, "Last-Modified": formatdate(stat.st_mtime, usegmt=True)}
        # TODO 7: say Accept-Ranges; answer 412, then 304; for a GET with a Range that If-Range allows, 416 or 206 with Content-Range; else the whole file
        # Read: docs/extensions/caching.md#one-answer-in-order
        raise NotImplementedError('TODO 7: say Accept-Ranges; answer 412, then 304; for a GET with a Range that If-Range allows, 416 or 206 with Content-Range; else the whole file (see docs/extensions/caching.md#one-answer-in-order)')
        response = HTTPResponse(HTTPStatus.OK, headers=headers)
        response.headers["Content-Type"] = content_type(path)
        response.chunks = read_in_chunks(path)
        response.length = stat.st_size
        return response


def content_type(path):
    """The Content-Type for a file: from its extension, with a charset for text."""
    guessed, _ = TYPES.guess_type(path.name)
    if guessed is None:
        return "application/octet-stream"  # "some bytes": the browser will not try to run or show them
    if guessed.startswith("text/") or guessed in TEXT_TYPES:
        return f"{guessed}; charset=utf-8"
    return guessed


def http_date_seconds(value):
    """The moment an HTTP date names, in seconds since 1970; None when ``value`` is not a date.

    It reads all three forms (RFC 9110, section 5.6.7), and a date with no zone (asctime's) as
    GMT, as every HTTP date is. A value that is not a date, whose numbers are too large for one,
    or that holds a list of dates, gives None: the RFC says to ignore such a field, never to fail on it.
    """
    if value.count(",") > 1:
        return None  # a date holds one comma at most ("Sun, 06 Nov 1994 ..."): this is a list
    try:
        since = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return since.timestamp()


def not_modified(request, etag, mtime):
    """True when the client's cached copy is current (RFC 9110, section 13.2.2: If-None-Match first)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since is None:
        return False
    since = http_date_seconds(if_modified_since)
    if since is None:
        return False  # not a date, or numbers too large for one: ignored, as the RFC says
    return int(mtime) <= since  # HTTP dates have whole seconds


def precondition_failed(request, etag, mtime):
    """True when If-Match or If-Unmodified-Since says this is not the version the client means (412).

    If-Match first, and alone when present: ``*`` or a list of ETags, compared strongly (a weak
    ``W/"..."`` tag matches nothing). Otherwise If-Unmodified-Since: a date the file must not have
    changed after, in whole seconds; a value that is not a date is ignored (RFC 9110, 13.1.1 and 13.1.4).
    """
    # TODO 3: let If-Match decide alone when present (* or a strong match); else say whether the file changed after the If-Unmodified-Since date, ignoring what is no date
    # Read: docs/extensions/caching.md#if-match-and-if-unmodified-since
    raise NotImplementedError('TODO 3: let If-Match decide alone when present (* or a strong match); else say whether the file changed after the If-Unmodified-Since date, ignoring what is no date (see docs/extensions/caching.md#if-match-and-if-unmodified-since)')


def position(digits):
    """The number ``digits`` (ASCII digits) spell, or FARTHEST for any number at least that large."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) < len(str(FARTHEST)) else FARTHEST


def parse_range(value, size):
    """The bytes a ``Range`` header asks for, as ``(first, last)``: positions in a file of ``size`` bytes, both included.

    ``UNSATISFIABLE`` when the range holds no byte of the file (the answer is 416); ``None``
    when the header is ignored and the file is sent whole: another unit than bytes, a value
    that breaks the grammar, or more than one range. ``size`` is at least 1 (RFC 9110, section 14.1).
    """
    # TODO 4: read the one range after "bytes=" (first-last with last clipped, first-, or -suffix); return None for what breaks the grammar or holds several ranges, UNSATISFIABLE when no byte of the file is in it
    # Read: docs/extensions/caching.md#reading-a-range
    raise NotImplementedError('TODO 4: read the one range after "bytes=" (first-last with last clipped, first-, or -suffix); return None for what breaks the grammar or holds several ranges, UNSATISFIABLE when no byte of the file is in it (see docs/extensions/caching.md#reading-a-range)')


def if_range_matches(request, etag, mtime):
    """True when the Range is to be honoured: no If-Range, or one that names this very version.

    If-Range holds one validator: an ETag, which must be strong and equal to ``etag``, or an HTTP
    date, which must be the file's Last-Modified exactly. Anything else names another version, and
    the client gets the whole file (RFC 9110, section 13.1.5).
    """
    # TODO 6: return True without If-Range; with it, only for the file's own ETag (a strong, exact match) or its Last-Modified date to the second
    # Read: docs/extensions/caching.md#if-range
    raise NotImplementedError("TODO 6: return True without If-Range; with it, only for the file's own ETag (a strong, exact match) or its Last-Modified date to the second (see docs/extensions/caching.md#if-range)")


def read_in_chunks(path):
    """The file's bytes, ``CHUNK_SIZE`` at a time; the file is closed when they run out."""
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk


def read_range(path, first, last):
    """Bytes ``first`` to ``last`` of the file (both included), ``CHUNK_SIZE`` at a time.

    One seek to ``first``, then reads of at most ``CHUNK_SIZE`` bytes until ``last``: the bytes
    before the range are never read, nor those after it, and the file is closed at the end.
    """
    # TODO 5: open the file, seek to first, then yield at most CHUNK_SIZE bytes at a time up to last; close it at the end
    # Read: docs/extensions/caching.md#reading-only-the-range
    raise NotImplementedError('TODO 5: open the file, seek to first, then yield at most CHUNK_SIZE bytes at a time up to last; close it at the end (see docs/extensions/caching.md#reading-only-the-range)')
