"""compression — the finished site, over real connections.

The server runs the demo site with the token "test-token" and a copy of the extension's static
folder, with three more files: an 8 KB PNG, a zip archive, and a short text. Each answer is
read by h11, a strict HTTP/1.1 parser, or by requests, which asks for gzip as browsers do and
undoes it on its own; Python's gzip module undoes the raw bytes, to compare with the originals.
"""

import gzip
import json
import shutil
import zlib

import pytest

from checks.expect import expect_response
from checks.report import CheckFailed, visible
from checks.wire import exchange, fetch

TOKEN = "test-token"

# Files the demo's folder lacks: compressed formats worth nothing to gzip, and a text too short for it.
EXTRA_FILES = {
    "photo.png": b"\x89PNG\r\n\x1a\n" + bytes(8000),  # a PNG of zeros: gzip would shrink it, and must not try
    "archive.zip": b"PK\x03\x04" + b"zip it, zip it good " * 200,
    "notes.txt": b"A short note: a few hundred bytes gain nothing from gzip.\n" * 6,
}


@pytest.fixture
def folder(step, tmp_path):
    static = tmp_path / "static"
    shutil.copytree(step.folder / "static", static)
    for name, data in EXTRA_FILES.items():
        (static / name).write_bytes(data)
    return static


@pytest.fixture
def site(start_server, folder):
    return start_server({"app": {"token": TOKEN, "static_root": str(folder)}})


def request(method, path, *headers, version="HTTP/1.1"):
    lines = "".join(f"{header}\r\n" for header in headers)
    return f"{method} {path} {version}\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode()


def names_in(value):
    return [name.strip().lower() for name in (value or "").split(",") if name.strip()]


def undo_gzip(data):
    try:
        return gzip.decompress(data), None
    except (OSError, EOFError, zlib.error) as problem:
        return None, f"gzip.decompress says: {problem}"


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint("requests sends Accept-Encoding: gzip, deflate, as browsers do: the page and the JSON come back "
                  "with Content-Encoding: gzip and Vary: Accept-Encoding, and decompress to what a client that "
                  "asks for identity gets.", docs="#after-the-handler")
def test_requests_gets_gzip_and_reads_the_same_page(site, folder):
    """requests gets the article and /api/users as gzip, and reads the same bytes a client that wants them plain gets"""
    for path in ("/static/article.html", "/api/users?count=50"):
        plain = fetch(site, "GET", path, headers={"Accept-Encoding": "identity"})
        squeezed = fetch(site, "GET", path, stream=True)
        raw = squeezed.raw.read(decode_content=False)
        sent = f"GET {path}, by requests (Accept-Encoding: {squeezed.request.headers.get('Accept-Encoding')})"
        what = f"200 with Content-Encoding: gzip, Vary: Accept-Encoding, and gzip of the {len(plain.content)} " \
               "bytes a client that wants identity gets"
        shown = "\n".join(f"{name}: {value}" for name, value in squeezed.headers.items())
        if squeezed.status_code != 200 or squeezed.headers.get("Content-Encoding") != "gzip":
            raise site_failure(f"{path} did not come back as gzip, to a client that accepts it.", sent, what,
                               f"{squeezed.status_code}\n{shown}",
                               "Every browser says Accept-Encoding: gzip. A text body worth compressing goes out "
                               "with Content-Encoding: gzip.")
        if "accept-encoding" not in names_in(squeezed.headers.get("Vary")):
            raise site_failure(f"The gzip answer for {path} does not say Vary: Accept-Encoding.", sent, what, shown,
                               "A cache that stores this answer must not give it to a client that did not ask for "
                               "gzip (RFC 9110, section 12.5.5).")
        undone, problem = undo_gzip(raw)
        if problem or undone != plain.content or plain.headers.get("Content-Encoding"):
            raise site_failure(f"The gzip body of {path} is not the plain body, compressed.", sent, what,
                               f"{len(raw)} bytes: " + (problem or f"they decompress to {len(undone)} bytes, and the "
                                                        f"plain answer has {len(plain.content)}"),
                               "The client undoes gzip and must find exactly what the plain answer holds.")
        read = fetch(site, "GET", path)  # requests undoes gzip on its own, as a browser does
        if read.content != plain.content or (path.startswith("/api/") and read.json() != json.loads(plain.content)):
            raise site_failure(f"requests does not read the plain body of {path} out of the gzip answer.", sent,
                               what, visible(read.content[:200]), "requests undoes the coding that Content-Encoding "
                               "names: it must find the same bytes as the plain answer.")


def site_failure(summary, sent, expected, received, meaning):
    return CheckFailed(summary, sent=sent, expected=expected, received=received, meaning=meaning)


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint("A compressed file has response.length = None: to_bytes then gives no Content-Length, and the "
                  "body ends when the server closes the connection.", docs="#after-the-handler")
def test_a_compressed_file_ends_where_the_connection_closes(site, folder):
    """A compressed file goes out with no Content-Length, gzip to the last byte, and ends when the connection closes"""
    result = exchange(site, request("GET", "/static/article.html", "Accept-Encoding: gzip"))
    what = "200, Content-Encoding: gzip, no Content-Length, and a gzip body up to the close"
    response = expect_response(result, 200, what)
    if response.header("content-encoding") != "gzip":
        raise result.fail("The article came back as it is, to a client that accepts gzip.", what)
    if response.header("content-length") is not None:
        raise result.fail(f"The compressed file says Content-Length: {response.header('content-length')}.", what,
                          meaning="Nobody knows the compressed size before the last piece is compressed: no "
                          "Content-Length, and the body ends at the close (RFC 9112, section 6.3).")
    undone, problem = undo_gzip(response.body)
    original = (folder / "article.html").read_bytes()
    if problem or undone != original:
        raise result.fail("The body is not the article, compressed with gzip.", what,
                          detail=problem or f"it decompresses to {len(undone)} bytes; the file has {len(original)}",
                          meaning="gzip's trailer, written by flush(), ends the stream: without it the client "
                          "cannot tell a whole file from one cut short.")


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint("Treat HEAD exactly as GET in after_request: the server leaves the body out afterwards, and the "
                  "head must be the one GET gets, Content-Encoding, ETag and Vary included.", docs="#head-and-304")
def test_head_gets_the_head_get_gets(site):
    """HEAD gets the head GET gets, coding, ETag, Vary and length (or none) included, and no body"""
    for path in ("/static/article.html", "/api/users?count=50"):
        heads = []
        for method in ("GET", "HEAD"):
            result = exchange(site, request(method, path, "Accept-Encoding: gzip"))
            response = expect_response(result, 200, f"200 for {method} {path}")
            heads.append((result, {name: value for name, value in response.headers if name != "date"}))
        (_, got), (head_result, headed) = heads
        if headed != got:
            differ = sorted(name for name in set(got) | set(headed) if got.get(name) != headed.get(name))
            raise head_result.fail(f"HEAD {path} does not get the head GET gets.",
                                   "GET's fields: " + "; ".join(f"{name}: {got.get(name, '(none)')}" for name in differ),
                                   meaning="A HEAD answer is the GET answer without its body (RFC 9110, section "
                                   "9.3.2): a client asks HEAD to learn what GET would send, coding and size.")


@pytest.mark.task(5, needs=(1, 2, 3, 4, 6, 7))
@pytest.mark.hint("A browser revalidates its gzip copy with the tag it got, \"...-gzip\": before_request adds the "
                  "plain tag beside it so static.py finds the file's, and after_request gives the 304 the gzip tag "
                  "back.", docs="#before-the-handler")
def test_the_gzip_copy_is_revalidated_with_its_own_tag(site):
    """The gzip copy's ETag gets a 304 naming it; the plain copy's a 304 naming that; neither stands in for the other"""
    first = exchange(site, request("GET", "/static/article.html", "Accept-Encoding: gzip"))
    tag = expect_response(first, 200, "200 with an ETag").header("etag") or ""
    plain = exchange(site, request("GET", "/static/article.html"))
    plain_tag = expect_response(plain, 200, "200 with an ETag").header("etag") or ""
    if not tag.endswith('-gzip"') or tag == plain_tag:
        raise first.fail(f"The gzip copy's ETag is {tag or '(none)'}; the plain copy's is {plain_tag or '(none)'}.",
                         "two tags: the gzip copy's is the plain one with -gzip inside its quotes",
                         meaning="Two representations of the page, two sets of bytes: two tags.")
    cases = [
        ((f"If-None-Match: {tag}", "Accept-Encoding: gzip"), 304, tag, "the gzip copy, revalidated"),
        ((f"If-None-Match: W/{tag}", "Accept-Encoding: gzip, deflate"), 304, tag, "the gzip copy's tag, weak"),
        ((f"If-None-Match: {plain_tag}",), 304, plain_tag, "the plain copy, revalidated"),
        ((f"If-None-Match: {tag}",), 200, plain_tag, "a gzip copy held by a client that no longer accepts gzip"),
    ]
    for headers, status, etag, what in cases:
        result = exchange(site, request("GET", "/static/article.html", *headers))
        expected = f"{status}, ETag: {etag}" + (", Vary: Accept-Encoding, no Content-Encoding" if status == 304 else "")
        response = expect_response(result, status, f"{expected}: {what}")
        if response.header("etag") != etag:
            raise result.fail(f"The answer for {what} says ETag: {response.header('etag')}.", expected,
                              meaning="The ETag names the copy the client is to keep: the one it holds, on a 304.")
        if status == 304 and ("accept-encoding" not in names_in(response.header("vary"))
                              or response.header("content-encoding")):
            raise result.fail(f"The 304 for {what} is missing Vary, or has a Content-Encoding.", expected,
                              meaning="A 304 carries the Vary the 200 would (RFC 9110, section 15.4.5), and no "
                              "Content-Encoding: it has no body to code.")


@pytest.mark.task(5, needs=(1, 2, 3, 4, 6, 7))
@pytest.mark.hint("406 is for a client that refuses gzip and identity both; one that refuses identity but takes "
                  "gzip gets gzip.", docs="#before-the-handler")
def test_406_only_when_neither_coding_is_acceptable(site):
    """identity;q=0 and *;q=0 get 406 Not Acceptable; gzip, identity;q=0 gets gzip; gzip;q=0 gets the page as it is"""
    for field, status, coding in [("identity;q=0", 406, None), ("*;q=0", 406, None),
                                  ("gzip;q=0, identity;q=0", 406, None), ("gzip, identity;q=0", 200, "gzip"),
                                  ("gzip;q=0", 200, None), ("*;q=0, identity", 200, None)]:
        result = exchange(site, request("GET", "/static/article.html", f"Accept-Encoding: {field}"))
        expected = f"{status}" + (f" with Content-Encoding: {coding}" if coding else
                                  (" with no Content-Encoding" if status == 200 else " and Vary: Accept-Encoding"))
        response = expect_response(result, status, f"{expected}, for Accept-Encoding: {field}")
        if response.header("content-encoding") != coding:
            raise result.fail(f"Accept-Encoding: {field} got Content-Encoding: {response.header('content-encoding')}.",
                              expected)
        if status == 406 and "accept-encoding" not in names_in(response.header("vary")):
            raise result.fail("The 406 does not say Vary: Accept-Encoding.", expected,
                              meaning="Another Accept-Encoding would get another answer: caches must know.")


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint("after_request leaves alone what worth_compressing says no to: images but SVG, archives, and "
                  "bodies under MIN_SIZE go out exactly as they are, Content-Length and ETag included.",
                  docs="#worth-compressing")
def test_pngs_archives_and_short_bodies_go_as_they_are(site, folder):
    """A PNG, a zip file, a short stylesheet, a short text and a short JSON go out as they are, to a client that accepts gzip"""
    for path, original in [("/static/photo.png", (folder / "photo.png").read_bytes()),
                           ("/static/archive.zip", (folder / "archive.zip").read_bytes()),
                           ("/static/style.css", (folder / "style.css").read_bytes()),
                           ("/static/notes.txt", (folder / "notes.txt").read_bytes()),
                           ("/api/users?count=2", None)]:
        result = exchange(site, request("GET", path, "Accept-Encoding: gzip, deflate, br"))
        what = "200 as it is: no Content-Encoding, Content-Length the body's size"
        response = expect_response(result, 200, what)
        coded = response.header("content-encoding")
        if coded or (original is not None and response.body != original) or \
                response.header("content-length") != str(len(response.body)):
            raise result.fail(f"{path} was {'compressed' if coded else 'changed'} for a client that accepts gzip.",
                              what, meaning="A PNG and a zip file are compressed already: gzip finds nothing to "
                              "squeeze and adds its own bytes. A body under MIN_SIZE gains nothing worth the time.")
        if "-gzip" in (response.header("etag") or ""):
            raise result.fail(f"{path} went out as it is, but with the gzip copy's ETag.", what)


@pytest.mark.task(6, needs=(1, 2, 3, 4, 5, 7))
@pytest.mark.hint("after_request sends gzip when choose_coding(accepted_codings(...)) says so, and Vary: "
                  "Accept-Encoding on every answer worth compressing. The fields are what real clients send: "
                  "accepted_codings (TODO 1) must read each coding in any case, x-gzip as gzip, with its weight.",
                  docs="#reading-accept-encoding")
def test_the_accept_encoding_real_clients_send(site):
    """What browsers, curl, requests and old clients send gets gzip; no field, identity, br alone and gzip;q=0 do not"""
    for field, compressed, who in [
        ("gzip, deflate, br, zstd", True, "Chrome and Firefox"),
        ("gzip, deflate, br", True, "Safari"),
        ("deflate, gzip, br, zstd", True, "curl --compressed"),
        ("gzip, deflate", True, "requests, and Python's urllib3"),
        ("x-gzip, gzip;q=0.9", True, "an old client, using gzip's old name"),
        ("GZIP", True, "a client that shouts"),
        ("*", True, "a client that takes anything"),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", True, "a client that prefers brotli, which this server lacks"),
        (None, False, "curl without --compressed, and http.client: no Accept-Encoding at all"),
        ("identity", False, "a client that wants the bytes as they are"),
        ("br", False, "a client that reads brotli only"),
        ("gzip;q=0, deflate", False, "a client that refuses gzip"),
    ]:
        headers = () if field is None else (f"Accept-Encoding: {field}",)
        result = exchange(site, request("GET", "/static/article.html", *headers))
        what = f"{'gzip' if compressed else 'the page as it is'}, for {who}"
        response = expect_response(result, 200, what)
        if (response.header("content-encoding") == "gzip") != compressed:
            raise result.fail(f"{who[0].upper()}{who[1:]} got Content-Encoding: "
                              f"{response.header('content-encoding') or '(none)'}.", what,
                              meaning="Codings are case-insensitive, x-gzip is gzip, q=0 refuses, \"*\" covers what "
                              "is not named, and no Accept-Encoding gets the body as it is.")
        if "accept-encoding" not in names_in(response.header("vary")):
            raise result.fail(f"The answer for {who} does not say Vary: Accept-Encoding.", what)
