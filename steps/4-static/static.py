"""Step 4 — static files: serve a folder, safely, with the right types, sizes and caching headers.

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
        # TODO 1: refuse NUL and backslashes, resolve the path, then check it is inside the resolved root
        # Read: docs/steps/4-static.md#staying-inside-the-root
        raise NotImplementedError('TODO 1: refuse NUL and backslashes, resolve the path, then check it is inside the resolved root (see docs/steps/4-static.md#staying-inside-the-root)')

    def __call__(self, request):
        """Answer ``GET`` for one file: 200 with the file, 304 if the client's copy is current, else 404."""
        # TODO 3: resolve, use index.html for a folder, 404 for the rest; set the headers; stream the file
        # Read: docs/steps/4-static.md#serving-a-file
        raise NotImplementedError('TODO 3: resolve, use index.html for a folder, 404 for the rest; set the headers; stream the file (see docs/steps/4-static.md#serving-a-file)')


def content_type(path):
    """The Content-Type for a file: from its extension, with a charset for text."""
    # TODO 2: guess from the extension with TYPES; text gets "; charset=utf-8"; unknown is application/octet-stream
    # Read: docs/steps/4-static.md#content-types
    raise NotImplementedError('TODO 2: guess from the extension with TYPES; text gets "; charset=utf-8"; unknown is application/octet-stream (see docs/steps/4-static.md#content-types)')


def not_modified(request, etag, mtime):
    """True when the client's cached copy is current (RFC 9110, section 13.2.2: If-None-Match first)."""
    # TODO 4: If-None-Match lists ETags (or *); else If-Modified-Since is a date not older than the file
    # Read: docs/steps/4-static.md#conditional-requests
    raise NotImplementedError('TODO 4: If-None-Match lists ETags (or *); else If-Modified-Since is a date not older than the file (see docs/steps/4-static.md#conditional-requests)')


def read_in_chunks(path):
    """The file's bytes, ``CHUNK_SIZE`` at a time; the file is closed when they run out."""
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk
