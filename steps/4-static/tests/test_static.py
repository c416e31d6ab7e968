"""Step 4 — static files: checks of StaticFiles, called directly and over real connections.

Each check serves a fresh folder made for it (see conftest.py), with secrets
beside it: a file in the parent folder, a sibling folder whose name starts the
same (public-secret), and a symlink pointing out. None may ever be sent.
"""

import hashlib
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote

import pytest

from checks.expect import expect_response
from checks.report import CheckFailed
from checks.unit import call, expect_equal, short
from checks.wire import exchange, get_request


@pytest.fixture
def static_module(learner_module):
    return learner_module("static")


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16] + "…"


@pytest.mark.task(1)
@pytest.mark.hint(
    "Resolve root / relative (Path.resolve follows .. and symlinks), then require "
    "candidate.is_relative_to(root.resolve()). Never compare paths as strings.",
    docs="#staying-inside-the-root",
)
def test_resolve_keeps_every_path_inside_the_root(static_module, site):
    """resolve() finds files inside the root and refuses every way out of it"""
    files = call(static_module.StaticFiles, site)
    root = site.resolve()
    for relative, expected in [("hello.txt", root / "hello.txt"), ("docs/index.html", root / "docs/index.html"),
                               ("docs/../hello.txt", root / "hello.txt")]:
        got = call(files.resolve, relative)
        expect_equal(f"resolve({relative!r})", Path(got).resolve() if got is not None else None, expected)
    for relative, why in [
        ("../secret.txt", ".. climbs out of the root"),
        ("docs/../../secret.txt", ".. after a folder still climbs out"),
        ("../public-secret/secret.txt", "public-secret starts like public, but it is a different folder"),
        ("/etc/passwd", "an absolute path replaces the root when joined"),
        ("link-out/secret.txt", "link-out is a symlink that points outside"),
        ("%2e%2e/secret.txt", "the path is decoded once already; %2e%2e is now just a name"),
        ("a\x00b", "a NUL byte cuts the path short in the operating system"),
    ]:
        got = call(files.resolve, relative)
        if got is not None and not Path(got).resolve().is_relative_to(root):
            raise CheckFailed(
                f"resolve({relative!r}) gives a path outside the root.",
                expected=f"None, because {why}",
                received=f"{got} (which is really {Path(got).resolve()})",
                meaning="Anyone could read any file the server can read.",
            )


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
        ("a.png", "image/png"),
        ("a.xyz123", "application/octet-stream"),
        ("noextension", "application/octet-stream"),
    ]:
        expect_equal(f"content_type(Path({name!r}))", call(static_module.content_type, Path(name)), expected,
                     meaning="Without a charset a browser guesses how to decode text, and guesses wrong for ö.")


@pytest.mark.task(3)
@pytest.mark.hint("Open files in binary mode and send their bytes; Content-Length is the file's size in bytes.",
                  docs="#serving-a-file")
def test_files_arrive_with_their_types_and_exact_bytes(static_server, files):
    """Text, CSS, JavaScript, HTML, PNG and unknown files arrive byte for byte, with their types"""
    types = {".txt": "text/plain; charset=utf-8", ".css": "text/css; charset=utf-8",
             ".js": "text/javascript; charset=utf-8", ".html": "text/html; charset=utf-8",
             ".png": "image/png", ".xyz123": "application/octet-stream"}
    for name, data in files.items():
        if "/" in name:
            continue
        result = exchange(static_server, get_request(f"/static/{quote(name)}"))
        response = expect_response(result, 200)
        if response.body != data:
            raise result.fail(f"The bytes of {name} changed on the way.",
                              f"{len(data)} bytes, SHA-256 {digest(data)}",
                              detail=f"received {len(response.body)} bytes, SHA-256 {digest(response.body)}",
                              meaning="Read files as bytes ('rb') and send them untouched.")
        expect_equal(f"the Content-Type of {name}", response.header("content-type"), types[Path(name).suffix],
                     sent=result.sent)


@pytest.mark.task(3)
@pytest.mark.hint("For a folder, serve its index.html; a folder without one is 404 (no listing).",
                  docs="#serving-a-file")
def test_a_folder_is_served_by_its_index(static_server, files):
    """A folder is answered with its index.html; a folder without one, and a missing file, get 404"""
    response = expect_response(exchange(static_server, get_request("/static/docs/")), 200)
    expect_equal("the body of /static/docs/", response.body, files["docs/index.html"])
    for path in ("/static/empty-folder/", "/static/missing.txt", "/static/docs/missing.html"):
        expect_response(exchange(static_server, get_request(path)), 404, what=f"404 Not Found for {path}")


TRAVERSALS = [
    pytest.param(b"/static/../secret.txt", id="dot-dot"),
    pytest.param(b"/static/docs/../../secret.txt", id="dot-dot after a folder"),
    pytest.param(b"/static/%2e%2e/secret.txt", id="percent-encoded dots"),
    pytest.param(b"/static/%2e%2e%2fsecret.txt", id="percent-encoded dots and slash"),
    pytest.param(b"/static/%252e%252e/secret.txt", id="double-encoded dots"),
    pytest.param(b"/static//etc/passwd", id="absolute path"),
    pytest.param(b"/static/../public-secret/secret.txt", id="sibling folder with the same prefix"),
    pytest.param(b"/static/link-out/secret.txt", id="symlink pointing out"),
    pytest.param(b"/static/linked-index/", id="a folder whose index.html points out"),
    pytest.param(b"/static/hello.txt%00.png", id="NUL byte"),
]


@pytest.mark.task(1)
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


@pytest.mark.task(3)
@pytest.mark.hint("Stream the file in chunks (response.chunks and response.length); Content-Length is "
                  "the size on disk.", docs="#large-files")
def test_a_large_file_arrives_complete(static_server, site):
    """A 20 MB file arrives complete, with the right Content-Length"""
    data = (site / "big.bin").read_bytes()
    result = exchange(static_server, get_request("/static/big.bin"), timeout=30)
    response = expect_response(result, 200)
    expect_equal("Content-Length of a 20 MB file", response.header("content-length"), str(len(data)))
    if response.body != data:
        raise CheckFailed("The 20 MB file did not arrive intact.",
                          expected=f"{len(data)} bytes, SHA-256 {digest(data)}",
                          received=f"{len(response.body)} bytes, SHA-256 {digest(response.body)}")


@pytest.mark.task(4)
@pytest.mark.hint("If-None-Match containing the file's ETag → 304; otherwise If-Modified-Since not older "
                  "than the file's modification time (in whole seconds) → 304. A 304 has no body.",
                  docs="#conditional-requests")
def test_conditional_requests_get_304(static_server, site):
    """A client whose copy is current gets 304 Not Modified with no body; a stale copy gets the file"""
    first = expect_response(exchange(static_server, get_request("/static/hello.txt")), 200)
    etag, modified = first.header("etag"), first.header("last-modified")
    if not etag or not modified:
        raise CheckFailed("The file was sent without ETag and Last-Modified.",
                          expected="both headers, so that browsers can ask whether it changed",
                          received=f"ETag: {etag!r}, Last-Modified: {modified!r}")
    long_ago = formatdate(0, usegmt=True)
    for header, expected in [(f"If-None-Match: {etag}", 304), (f"If-Modified-Since: {modified}", 304),
                             ('If-None-Match: "not-the-same"', 200), (f"If-Modified-Since: {long_ago}", 200)]:
        sent = f"GET /static/hello.txt HTTP/1.1\r\nHost: 127.0.0.1\r\n{header}\r\n\r\n".encode()
        result = exchange(static_server, sent)
        response = expect_response(result, expected, what=f"{expected} for a request with {header}")
        if expected == 304 and len(result.received) > len(response.raw_head):
            raise result.fail("The 304 response carries a body.", "the head alone: 304 means 'use your copy'")
