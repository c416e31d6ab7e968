"""Step 4 — static files: checks of StaticFiles, called directly and over real connections.

The checks serve one folder made for them (see conftest.py), with secrets
beside it: a file in the parent folder, a sibling folder whose name starts the
same (public-secret), and symlinks pointing out. None may ever be sent.
"""

import hashlib
import mimetypes
import os
import re
import socket
import time
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.expect import IMF_FIXDATE, expect_response
from checks.properties import course_settings
from checks.report import CheckFailed, visible
from checks.unit import call, expect_equal, sentence_start
from checks.wire import ANSWER_TIMEOUT, Exchange, connect, exchange, get_request

MB = 1024 * 1024


@pytest.fixture
def static_module(learner_module):
    return learner_module("static")


@pytest.fixture
def request_module(learner_module, static_module):
    return learner_module("request")


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16] + "…"


def request_with(*header_lines, path="/static/hello.txt", method="GET"):
    lines = "".join(f"{line}\r\n" for line in header_lines)
    return f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode("latin-1")


# ---------------------------------------------------------------------------------------------
# Content types, compared as RFC 9110 (section 8.3.1) compares them: type, subtype, parameter
# names and the charset are case-insensitive, and there may be spaces around ";".

# Types that are text although not text/*: they get a charset (static.py's TEXT_TYPES).
TEXT_TYPES = {"application/json", "application/xml", "image/svg+xml"}
# Types that are surely not text: a charset on them would be a claim about bytes that are no characters.
BINARY_TYPES = {"application/octet-stream", "application/zip", "application/pdf", "application/wasm",
                "application/x-tar", "application/x-gtar", "application/x-python-code"}
TOKEN = r"[!#$%&'*+.^_`|~0-9a-z-]+"


def course_types():
    """The course's type table, built the way static.py builds TYPES: Python's own table, plus three."""
    table = mimetypes.MimeTypes()
    table.add_type("text/javascript", ".js")
    table.add_type("text/javascript", ".mjs")
    table.add_type("image/webp", ".webp")
    return table


def expected_type(name, table):
    guessed, _ = table.guess_type(name)
    guessed = guessed or "application/octet-stream"
    needs_charset = guessed.startswith("text/") or guessed in TEXT_TYPES
    return f"{guessed}; charset=utf-8" if needs_charset else guessed


def charset_rule(media_type):
    """"yes" (text: charset=utf-8 required), "no" (surely binary: none), or "either"."""
    if media_type.startswith("text/") or media_type in TEXT_TYPES:
        return "yes"
    if media_type.split("/")[0] in ("image", "audio", "video") or media_type in BINARY_TYPES:
        return "no"
    return "either"


def parse_content_type(value):
    """(type/subtype, {parameter: value}), lowercased where case does not matter; None if malformed."""
    if not isinstance(value, str):
        return None
    main, *parameters = value.split(";")
    media_type = main.strip().lower()
    if not re.fullmatch(f"{TOKEN}/{TOKEN}", media_type):
        return None
    parsed = {}
    for parameter in parameters:
        name, equals, text = parameter.strip().partition("=")
        if not equals:
            return None
        parsed[name.strip().lower()] = text.strip().strip('"')
    return media_type, parsed


def content_type_matches(got, expected):
    """Does ``got`` say what ``expected`` says (a charset only where a charset is decided)?"""
    parsed = parse_content_type(got)
    if parsed is None:
        return False
    media_type, parameters = parsed
    wanted = expected.split(";")[0]
    if media_type != wanted or set(parameters) - {"charset"}:
        return False
    charset = parameters.get("charset")
    rule = charset_rule(wanted)
    if rule == "yes":
        return charset is not None and charset.lower() == "utf-8"
    if rule == "no":
        return charset is None
    return charset is None or charset.lower() == "utf-8"


def expect_content_type(what, got, expected, sent=None, meaning=None):
    if not content_type_matches(got, expected):
        raise CheckFailed(
            f"{sentence_start(what)} is not right.",
            sent=sent,
            expected=repr(expected) + ("" if charset_rule(expected.split(";")[0]) != "either"
                                       else " (a charset=utf-8 is allowed too)"),
            received=repr(got),
            meaning=meaning or charset_meaning(got, expected),
        )


def charset_meaning(got, expected):
    parsed = parse_content_type(got)
    if parsed is None:
        return "A Content-Type is type/subtype, then optional parameters such as ; charset=utf-8."
    media_type, parameters = parsed
    wanted = expected.split(";")[0]
    if media_type != wanted:
        return f"{wanted} is what the course's table (TYPES) says for this name."
    if "charset" in parameters and charset_rule(wanted) == "no":
        return "Only text gets a charset: these bytes are not characters, so there is nothing to decode."
    return "Without a charset a browser guesses how to decode text, and guesses wrong for ö."


# ---------------------------------------------------------------------------------------------
# TODO 1: resolve()

@pytest.fixture
def root_forms(site):
    """The served folder named three ways: as it is, through a symlink, and relative to the current folder."""
    forms = [("the folder", site)]
    alias = site.parent / "public-alias"
    try:
        if not alias.is_symlink():
            os.symlink(site, alias, target_is_directory=True)
        forms.append(("the folder reached through a symlink (as /tmp is on macOS)", alias))
    except OSError:
        pass  # Windows without the right to make symlinks
    try:
        forms.append(("the folder as a relative path, like StaticFiles(\"static\")", Path(os.path.relpath(site))))
    except ValueError:
        pass  # on another drive (Windows): no relative path leads there
    return forms


@pytest.mark.task(1)
@pytest.mark.hint(
    "Resolve root / relative (Path.resolve follows .. and symlinks), then require "
    "candidate.is_relative_to(self.root.resolve()): resolve both. Never compare paths as strings.",
    docs="#staying-inside-the-root",
)
def test_resolve_keeps_every_path_inside_the_root(static_module, site, root_forms):
    """resolve() finds files inside the root and refuses every way out of it"""
    real_root = site.resolve()
    for label, given_root in root_forms:
        files = call(static_module.StaticFiles, given_root)
        shown_root = f"StaticFiles({str(given_root)!r}), {label}"
        for relative, expected in [
            ("hello.txt", real_root / "hello.txt"),
            ("docs/index.html", real_root / "docs/index.html"),
            ("docs/../hello.txt", real_root / "hello.txt"),
            ("docs/./notes.txt", real_root / "docs/notes.txt"),
            ("notes..txt", real_root / "notes..txt"),
            ("docs", real_root / "docs"),
            (".", real_root),
            ("docs/..", real_root),
        ]:
            got = call(files.resolve, relative)
            if got is None or Path(str(got)).resolve() != expected:
                raise CheckFailed(
                    f"resolve({relative!r}) does not give the file inside the root.",
                    sent=shown_root,
                    expected=str(expected),
                    received=repr(got),
                    meaning=inside_meaning(relative, label),
                )
        got = call(files.resolve, "missing.txt")
        if got is not None and Path(got).resolve() != real_root / "missing.txt":
            raise CheckFailed("resolve('missing.txt') gives a path that is not where missing.txt would be.",
                              sent=shown_root, expected=f"{real_root / 'missing.txt'} (or None)", received=repr(got))
        for relative, why in [
            ("../secret.txt", ".. climbs out of the root"),
            ("docs/../../secret.txt", ".. after a folder still climbs out"),
            ("../public-secret/secret.txt", "public-secret starts like public, but it is a different folder"),
            ("/etc/passwd", "an absolute path replaces the root when joined"),
            ("link-out/secret.txt", "link-out is a symlink that points outside"),
            ("secret-link.txt", "secret-link.txt is a symlink to a file outside"),
            ("%2e%2e/secret.txt", "the path is decoded once already; %2e%2e is now just a name"),
            ("a\x00b", "a NUL byte cuts the path short in the operating system"),
        ]:
            got = call(files.resolve, relative)
            if got is None:
                continue
            try:
                really = Path(got).resolve()
            except (ValueError, OSError) as error:  # a NUL byte still in the path
                raise CheckFailed(f"resolve({relative!r}) gives a path the operating system cannot open.",
                                  sent=shown_root, expected=f"None, because {why}",
                                  received=f"{got!r} ({error})",
                                  meaning="Refuse a NUL byte before you touch the path.") from None
            if not really.is_relative_to(real_root):
                raise CheckFailed(
                    f"resolve({relative!r}) gives a path outside the root.",
                    sent=shown_root,
                    expected=f"None, because {why}",
                    received=f"{got} (which is really {really})",
                    meaning="Anyone could read any file the server can read.",
                )


def inside_meaning(relative, label):
    if ".." in relative and "/" not in relative:
        return "notes..txt is a name with two dots in it, not a way up: only the name .. climbs. " \
               "Work out where the path leads (resolve()) instead of looking for '..' in the text."
    if "symlink" in label or "relative" in label:
        return "Resolve the root too: a root that is relative, or behind a symlink, is not comparable " \
               "with a resolved candidate, so every file looks outside it."
    return "The file is inside the root, so resolve() should give its path (resolved)."


@pytest.mark.task(1)
@pytest.mark.hint("Return None when relative contains a backslash (\"\\\\\"), wherever it is, as you do for "
                  "a NUL byte.", docs="#the-fix-resolve-then-compare-names")
def test_resolve_refuses_a_backslash(static_module, site):
    """resolve() refuses a path with a backslash in it, wherever the backslash is"""
    files = call(static_module.StaticFiles, site)
    for relative in ["..\\secret.txt", "docs\\..\\..\\secret.txt", "docs/..\\..\\secret.txt", "docs\\notes.txt",
                     "\\etc\\passwd", "hello.txt\\"]:
        got = call(files.resolve, relative)
        if got is not None:
            raise CheckFailed(
                f"resolve({relative!r}) accepts a backslash.",
                expected="None",
                received=repr(got),
                meaning="On Windows a backslash separates folders, so ..\\secret.txt climbs out of the root "
                "there; on Linux and macOS it is part of a name. Refused everywhere, a path means the same "
                "on every system (and no browser ever sends one: it turns \\ into /).",
            )


# ---------------------------------------------------------------------------------------------
# TODO 2: content_type()

@pytest.mark.task(2)
@pytest.mark.hint("TYPES.guess_type(path.name); add '; charset=utf-8' to text types; "
                  "unknown → application/octet-stream.", docs="#content-types")
def test_content_types_follow_the_extension(static_module):
    """Each extension gets its type, text with a charset, and the unknown gets application/octet-stream"""
    for name, expected in [
        ("a.html", "text/html; charset=utf-8"),
        ("a.css", "text/css; charset=utf-8"),
        ("a.js", "text/javascript; charset=utf-8"),
        ("a.txt", "text/plain; charset=utf-8"),
        ("a.json", "application/json; charset=utf-8"),
        ("a.svg", "image/svg+xml; charset=utf-8"),
        ("a.png", "image/png"),
        ("a.xyz123", "application/octet-stream"),
        ("noextension", "application/octet-stream"),
    ]:
        expect_content_type(f"content_type(Path({name!r}))", call(static_module.content_type, Path(name)), expected)


# What a machine's own table might say (the Windows registry, or /etc/mime.types), unlike the course's.
MACHINE_SAYS = {".css": "text/plain", ".js": "application/x-javascript", ".png": "image/x-png",
                ".json": "text/x-json", ".xyz123": "chemical/x-xyz"}


@pytest.fixture
def machine_table_disagrees():
    """For the check's duration, this machine's type table (mimetypes.guess_type) says MACHINE_SAYS."""
    mimetypes.init()
    for extension, media_type in MACHINE_SAYS.items():
        mimetypes.add_type(media_type, extension)
    yield
    mimetypes.init()  # back to what the machine's own files say


@pytest.mark.task(2)
@pytest.mark.hint("Look names up with TYPES.guess_type(path.name): the course's table, the same on every "
                  "machine. mimetypes.guess_type() reads the machine's table, which differs from machine to "
                  "machine.", docs="#types-from-extensions")
def test_content_types_come_from_the_course_table(static_module, machine_table_disagrees):
    """Every extension of the course's table gets its type, whatever this machine's own table says"""
    table = course_types()
    for extension, machine_type in MACHINE_SAYS.items():
        name = f"file{extension}"
        got = call(static_module.content_type, Path(name))
        expected = expected_type(name, table)
        if not content_type_matches(got, expected):
            said = parse_content_type(got)
            raise CheckFailed(
                f"content_type(Path({name!r})) is not the course's type.",
                sent=f"content_type(Path({name!r})), on a machine whose own table says {extension} is {machine_type}",
                expected=repr(expected),
                received=repr(got),
                meaning="Your content_type() used the machine's table (mimetypes.guess_type), which Windows "
                "and Linux fill with their own opinions." if said and said[0] == machine_type
                else charset_meaning(got, expected),
            )
    names = [f"file{extension}" for extension in sorted(table.types_map[True])]
    names += ["PHOTO.JPG", "Index.HTML", "jquery.min.js", "v1.2.notes.txt", "README", ".htaccess"]
    for name in names:
        if table.guess_type(name)[1] is not None:
            continue  # a compressed file (.tar.gz): what to send for it is another question
        got = call(static_module.content_type, Path(name))
        case = "TYPES.guess_type() finds .JPG as it finds .jpg: extensions are compared without regard to case. " \
            if name.split(".")[-1].isupper() and parse_content_type(got) and parse_content_type(got)[0] != \
            expected_type(name, table).split(";")[0] else ""
        expect_content_type(f"content_type(Path({name!r}))", got, expected_type(name, table),
                            meaning=(case + charset_meaning(got, expected_type(name, table))) if case else None)


# ---------------------------------------------------------------------------------------------
# TODO 3: __call__(), over real connections

TYPES_BY_SUFFIX = {".txt": "text/plain; charset=utf-8", ".css": "text/css; charset=utf-8",
                   ".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8",
                   ".json": "application/json; charset=utf-8", ".svg": "image/svg+xml; charset=utf-8",
                   ".png": "image/png", ".xyz123": "application/octet-stream"}


@pytest.mark.task(3, needs=(1, 2))
@pytest.mark.hint("Open files in binary mode and send their bytes; Content-Length is the file's size in bytes.",
                  docs="#serving-a-file")
def test_files_arrive_with_their_types_and_exact_bytes(static_server, files):
    """Text, CSS, JavaScript, HTML, JSON, SVG, PNG and unknown files arrive byte for byte, with their types"""
    for name, data in files.items():
        if "/" in name:
            continue
        result = exchange(static_server, get_request(f"/static/{quote(name)}"))
        response = expect_response(result, 200)
        if response.body != data:
            raise result.fail(f"The bytes of {name} changed on the way.",
                              f"{len(data)} bytes, SHA-256 {digest(data)}",
                              detail=f"received {len(response.body)} bytes, SHA-256 {digest(response.body)}",
                              meaning="Read files as bytes ('rb') and send them untouched, and do not decode "
                              "the path again: it arrives decoded once.")
        expect_content_type(f"the Content-Type of {name}", response.header("content-type"),
                            TYPES_BY_SUFFIX[Path(name).suffix], sent=result.sent)


@pytest.mark.task(3, needs=(1, 2))
@pytest.mark.hint("For a folder, with or without a final slash, serve its index.html (with the type of "
                  "index.html); a folder without one is 404 (no listing).", docs="#a-folder-gets-its-indexhtml")
def test_a_folder_is_served_by_its_index(static_server, files):
    """A folder, with or without a final slash, is answered with its index.html; a folder without one, and a missing file, get 404"""
    for path in ("/static/docs/", "/static/docs"):
        result = exchange(static_server, get_request(path))
        response = expect_response(result, 200, what=f"200 OK with docs/index.html for {path}")
        if response.body != files["docs/index.html"]:
            raise result.fail(f"The body of {path} is not docs/index.html.", visible(files["docs/index.html"]))
        expect_content_type(f"the Content-Type of {path}", response.header("content-type"),
                            "text/html; charset=utf-8", sent=result.sent,
                            meaning="The file sent is docs/index.html: its type is that of index.html, "
                            "not of the folder's name.")
    for path in ("/static/empty-folder/", "/static/missing.txt", "/static/docs/missing.html", "/static/missing/"):
        expect_response(exchange(static_server, get_request(path)), 404, what=f"404 Not Found for {path}")


@pytest.mark.task(3, needs=(1, 2))
@pytest.mark.hint("Answer every method the router gives you: for HEAD, the router calls the GET handler, and "
                  "the server leaves out the body. Return the same response as for GET.",
                  docs="#a-head-request")
def test_head_is_answered_like_get_without_the_body(static_server, files):
    """HEAD gets the head a GET would get, with the file's exact Content-Length, and no body"""
    for path, size in [("/static/hello.txt", len(files["hello.txt"])), ("/static/logo.png", len(files["logo.png"])),
                       ("/static/docs/", len(files["docs/index.html"])), ("/static/empty.txt", 0)]:
        got = expect_response(exchange(static_server, get_request(path)), 200)
        result = exchange(static_server, request_with(path=path, method="HEAD"))
        head = expect_response(result, 200, what=f"200 OK for HEAD {path}, as for GET")
        if head.header("content-length") != str(size):
            raise result.fail(f"The answer to HEAD {path} says Content-Length: {head.header('content-length')}.",
                              f"Content-Length: {size}, the size a GET gets (RFC 9110, section 9.3.2)",
                              meaning="A HEAD answer announces the length of the body it leaves out.")
        for name in ("Content-Type", "ETag", "Last-Modified"):
            if head.header(name) != got.header(name):
                raise result.fail(f"HEAD {path} and GET {path} give different {name} headers.",
                                  f"{name}: {got.header(name)} (as GET got)",
                                  detail=f"HEAD got {name}: {head.header(name)}")


TRAVERSALS = [
    pytest.param(b"/static/../secret.txt", id="dot-dot"),
    pytest.param(b"/static/docs/../../secret.txt", id="dot-dot after a folder"),
    pytest.param(b"/static/%2e%2e/secret.txt", id="percent-encoded dots"),
    pytest.param(b"/static/%2e%2e%2fsecret.txt", id="percent-encoded dots and slash"),
    pytest.param(b"/static/%252e%252e/secret.txt", id="double-encoded dots"),
    pytest.param(b"/static//etc/passwd", id="absolute path"),
    pytest.param(b"/static/../public-secret/secret.txt", id="sibling folder with the same prefix"),
    pytest.param(b"/static/link-out/secret.txt", id="symlink pointing out"),
    pytest.param(b"/static/secret-link.txt", id="a file symlink pointing out"),
    pytest.param(b"/static/linked-index/", id="a folder whose index.html points out"),
    pytest.param(b"/static/hello.txt%00.png", id="NUL byte"),
]


# resolve()'s own checks grade where a path may lead; this one grades that __call__ (TODO 3) asks it, every time.
@pytest.mark.task(3, needs=(1,))
@pytest.mark.parametrize("target", TRAVERSALS)
@pytest.mark.hint("Every way out gets 404, just like a missing file, so nothing is revealed.",
                  docs="#staying-inside-the-root")
def test_a_way_out_of_the_root_gets_404(static_server, target):
    """A request that tries to leave the static folder gets 404 and no secret"""
    sent = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    result = exchange(static_server, sent)
    if b"SECRET" in result.received or b"root:" in result.received:
        raise result.fail("A file outside the static folder was sent!", "404 Not Found, and no secret",
                          meaning="This is a path traversal: anyone could read the server's files.")
    expect_response(result, 404)
    expect_response(exchange(static_server, get_request("/static/hello.txt")), 200)


NOT_A_FILE = (
    "A named pipe is in the folder, but it is no regular file: open() on it waits until some program writes "
    "to it, holding the thread for ever. Serve what is_file() says is a file, and answer 404 for the rest."
)

FILE_SYSTEM_SAYS_NO = (
    "The file system refuses some paths with an error: OSError (File name too long) for a long one, "
    "RuntimeError or OSError for a symlink loop, depending on the Python version. Let it out of __call__ and "
    "each such request is a 500, with a traceback in your log: catch it and answer 404."
)
SLASH_AFTER_A_FILE = (
    "A slash at the end asks for a folder, and hello.txt is a file: the operating system itself refuses to "
    "open hello.txt/ (ENOTDIR), and nginx answers 404. Path() drops the slash, so check the text you were given."
)

NO_SUCH_FILE = [
    pytest.param(b"/static/" + b"a" * 300, "a name too long for the file system (ENAMETOOLONG)",
                 id="a 300-character name"),
    pytest.param(b"/static/" + b"d/" * 2500 + b"x", "a path too long for the file system", id="a 5 KB path"),
    pytest.param(b"/static/loop-a/x", "a symlink loop: loop-a points at loop-b, which points back",
                 id="a symlink loop"),
    pytest.param(b"/static/hello.txt/", "a slash after a file's name: it asks for a folder, and there is none",
                 id="a file's name with a slash after it"),
    pytest.param(b"/static/pipe", "a named pipe: opening it waits for a writer, for ever", id="a named pipe"),
]


@pytest.mark.task(3, needs=(1,))
@pytest.mark.parametrize("target, why", NO_SUCH_FILE)
@pytest.mark.hint("Put resolve(), is_dir(), is_file() and stat() in one try; except (OSError, RuntimeError), "
                  "answer 404. A path ending in / that leads to a file names no folder: 404 too. Serve only what "
                  "is_file() says is a file: not exists(), which is true of a named pipe too.",
                  docs="#when-the-file-system-says-no")
def test_a_path_that_names_no_file_gets_404(static_server, target, why):
    """A path that names no file gets 404, not an error: too long, a symlink loop, a slash after a file, a named pipe"""
    sent = b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    result = exchange(static_server, sent)
    response = result.response("404 Not Found")
    if response.status != 404:
        raise result.fail(
            f"A request for {why} got {response.status}, not 404.",
            "404 Not Found, as for any file that is not there",
            meaning=SLASH_AFTER_A_FILE if target.endswith(b"/") else NOT_A_FILE if target.endswith(b"pipe")
            else FILE_SYSTEM_SAYS_NO,
            todo=3,  # wherever the error was raised (resolve() may raise), __call__ is the one to catch it
        )
    expect_response(exchange(static_server, get_request("/static/hello.txt")), 200)


@pytest.mark.task(3, needs=(1, 2))
@pytest.mark.hint("Stream the file in chunks (response.chunks and response.length); Content-Length is "
                  "the size on disk.", docs="#large-files")
def test_a_large_file_arrives_complete(static_server, layout, large_file):
    """A 20 MB file arrives complete, with the right Content-Length"""
    data = large_file
    result = exchange(static_server, get_request(f"/static/{layout.large_file}"), timeout=30)
    response = expect_response(result, 200)
    expect_equal("Content-Length of a 20 MB file", response.header("content-length"), str(len(data)))
    if response.body != data:
        raise CheckFailed("The 20 MB file did not arrive intact.",
                          expected=f"{len(data)} bytes, SHA-256 {digest(data)}",
                          received=f"{len(response.body)} bytes, SHA-256 {digest(response.body)}")


