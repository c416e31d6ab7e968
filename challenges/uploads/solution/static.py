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
"""

import mimetypes
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
        if not_modified(request, etag, stat.st_mtime):
            return HTTPResponse(HTTPStatus.NOT_MODIFIED, headers=headers)
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


def not_modified(request, etag, mtime):
    """True when the client's cached copy is current (RFC 9110, section 13.2.2: If-None-Match first)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, OverflowError):
        return False  # not a date, or numbers too large for one: ignored, as the RFC says
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)  # asctime's form has no zone; every HTTP date is GMT
    return int(mtime) <= since.timestamp()  # HTTP dates have whole seconds


def read_in_chunks(path):
    """The file's bytes, ``CHUNK_SIZE`` at a time; the file is closed when they run out."""
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk
