"""uploads — the demo site's form, over real connections.

The checks start the learner's server with a fresh upload folder and small limits (5 parts, files of
64 KiB, fields of 1 KiB), serving a copy of the extension's static/. requests sends forms with
files= (urllib3 makes the body, as for any Python client); malformed bodies go by hand, cut in two
inside a boundary so that the server's recv() hands them over in pieces. The memory check sends
32 MiB to a server with the default limits and reads the server process's peak memory.
"""

import re
import shutil
from http import HTTPStatus

import pytest

from checks.expect import expect_response
from checks.report import CheckFailed
from checks.unit import short
from checks.wire import exchange, fetch

LIMITS = {"parts": 5, "file_bytes": 64 * 1024, "field_bytes": 1024}
BOUNDARY = "XyZ-boundary"


@pytest.fixture
def uploaded(tmp_path):
    return tmp_path / "uploaded"


@pytest.fixture
def site(start_server, step, tmp_path, uploaded):
    shutil.copytree(step.folder / "static", tmp_path / "static")
    return start_server({"app": {"static_root": str(tmp_path / "static"), "upload_dir": str(uploaded),
                                 "upload_limits": LIMITS}})


def kept(folder):
    return sorted(path.name for path in folder.iterdir()) if folder.exists() else []


@pytest.mark.task(7, needs=(1, 2, 3, 4, 5, 6, 8))
@pytest.mark.hint("The route is given: POST /upload calls receive_form(), keep() names each file, and the page links "
                  "/uploads/<name>. If the unit checks pass and this one does not, read the server's output.",
                  docs="#streamed-to-disk")
def test_the_form_uploads_files(site, uploaded):
    """POST /upload with fields and files (requests' files=) answers 201, keeps each file byte for byte, and GET /uploads/... gives it back as a download"""
    binary = bytes(range(256)) * 100 + b"\r\n--" + BOUNDARY.encode() + b"-not-quite\r\n"
    files = [("files", ("../../notes.txt", b"plain text\r\n", "text/plain")),
             ("files", ("photo.bin", binary, "image/png")),
             ("files", ("page.html", b"<script>alert(1)</script>", "text/html"))]
    response = fetch(site, "POST", "/upload", files=files, data={"note": "h\u00e9llo <b>"})
    reproduce = (f"curl -i -F 'note=hello <b>' -F 'files=@app.py;filename=../../notes.txt;type=text/plain' "
                 f"-F 'files=@static/logo.png;filename=page.html;type=text/html' "
                 f"http://127.0.0.1:{site.port}/upload")
    if response.status_code != 201:
        raise CheckFailed(f"POST /upload answered {response.status_code}.", sent="a form of a field and 3 files",
                          expected="201 Created, and a page listing them", received=f"{response.status_code}\n"
                          f"{response.text[:300]}", server_output=site.output(), reproduce=reproduce)
    links = re.findall(r'href="(/uploads/[^"]+)"', response.text)
    stored = kept(uploaded)
    if len(links) != 3 or len(stored) != 3 or any(name.startswith(".") for name in stored):
        raise CheckFailed("The 3 files were not all kept.", expected="3 links to /uploads/..., 3 files in the folder",
                          received=f"{len(links)} links; in the folder: {', '.join(stored) or '(nothing)'}",
                          server_output=site.output(), reproduce=reproduce)
    if "h\u00e9llo &lt;b&gt;" not in response.text:
        raise CheckFailed("The page does not show the note as sent.", expected="h\u00e9llo &lt;b&gt;",
                          received=response.text[:400])
    for link, (_, (name, content, _)) in zip(links, files):
        download = fetch(site, "GET", link)
        problems = []
        if download.status_code != 200 or download.content != content:
            problems.append(f"{download.status_code}, {short(download.content, 60)}")
        if download.headers.get("Content-Type") != "application/octet-stream":
            problems.append(f"Content-Type: {download.headers.get('Content-Type')}")
        if problems:
            raise CheckFailed(f"GET {link} did not give back {name} as sent.",
                              expected=f"200, application/octet-stream, {short(content, 60)}",
                              received="; ".join(problems), server_output=site.output(),
                              reproduce=f"curl -i 'http://127.0.0.1:{site.port}{link}'")


def raw_upload(body, content_type=f"multipart/form-data; boundary={BOUNDARY}"):
    head = (f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    return head + body


def malformed_bodies(encoded):
    """(request, the offset to cut it at, the status it must get, why)."""
    two = [("note", "hello"), ("f", ("a.txt", b"A" * 3000, "text/plain"))]
    good = encoded(two)
    yield good[:good.rindex(b"--\r\n")] + b"\r\n", HTTPStatus.BAD_REQUEST, "the final boundary missing"
    yield good.replace(b"A" * 10, b"A\r\n--" + BOUNDARY.encode() + b"!!", 1), HTTPStatus.BAD_REQUEST, \
        "the boundary inside a file's data"
    yield good.replace(b'Content-Disposition: form-data; name="f"', b"Content-Disposition form-data", 1), \
        HTTPStatus.BAD_REQUEST, "a head line with no colon"
    yield encoded([(f"n{n}", "x") for n in range(6)]), HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "6 parts, over 5"
    yield encoded([("f", ("big.bin", b"B" * (64 * 1024 + 1), "application/octet-stream"))]), \
        HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a file one byte over 64 KiB"


@pytest.mark.task(7, needs=(1, 2, 3, 4, 5, 6, 8))
@pytest.mark.hint("receive_form() raises; the route answers the error's status. A 500 means something else raised: "
                  "read the server's output. Files left behind mean the except branch did not discard them.",
                  docs="#streamed-to-disk")
def test_refused_uploads_get_their_status_and_leave_nothing(site, uploaded, bodies):
    """A body with no final boundary, a boundary inside the data or a head line without a colon gets 400; too many parts or bytes get 413; nothing is kept"""
    for body, status, why in malformed_bodies(bodies.encoded):
        sent = raw_upload(body)
        boundary_at = sent.find(b"\r\n--" + BOUNDARY.encode(), len(sent) - len(body) + 10)
        cut = [boundary_at + 7] if boundary_at != -1 else None
        result = exchange(site, sent, split_at=cut)
        expect_response(result, status, what=f"{status.value} {status.phrase}, for {why}")
        if kept(uploaded):
            raise result.fail(f"After refusing {why}, the upload folder still holds files.", "an empty folder",
                              detail="In the folder: " + ", ".join(kept(uploaded)),
                              meaning="A refused upload must leave nothing: every partial file is removed.")
    sent = raw_upload(b"just text", content_type="text/plain")
    expect_response(exchange(site, sent), HTTPStatus.UNSUPPORTED_MEDIA_TYPE, what="415, for a body that is no form")


@pytest.fixture
def roomy_site(start_server, step, tmp_path, uploaded):
    shutil.copytree(step.folder / "static", tmp_path / "static")
    return start_server({"app": {"static_root": str(tmp_path / "static"), "upload_dir": str(uploaded)}})


# How much the server's memory may grow while it takes a 32 MiB upload.
MEMORY_ALLOWANCE = 16 * 1024 * 1024
UPLOAD_SIZE = 32 * 1024 * 1024


@pytest.mark.task(7, needs=(1, 2, 3, 4, 5, 6, 8))
@pytest.mark.hint("Read request.stream with read(READ_SIZE) and write each piece of content to the file at once: "
                  "nothing may hold the whole upload.", docs="#streamed-to-disk")
def test_a_large_upload_is_not_held_in_memory(roomy_site, uploaded):
    """A 32 MiB upload is kept whole while the server's memory grows by less than 16 MiB"""
    content = bytes(range(256)) * (UPLOAD_SIZE // 256)
    before = roomy_site.memory()
    response = fetch(roomy_site, "POST", "/upload", files=[("files", ("big.bin", content, "application/octet-stream"))])
    after = roomy_site.memory()
    stored = kept(uploaded)
    if response.status_code != 201 or len(stored) != 1 or (uploaded / stored[0]).stat().st_size != len(content):
        raise CheckFailed("A 32 MiB upload was not kept whole.", expected="201, and one file of 32 MiB",
                          received=f"{response.status_code}; in the folder: {', '.join(stored) or '(nothing)'}",
                          server_output=roomy_site.output())
    if "peak memory" not in after or "resident memory" not in before:
        pytest.skip("this system does not say how much memory a process uses")
    grown = after["peak memory"] - before["resident memory"]
    if grown > MEMORY_ALLOWANCE:
        raise CheckFailed(f"Taking a 32 MiB upload, your server's memory grew by {grown / 2**20:.0f} MiB.",
                          expected=f"less than {MEMORY_ALLOWANCE // 2**20} MiB: a piece at a time",
                          received=f"{before['resident memory'] / 2**20:.0f} MiB before, "
                                   f"{after['peak memory'] / 2**20:.0f} MiB at the peak",
                          meaning="A server that holds each upload whole runs out of memory with a few large ones "
                                  "at once. Stream: read a piece, parse it, write it, forget it.",
                          server_output=roomy_site.output())