# Seconds to wait for the head of the 64 MB file: a server that reads it whole first takes a moment.
HEAD_TIMEOUT = 15.0
# The client's receive buffer during the memory check: small, so the server soon waits for the
# client, mid-file, whatever the machine's buffer sizes.
SMALL_RECEIVE_BUFFER = 64 * 1024



def read_head(conn, timeout):
    """Bytes read until the end of a response head, the connection's end, or ``timeout``."""
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


@pytest.mark.task(3, needs=(1, 2))
@pytest.mark.hint("Give the response the file as chunks: response.chunks = read_in_chunks(path) and "
                  "response.length = stat.st_size. Not path.read_bytes() (not even to learn its length), "
                  "file.read() or list(...) of the chunks: each holds the whole file in memory.",
                  docs="#large-files")
def test_a_large_file_is_never_held_whole_in_memory(static_server, layout):
    """A 64 MB file is sent piece by piece: the server's memory does not grow by the file's size"""
    size = layout.huge_file_bytes
    before = static_server.memory()
    sent = get_request(f"/static/{layout.huge_file}")
    result = Exchange(server=static_server, sent=sent, timeout=HEAD_TIMEOUT)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as conn:
        # Set before connecting: the buffer's size sets the window the server may fill.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_RECEIVE_BUFFER)
        conn.settimeout(ANSWER_TIMEOUT)
        try:
            conn.connect(static_server.address)
        except OSError:
            connect(static_server).close()  # says why nothing is listening, in the harness's words
            raise
        conn.sendall(sent)
        # The head arrives once the server has started sending; a server that reads the whole file
        # has read it by then. The client reads no further, so the server waits, mid-file.
        result.received = read_head(conn, HEAD_TIMEOUT)
        during = static_server.memory()
    if not result.received.startswith(b"HTTP/1.1 200 ") or b"\r\n\r\n" not in result.received:
        result.timed_out = b"\r\n\r\n" not in result.received
        raise result.fail(f"The {size // MB} MB file did not start arriving.",
                          "a head starting with HTTP/1.1 200 OK, then the file's bytes")
    grown = {name: during[name] - before[name] for name in before if name in during}
    if not grown:
        return  # this system cannot say how much memory a process uses: nothing to compare
    name, grew = max(grown.items(), key=lambda item: item[1])
    if grew > size // 2:
        raise CheckFailed(
            f"While it sent the {size // MB} MB file, your server's {name} grew by {grew / MB:.0f} MB.",
            sent=visible(sent),
            expected=f"growth of a few 64 KiB pieces at most, far below {size // MB // 2} MB: a file sent in "
            "pieces costs the same memory, whatever its size",
            received=f"{name}: {before[name] / MB:.0f} MB before the request, {during[name] / MB:.0f} MB once "
            "the file was on its way (the check stopped reading after the head, so the server had to wait "
            "mid-file)",
            meaning="The whole file was in memory at once" + (" (and still is)" if name == "resident memory"
                                                              else ", if only for a moment") +
            ". With a few visitors downloading large files, the server runs out of memory.",
        )


# ---------------------------------------------------------------------------------------------
# TODO 4: not_modified(), over real connections and called directly

def http_date(seconds):
    return formatdate(seconds, usegmt=True)


# not_modified() is given this ETag and modification time by the checks below.
ETAG = '"5f3a9c1e-2a"'
MTIME = 1614834367.891
# Tags that are not ETAG, though they look like it, or contain it, or contain *.
NEAR_MISSES = ['"5f3a9c1e-2a0"', '"x5f3a9c1e-2a"', '"5f3a9c1e-2"', '"5F3A9C1E-2A"', '"*"', '""']
# Between the tags of a list: a comma, with optional spaces or tabs around it (RFC 9110, section 5.6.1).
SEPARATORS = [", ", ",", " , ", ",\t"]


def if_none_match_cases():
    """(If-None-Match value, whether it matches ETAG): the tag alone, first, between others and last,
    strong and weak, with every separator; lists of tags that are not it; * and "*"."""
    yield "*", True
    yield '"*"', False
    yield "", False  # present but empty: a list of no tags matches nothing, and If-Modified-Since is still ignored
    for ours in (ETAG, f"W/{ETAG}"):
        yield ours, True
    for separator in SEPARATORS:
        for ours in (ETAG, f"W/{ETAG}"):
            for before, after in (([], ['"b"']), (['"a"'], []), (['"a"'], ['W/"b"']),
                                  (NEAR_MISSES[:3], NEAR_MISSES[3:])):
                yield separator.join([*before, ours, *after]), True
        yield separator.join(NEAR_MISSES), False
        yield separator.join(f"W/{tag}" for tag in NEAR_MISSES), False
    for tag in NEAR_MISSES:
        yield tag, False
        yield f"W/{tag}", False


def conditional_request(request_module, fields):
    headers = request_module.Headers(fields)
    return request_module.HTTPRequest(method="GET", target="/static/file.txt", version="HTTP/1.1", headers=headers)


def ask_not_modified(static_module, request_module, fields, etag, mtime):
    """not_modified() for a request with ``fields``; an exception becomes a CheckFailed that shows them."""
    request = conditional_request(request_module, fields)
    sent = "".join(f"{name}: {value}\n" for name, value in fields) or "(no conditional headers)"
    shown = f"not_modified(request, {etag!r}, {mtime!r})"
    try:
        return sent, call(static_module.not_modified, request, etag, mtime, shown=shown)
    except CheckFailed as failure:
        failure.sent = sent + f"then {shown}"
        if failure.meaning is None:
            failure.meaning = "A header the client sent must never crash the handler (that is a 500): " \
                              "a value you cannot use is ignored."
        raise


@pytest.mark.task(4)
@pytest.mark.hint("tags = [tag.strip() for tag in value.split(\",\")]; match when \"*\" in tags, etag in tags, "
                  "or f\"W/{etag}\" in tags. When If-None-Match is present, return that answer, whatever "
                  "If-Modified-Since says.", docs="#if-none-match-comes-first")
def test_if_none_match_finds_the_tag_in_any_list(static_module, request_module):
    """If-None-Match matches the ETag anywhere in a list, weak or strong, and * matches any file; it overrules If-Modified-Since"""
    dates = {None: None, "fresh": http_date(MTIME + 3600), "stale": http_date(MTIME - 86400)}
    for value, matches in if_none_match_cases():
        # With no date, then with a date that says the opposite of If-None-Match, which must be ignored.
        for since in (None, "stale" if matches else "fresh"):
            fields = [("If-None-Match", value)] + ([("If-Modified-Since", dates[since])] if since else [])
            sent, got = ask_not_modified(static_module, request_module, fields, ETAG, MTIME)
            if bool(got) == matches:
                continue
            if matches:
                why = "* matches any file" if value == "*" else f"the list holds this file's ETag {ETAG}" + (
                    ", in its weak form W/… (for If-None-Match a weak tag matches its strong twin)"
                    if f"W/{ETAG}" in value else "")
            else:
                why = f"no tag in the list is exactly {ETAG} or W/{ETAG}" + (
                    " (\"*\", in quotes, is a tag like any other; only a bare * matches any file)"
                    if '"*"' in value else "")
            if since:
                why += "; If-Modified-Since must be ignored when If-None-Match is present (RFC 9110, section 13.1.3)"
            raise CheckFailed(
                f"not_modified() says {bool(got)} for this If-None-Match.",
                sent=sent + f"then not_modified(request, {ETAG!r}, {MTIME!r})",
                expected=f"{matches}: {why}",
                received=repr(got),
                meaning="If-None-Match is * or a list of ETags separated by commas, with optional spaces "
                "or tabs; compare whole tags, quotes included.",
            )


DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def date_forms(seconds):
    """The three forms of one HTTP date (RFC 9110, section 5.6.7)."""
    moment = time.gmtime(seconds)
    day, month = DAY_NAMES[moment.tm_wday], MONTHS[moment.tm_mon - 1]
    clock = f"{moment.tm_hour:02d}:{moment.tm_min:02d}:{moment.tm_sec:02d}"
    return {
        "IMF-fixdate": http_date(seconds),
        "RFC 850": f"{day}, {moment.tm_mday:02d}-{month}-{moment.tm_year % 100:02d} {clock} GMT",
        "asctime": f"{day[:3]} {month} {moment.tm_mday:2d} {clock} {moment.tm_year}",
    }


# File times and dates the check tries, in GMT: in 2021, around the turn of the century (an RFC 850
# date has a two-digit year), and in 1973. All in the past, so every reader agrees what "99" means.
MOMENTS = [1614834367, 946684799, 951782400, 100000000]
# How much later (or earlier) than the file's time the client's date is, in seconds.
DATE_OFFSETS = [0, 1, 6 * 3600, 400 * 86400, -1, -6 * 3600, -400 * 86400]
FRACTIONS = [0.0, 0.5, 0.999]


def readable_dates():
    """(mtime, If-Modified-Since value, its form, whether the client's copy is current)."""
    for form in ("IMF-fixdate", "RFC 850", "asctime"):
        for moment in MOMENTS:
            for offset in DATE_OFFSETS:
                for fraction in FRACTIONS:
                    yield moment + fraction, date_forms(moment + offset)[form], form, offset >= 0


UNREADABLE_DATES = ["Wed, 25 Nov 99999999999 16:40:36 GMT", "Wed, 25 Nov 2026 16:40:36 +99999999999999",
                    "yesterday", "", "Mon, 32 Jan 2020 00:00:00 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                    "Sun, 06 Foo 1994 08:49:37 GMT"]
# The file's time when the date is unreadable: in 1973, so that a date misread as any later one says "current".
EARLIEST = 100_000_000


GOOD = ["Thu,", "04", "Mar", "2021", "05:06:07", "GMT"]


@st.composite
def unreadable_dates(draw):
    """A value that is no HTTP date: a date with one field out of range or too large, or no date at all."""
    field = draw(st.sampled_from(["day", "month", "year", "hour", "minute", "second", "zone", "words", "empty"]))
    parts = list(GOOD)
    if field == "day":
        parts[1] = str(draw(st.integers(32, 10**12)))
    elif field == "month":
        parts[2] = draw(st.sampled_from(["Foo", "Xyz", "13"]))
    elif field == "year":
        parts[3] = str(draw(st.integers(10**4, 10**20)))
    elif field in ("hour", "minute", "second"):
        numbers = [5, 6, 7]
        index = ["hour", "minute", "second"].index(field)
        numbers[index] = draw(st.integers([24, 60, 61][index], 10**12))
        parts[4] = ":".join(f"{number:02d}" for number in numbers)
    elif field == "zone":
        parts[5] = draw(st.sampled_from("+-")) + str(draw(st.integers(2400, 10**20)))
    elif field == "words":
        return draw(st.text("abcdefghijklmnopqrstuvwxyzGMT ,:-", max_size=30))
    else:
        return ""
    return " ".join(parts)


@pytest.fixture
def local_time_is_not_gmt(layout):
    """For the check's duration this process's local time is the server's: 5 h 45 min ahead of GMT."""
    if not hasattr(time, "tzset"):
        yield  # Windows: the time zone cannot be changed for one process
        return
    saved = os.environ.get("TZ")
    os.environ["TZ"] = layout.time_zone
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.task(4)
@pytest.mark.hint("since = parsedate_to_datetime(value), catching ValueError, TypeError and OverflowError (then "
                  "ignore the header); a date without a zone is GMT: since.replace(tzinfo=timezone.utc); "
                  "current when int(mtime) <= since.timestamp().", docs="#dates-a-client-may-send")
def test_if_modified_since_reads_every_http_date_form(static_module, request_module, local_time_is_not_gmt):
    """If-Modified-Since is read in all three HTTP date forms, in whole seconds; a value that is not a date is ignored"""

    def expect(mtime, value, form, current):
        sent, got = ask_not_modified(static_module, request_module, [("If-Modified-Since", value)], ETAG, mtime)
        if bool(got) == current:
            return
        if form is None:
            why = "the value is not a date, so the header is ignored (RFC 9110, section 13.1.3)"
        else:
            why = (f"the file was last modified at {http_date(mtime)} (whole seconds), "
                   f"{'not after' if current else 'after'} the date sent, here in {form} form")
        raise CheckFailed(
            f"not_modified() says {bool(got)} for this If-Modified-Since.",
            sent=sent + f"then not_modified(request, {ETAG!r}, {mtime!r})",
            expected=f"{current}: {why}",
            received=repr(got),
            meaning=date_meaning(form),
        )

    for case in readable_dates():
        expect(*case)
    for value in UNREADABLE_DATES:
        expect(EARLIEST, value, None, False)

    # Then any value that is no date: Hypothesis tries many, and shows the simplest that fails.
    @course_settings(max_examples=60)
    @given(value=unreadable_dates())
    def ignored(value):
        expect(EARLIEST, value, None, False)

    ignored()


def date_meaning(form):
    if form is None:
        return "A date that cannot be read, or whose numbers are too large for a date (OverflowError), " \
               "counts as no date at all."
    if form == "IMF-fixdate":
        return "Compare whole seconds: int(mtime) <= the date's timestamp. A date read without its zone is " \
               "taken as local time by .timestamp(); HTTP dates are GMT."
    return f"HTTP has three date forms, and a server must read all three. {form} " + \
        ("has no zone, so parsedate_to_datetime() gives a naive datetime, which .timestamp() would take as "
         "local time; HTTP dates are GMT: since.replace(tzinfo=timezone.utc)." if form == "asctime" else
         "is what older clients send; parsedate_to_datetime() reads it.")


@pytest.mark.task(4, needs=(1, 2, 3))
@pytest.mark.hint("If-None-Match alone decides when present: split it at commas, strip spaces, and look for the "
                  "ETag, W/ plus the ETag, or *. Otherwise If-Modified-Since, if it is a date not older than "
                  "int(mtime), gives 304; a value that is not a date is ignored. A 304 has no body.",
                  docs="#conditional-requests")
def test_conditional_requests_get_304(static_server, layout):
    """A client whose copy is current gets 304 Not Modified with no body; a stale copy gets the file"""
    path = f"/static/{layout.dated_file}"
    first = expect_response(exchange(static_server, get_request(path)), 200)
    etag = first.header("etag")
    if not etag:
        raise CheckFailed("The file was sent without an ETag.",
                          expected="an ETag header, so that browsers can ask whether it changed",
                          received=f"ETag: {etag!r}")
    opaque = etag.removeprefix("W/")
    modified = layout.dated_last_modified  # the file's own time: what a right Last-Modified says
    mtime = layout.dated_mtime_ns // 10**9
    long_ago = http_date(0)
    cases = [
        ([f"If-None-Match: {etag}"], 304, "the client has this very version"),
        ([f"If-Modified-Since: {modified}"], 304, "the file has not changed since that date (whole seconds)"),
        (['If-None-Match: "not-the-same"'], 200, "the client has another version"),
        ([f"If-Modified-Since: {long_ago}"], 200, "the file changed after that date"),
        ([f'If-None-Match: "not-the-same", {etag}'], 304, "the list holds this file's ETag"),
        ([f"If-None-Match: W/{opaque}"], 304, "a weak tag matches its strong twin in If-None-Match"),
        (["If-None-Match: *"], 304, "* matches any file that exists"),
        (['If-None-Match: "not-the-same"', f"If-Modified-Since: {modified}"], 200,
         "with If-None-Match present, If-Modified-Since must be ignored (RFC 9110, section 13.1.3)"),
        ([f"If-None-Match: {etag}", f"If-Modified-Since: {long_ago}"], 304,
         "If-None-Match decides alone, and it matches"),
        ([f"If-Modified-Since: {http_date(mtime - 1)}"], 200, "the file changed a second after that date"),
        ([f"If-Modified-Since: {http_date(mtime + 86400)}"], 304, "the file has not changed since a day later"),
        (["If-Modified-Since: Wed, 25 Nov 99999999999 16:40:36 GMT"], 200, "a year too large is not a date: ignore it"),
        (["If-Modified-Since: Wed, 25 Nov 2026 16:40:36 +99999999999999"], 200,
         "a zone too large is not a date: ignore it"),
        (["If-Modified-Since: yesterday"], 200, "a value that is not a date is ignored"),
        (["If-Modified-Since: "], 200, "an empty value is not a date: ignore it"),
        (["If-None-Match: ", f"If-Modified-Since: {modified}"], 200,
         "If-None-Match is there, though empty: it matches nothing, and If-Modified-Since must be ignored"),
    ]
    cases += [(lines, expected, f"{why}; HEAD gets what GET gets (RFC 9110, sections 9.3.2 and 13.1)", "HEAD")
              for lines, expected, why in cases[:2]]
    for lines, expected, why, *method in cases:
        result = exchange(static_server, request_with(*lines, path=path, method=method[0] if method else "GET"))
        shown = " and ".join(lines) + (f", by {method[0]}" if method else "")
        what = f"{expected} for a request with {shown}, because {why}"
        if method and result.response(what).status != expected:  # GET got it right just before: __call__ did not ask
            raise result.fail(f"A HEAD with {shown.removesuffix(', by HEAD')} did not get the {expected} a GET gets.",
                              what, todo=3, meaning="__call__ must ask not_modified() for a HEAD too: a HEAD gets "
                              "the head a GET would get, and a GET of a current copy gets 304 (RFC 9110, section "
                              "13.1.2: \"if the request method is GET or HEAD\").")
        response = expect_response(result, expected, what=what)
        if expected == 304 and len(result.received) > len(response.raw_head):
            raise result.fail("The 304 response carries a body.", "the head alone: 304 means 'use your copy'")


# ---------------------------------------------------------------------------------------------
# TODO 3 again: the validators, and what a 304 carries. After the checks of TODO 4, so that a
# mistake in not_modified() is reported there first.

# entity-tag = [ weak ] opaque-tag; opaque-tag = DQUOTE *etagc DQUOTE (RFC 9110, section 8.8.3)
ENTITY_TAG = re.compile(r'(W/)?"[\x21\x23-\x7e\x80-\xff]*"')


def set_version(path, data, mtime_ns):
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path.stat().st_mtime_ns == mtime_ns  # False where the file system keeps coarser times


@pytest.mark.task(3, needs=(1, 2))
@pytest.mark.hint("etag = f'\"{stat.st_mtime_ns:x}-{stat.st_size:x}\"' (quotes included); Last-Modified = "
                  "formatdate(stat.st_mtime, usegmt=True); pass both headers to the 304 as well.",
                  docs="#the-validators")
def test_validators_describe_the_file(static_server, layout, site):
    """ETag is a quoted tag that changes with the file, Last-Modified its time in GMT, and a 304 repeats both"""
    path = f"/static/{layout.dated_file}"
    result = exchange(static_server, get_request(path))
    response = expect_response(result, 200)
    etag, modified = response.header("etag"), response.header("last-modified")
    if etag is None or not ENTITY_TAG.fullmatch(etag):
        raise result.fail(f"The ETag header is {'missing' if etag is None else repr(etag)}.",
                          'ETag: "…", a tag in double quotes (W/"…" for a weak one), e.g. "17f9e2a3b4c5d6e7-24"',
                          meaning="The quotes are part of the ETag (RFC 9110, section 8.8.3): clients send it "
                          "back exactly as they got it, and compare it quotes and all.")
    if modified != layout.dated_last_modified:
        raise result.fail(f"Last-Modified is {'missing' if modified is None else repr(modified)}.",
                          f"Last-Modified: {layout.dated_last_modified} (the file's modification time, "
                          "2021-03-04 05:06:07.891 GMT, in whole seconds)",
                          meaning=last_modified_meaning(modified, layout))
    result = exchange(static_server, request_with(f"If-None-Match: {etag}", path=path))
    not_modified = expect_response(result, 304, what=f"304 for If-None-Match: {etag}, the file's own ETag")
    if not_modified.header("etag") != etag or not_modified.header("last-modified") not in (None, modified):
        raise result.fail("The 304 does not repeat the validators the 200 carried.",
                          f"ETag: {etag}" + f" and Last-Modified: {modified} (or no Last-Modified)",
                          meaning="RFC 9110, section 15.4.5: a 304 carries the ETag a 200 would have "
                          "carried, so that the browser can update what it stored.")

    changing = site / layout.changing_file
    base = 1_640_995_200_100_000_000  # 2022-01-01 00:00:00.1 GMT
    versions = [
        (b"version 1\n", base, None),
        (b"version 2\n", base + 1_000_000_000, "saved again a second later, with the same size"),
        (b"version three\n", base + 1_000_000_000,
         "replaced by a file of another size that keeps the same modification time (as cp -p, rsync "
         "or an unpacked archive leave it)"),
        (b"version four \n", base + 1_300_000_000, "saved again 0.3 s later, in the same second, with the same size"),
    ]
    before = None
    for data, mtime_ns, change in versions:
        if not set_version(changing, data, mtime_ns) and change and "same second" in change:
            continue  # this file system keeps whole seconds: two saves in one second look the same to it
        result = exchange(static_server, get_request(f"/static/{layout.changing_file}"))
        tag = expect_response(result, 200).header("etag")
        if before is not None and tag == before and not (tag or "").startswith("W/"):
            raise result.fail(f"The ETag did not change when the file was {change}.",
                              f"an ETag other than {before}",
                              detail=f"received ETag: {tag}",
                              meaning="A strong ETag must change whenever the content does (RFC 9110, section "
                              "8.8.1), or a browser holding the old version is told it is current. Build it "
                              "from st_mtime_ns and st_size.")
        before = tag


def last_modified_meaning(modified, layout):
    if modified is None:
        return "Send Last-Modified with every file: formatdate(stat.st_mtime, usegmt=True)."
    if not IMF_FIXDATE.fullmatch(modified):
        return "An HTTP date is an IMF-fixdate ending in GMT: email.utils.formatdate(mtime, usegmt=True)."
    try:
        off = parsedate_to_datetime(modified).timestamp() - layout.dated_mtime_ns // 10**9
    except (TypeError, ValueError, OverflowError):
        off = None
    if off == 5 * 3600 + 45 * 60:
        return "It is 5 h 45 min ahead: local time labelled GMT (the checks run the server 5 h 45 min ahead " \
               "of GMT). formatdate(mtime, usegmt=True) writes GMT."
    if off is not None and abs(off) > 86400 * 365:
        return "That is not the file's modification time: take it from path.stat().st_mtime, not from now."
    return "Take the time from path.stat().st_mtime and write it with formatdate(mtime, usegmt=True)."
