"""uploads — what happens to the files (TODOs 6 to 8), called directly.

receive_form() reads from a stand-in of the server's BodyStream that records every read() and, at
each one, how much of the file has reached the disk. The filename a download is saved as is read the
way RFC 6266 tells browsers to: filename* (RFC 8187) before filename.
"""

import errno
import gc
import os
import re
import tracemalloc
import unicodedata
import warnings
from http import HTTPStatus
from types import SimpleNamespace
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.properties import course_settings
from checks.report import CheckFailed
from checks.unit import call, short

SAFE_NAMES = [
    ("report.pdf", "report.pdf"),
    ("r\u00e9sum\u00e9 2024 (final).pdf", "r\u00e9sum\u00e9 2024 (final).pdf"),
    ("\u65e5\u672c\u8a9e.txt", "\u65e5\u672c\u8a9e.txt"),
    ("../../etc/passwd", "passwd"),
    ("/etc/passwd", "passwd"),
    ("C:\\Users\\ada\\notes.txt", "notes.txt"),
    ("..\\..\\boot.ini", "boot.ini"),
    ("dir/sub\\mixed/file.txt", "file.txt"),
    (".htaccess", "htaccess"),
    ("...hidden", "hidden"),
    ("..", "upload"),
    ("", "upload"),
    ("folder/", "upload"),
    ("a\x00b.txt", "a_b.txt"),
    ("line\nbreak\r.txt", "line_break_.txt"),
    ('say "hi".txt', "say _hi_.txt"),
    ("a:b*c?d<e>f|g.txt", "a_b_c_d_e_f_g.txt"),
    ("  spaced out  ", "spaced out"),
    ("trailing.", "trailing"),
    ("tab\there.txt", "tab_here.txt"),
    ("a+b=c, d@e.txt", "a+b=c, d@e.txt"),
    ("semi;colon.txt", "semi_colon.txt"),
    ("a" * 150 + "." + "b" * 195 + ".pdf", "b" * 195 + ".pdf"),
    ("X-ray of Xavier X.png", "X-ray of Xavier X.png"),
    ("50% off $HOME `id` 'x' ~#&!.txt", "50_ off _HOME _id_ _x_ ____.txt"),
    ("\U0001F600 smile.png", "_ smile.png"),
    ("re\u0301sume\u0301.pdf", "r\u00e9sum\u00e9.pdf"),
]


@pytest.mark.task(6)
@pytest.mark.hint("Split at both / and \\ and keep the last piece, unicodedata.normalize('NFC', ...); map each "
                  "character that is not c.isalnum() nor in KEPT_IN_FILENAMES to '_'; keep the last MAX_FILENAME_BYTES "
                  "of its UTF-8 (decode with errors='ignore'); strip '. ' from both ends; NO_NAME if nothing is left.",
                  docs="#safe-filenames")
def test_a_filename_becomes_a_safe_base_name(uploads_module):
    """safe_filename() keeps the base name after the last / or \\ in NFC, replaces unsafe characters with _, keeps its last 200 bytes, and strips dots and spaces at both ends"""
    for sent, safe in SAFE_NAMES:
        got = call(uploads_module.safe_filename, sent, shown=f"safe_filename({sent!r})")
        if got != safe:
            raise CheckFailed(f"safe_filename({sent!r}) returned {got!r}.", expected=repr(safe), received=repr(got),
                              meaning="The name comes from the client, who can write anything in it: a path that "
                                      "climbs out of the upload folder, a Windows path, a hidden file, a NUL that "
                                      "cuts the name short in C code. Keep the base name, made safe; never refuse "
                                      "the upload for its name.")
    for long_name in ("x" * 300 + ".pdf", "\u65e5" * 100 + ".txt"):
        shown = f"safe_filename({long_name[:3]!r} … {long_name[-6:]!r}), {len(long_name.encode())} bytes of UTF-8"
        got = call(uploads_module.safe_filename, long_name, shown=shown)
        size = len(got.encode()) if isinstance(got, str) else None
        if size is None or size > uploads_module.MAX_FILENAME_BYTES or not got.endswith(long_name[-4:]) \
                or size < uploads_module.MAX_FILENAME_BYTES - 3:
            raise CheckFailed(f"{shown} was not cut to its last MAX_FILENAME_BYTES bytes.",
                              expected=f"at most {uploads_module.MAX_FILENAME_BYTES} bytes of UTF-8 (and no fewer "
                                       f"than {uploads_module.MAX_FILENAME_BYTES - 3}), ending in {long_name[-4:]}",
                              received=f"{size} bytes, ending in {got[-8:]!r}" if size is not None else repr(got),
                              meaning="File systems refuse names over 255 bytes, and count bytes, not characters: "
                                      "a Chinese character is 3 bytes of UTF-8. The extension is at the end, so the "
                                      "end is what to keep; a character cut in two is dropped.")


def unsafe(name):
    """What is wrong with ``name`` as a stored filename, or None."""
    if not isinstance(name, str):
        return f"it is {type(name).__name__}, not str"
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "it is . or .."
    for bad in ("/", "\\", "\x00"):
        if bad in name:
            return f"it holds {bad!r}"
    if any(unicodedata.category(c).startswith("C") for c in name):
        return "it holds a control (or other invisible) character"
    if name.startswith("."):
        return "it starts with a dot (a hidden file)"
    if name != name.strip(". "):
        return "it starts or ends with a space or a dot"
    if len(name.encode("utf-8", errors="surrogatepass")) > 200:
        return f"it is {len(name.encode('utf-8', errors='surrogatepass'))} bytes of UTF-8 long"
    return None


@pytest.mark.task(6)
@pytest.mark.hint("Strip the dots and spaces after cutting the name to MAX_FILENAME_BYTES: the cut may leave a dot "
                  "in front.", docs="#safe-filenames")
@course_settings(max_examples=300)
@given(name=st.text(max_size=130) | st.lists(st.sampled_from(["..", ".", "/", "\\", "\x00", " ", "a", "\u00e9",
                                                               "\n", "\u202e", "\ufeff", "x" * 40, "\u65e5" * 30]),
                                              max_size=12).map("".join))
def test_no_filename_is_unsafe(uploads_module, name):
    """Hypothesis: whatever name a client sends, safe_filename() returns a non-empty name with no path, NUL, control character or leading dot, of at most 200 bytes"""
    got = call(uploads_module.safe_filename, name, shown=f"safe_filename({name!r})")
    problem = unsafe(got)
    if problem:
        raise CheckFailed(f"safe_filename({name!r}) returned {got!r}: {problem}.",
                          expected="a name to store a file under: not empty, no / \\ or NUL, no control character, "
                                   "no dot or space at either end, at most 200 bytes of UTF-8",
                          received=repr(got),
                          meaning="Every name the server stores under must be safe, whatever the client sent. "
                                  "str.isalnum() is False for control characters, so they become _.")


class Stream:
    """A stand-in for the server's BodyStream: gives ``body`` in pieces of at most ``size``, and records each read.

    ``on_read(given)`` runs before each read, with the bytes given so far; ``fail_after`` bytes, it raises ``error``.
    """

    def __init__(self, body, on_read=None, fail_after=None, error=None):
        self.body = body
        self.position = 0
        self.sizes = []
        self.on_read = on_read
        self.fail_after = fail_after
        self.error = error

    def read(self, size=-1):
        self.sizes.append(size)
        if self.on_read:
            self.on_read(self.position)
        if self.fail_after is not None and self.position >= self.fail_after:
            raise self.error
        if size is None or size < 0:
            size = len(self.body)
        piece = self.body[self.position:self.position + size]
        self.position += len(piece)
        return piece


@pytest.fixture
def form_request(learner_module, bodies):
    """``form_request(body, stream=None, content_type=...)``: a request with the learner's Headers and ``stream``."""
    headers_class = learner_module("request").Headers

    def make(body, stream=None, content_type=f"multipart/form-data; boundary={bodies.BOUNDARY}"):
        headers = headers_class()
        headers.add("Content-Type", content_type)
        return SimpleNamespace(method="POST", path="/upload", headers=headers, body=b"",
                               stream=stream or Stream(body))
    return make


def open_files():
    """How many files this process has open (None where the system does not say)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def files_in(folder):
    return sorted(path.name for path in folder.iterdir())


@pytest.mark.task(7, needs=(1, 2, 3, 4, 5, 6))
@pytest.mark.hint("Loop: piece = request.stream.read(READ_SIZE) until b''; feed each piece; for a Part call "
                  "finish() on the one before and begin() for it; write bytes to where begin() said; on FINISHED, "
                  "finish(); after the loop, parser.close().", docs="#streamed-to-disk")
def test_a_form_is_received_into_fields_and_files(uploads_module, form_request, bodies, tmp_path, accepted):
    """receive_form() returns each field's values, decoded from UTF-8, and each file written to a partial file in the folder, with its safe name, type and size; a part with an empty filename is skipped"""
    photo = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + b"\r\n--XyZ-boundar"
    body = bodies.encoded([("note", "h\u00e9llo"), ("photo", ("../cat.png", photo, "image/png")), ("note", "again"),
                           ("empty", ("", b"", "application/octet-stream")),
                           ("unnamed", ("", b"a file with no name is no file", "application/octet-stream")),
                           ("doc", ("r\u00e9sum\u00e9.txt", b"text\r\n", "text/plain")), ("last", ""),
                           ("again", ("cat.png", b"another cat", "image/png"))])
    descriptors = open_files()
    form = accepted(uploads_module.receive_form, form_request(body), tmp_path, uploads_module.Limits(),
                    shown="receive_form(a form of 3 fields, 3 files and 2 parts with an empty filename)")
    fields = getattr(form, "fields", None)
    if fields != {"note": ["h\u00e9llo", "again"], "last": [""]}:
        raise CheckFailed("receive_form() returned the wrong fields.", sent=body,
                          expected="{'note': ['h\u00e9llo', 'again'], 'last': ['']}", received=short(fields, 150),
                          meaning="A field may be sent more than once (a list of checkboxes): keep every value, in "
                                  "order, decoded from UTF-8.")
    files = getattr(form, "files", [])
    got = [(upload.field, upload.filename, upload.content_type, upload.size) for upload in files]
    expected = [("photo", "cat.png", "image/png", len(photo)), ("doc", "r\u00e9sum\u00e9.txt", "text/plain", 6),
                ("again", "cat.png", "image/png", 11)]
    if got != expected:
        raise CheckFailed("receive_form() returned the wrong files.", sent=body, expected=short(expected, 200),
                          received=short(got, 200),
                          meaning="Each file with a name is listed with its field, its safe_filename(), the type the "
                                  "client said and its size; a part with an empty filename (a file input left "
                                  "empty) is skipped, whatever it holds.")
    if descriptors is not None and open_files() != descriptors:
        raise CheckFailed("receive_form() left files open.", expected=f"{descriptors} open files, as before",
                          received=f"{open_files()} open files",
                          meaning="Every file written is closed once its part ends (finish() closes what begin() "
                                  "returned; tempfile.mkstemp gives a descriptor: wrap it with os.fdopen, do not "
                                  "open the path a second time). A server that leaks one per upload soon cannot "
                                  "accept a connection.")
    for upload, content in zip(files, (photo, b"text\r\n", b"another cat")):
        path = upload.path
        if path.parent != tmp_path or not path.name.startswith(uploads_module.PARTIAL_PREFIX):
            raise CheckFailed(f"{upload.filename} was written to {path}.",
                              expected=f"a file in the folder given, named {uploads_module.PARTIAL_PREFIX}…",
                              received=str(path),
                              meaning="A file still arriving must never be served: its name starts with a dot "
                                      "until the app keeps it, in the same folder, so keeping it is a rename.")
        if path.read_bytes() != content:
            raise CheckFailed(f"{upload.filename} on disk is not what was sent.", expected=short(content, 80),
                              received=short(path.read_bytes(), 80))
    if len(files_in(tmp_path)) != 3:
        raise CheckFailed("receive_form() did not leave exactly its 3 files in the folder.",
                          expected="the 3 files listed, each its own (two have the same name: cat.png)",
                          received=", ".join(files_in(tmp_path)))


@pytest.mark.task(7, needs=(1, 2, 3, 4, 5, 6))
@pytest.mark.hint("Read with request.stream.read(READ_SIZE), never read() with no size, and write each piece of "
                  "content as it comes: never join a file's content in memory.", docs="#streamed-to-disk")
def test_files_are_written_as_they_arrive(uploads_module, form_request, bodies, tmp_path, accepted):
    """receive_form() reads the stream a piece at a time and writes each file as its bytes come: 24 MiB pass through in little memory"""
    content = bytes(range(256)) * 4096 * 24  # 24 MiB
    body = bodies.encoded([("big", ("big.bin", content, "application/octet-stream"))])
    behind = []

    def on_disk(given):
        written = sum(path.stat().st_size for path in tmp_path.iterdir())
        if given > 2 * 1024 * 1024 and given - written > 2 * 1024 * 1024:
            behind.append((given, written))

    stream = Stream(body, on_read=on_disk)
    tracemalloc.start()
    try:
        form = accepted(uploads_module.receive_form, form_request(body, stream), tmp_path, uploads_module.Limits(),
                        shown="receive_form(a form with one file of 24 MiB)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    sizes = sorted({size for size in stream.sizes}, key=lambda size: -1 if size is None else size)
    if any(size is None or size < 0 or size > 1024 * 1024 for size in stream.sizes):
        raise CheckFailed("receive_form() asked the stream for the whole body at once.",
                          expected="read(READ_SIZE): 64 KiB at a time", received=f"read() sizes: {short(sizes, 100)}",
                          meaning="The body may be 100 MB: read it in pieces, and parse each as it comes.")
    if behind:
        given, written = behind[0]
        raise CheckFailed("receive_form() did not write the file as its bytes came.",
                          expected="the file on disk growing with the body",
                          received=f"{given} bytes of body read, {written} written to disk",
                          meaning="Write each piece of content to the file when the parser hands it on: keeping "
                                  "a file in memory until its end costs its whole size.")
    if peak > 8 * 1024 * 1024:
        raise CheckFailed(f"Receiving a 24 MiB file took {peak / 2**20:.1f} MiB of memory at its peak.",
                          expected="under 8 MiB", received=f"{peak / 2**20:.1f} MiB",
                          meaning="Something keeps what was read: the body, a file's content, or the events.")
    files = getattr(form, "files", [])
    if len(files) != 1 or files[0].path.stat().st_size != len(content):
        raise CheckFailed("The 24 MiB file did not arrive whole.", expected=f"one file of {len(content)} bytes",
                          received=short([(upload.filename, upload.path.stat().st_size) for upload in files], 100))


@pytest.mark.task(7, needs=(1, 2, 3, 4, 5, 6))
@pytest.mark.hint("Wrap the reading loop in try/except BaseException: close the open file, call form.discard(), and "
                  "raise the error again. begin() lists a file in form.files as soon as it creates it.",
                  docs="#streamed-to-disk")
def test_a_refused_upload_leaves_nothing_behind(uploads_module, form_request, bodies, tmp_path, learner_module,
                                                monkeypatch):
    """When a body is refused (malformed, over a limit, cut off, too slow) or the disk fills up, receive_form() closes and removes every file it wrote and raises the error again"""
    http_error = learner_module("request").HTTPError
    two_files = [("a", ("a.txt", b"A" * 5000, "text/plain")), ("b", ("b.txt", b"B" * 5000, "text/plain"))]
    good = bodies.encoded(two_files + [("c", ("c.txt", b"C" * 5000, "text/plain"))])
    malformed = good.replace(b'Content-Disposition: form-data; name="c"', b"Content-Disposition form-data", 1)
    # A part with an empty filename, dropped: the error after it comes while nothing is being written.
    after_nothing = bodies.encoded(two_files + [("e", ("", b"E" * 5000, "application/octet-stream"))])
    after_nothing = after_nothing[:after_nothing.rindex(b"--XyZ-boundary--")] + b"--XyZ-boundary\r\nno colon\r\n\r\n"
    cases = [
        (form_request(after_nothing), HTTPStatus.BAD_REQUEST, "a malformed part after a dropped one (empty filename)"),
        (form_request(malformed), HTTPStatus.BAD_REQUEST, "a third part whose head line has no colon"),
        (form_request(good[:-200]), HTTPStatus.BAD_REQUEST, "a body cut off in the third file"),
        (form_request(good), HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "a third part past Limits(parts=2)"),
        (form_request(good, Stream(good, fail_after=9000, error=http_error(HTTPStatus.REQUEST_TIMEOUT, "too slow"))),
         HTTPStatus.REQUEST_TIMEOUT, "a client that stops sending in the second file (the stream raises 408)"),
        (form_request(good, content_type="text/plain"), HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a body that is no form"),
        (form_request(good, Stream(good, fail_after=9000, error=OSError(errno.ENOSPC, "No space left on device"))),
         None, "a disk that fills up in the second file (OSError)"),
        (form_request(good), None, "a disk that fills up in the second file, so that closing it fails too"),
    ]
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always", ResourceWarning)
        for number, (request, status, why) in enumerate(cases):
            if "closing it fails" in why:
                begin = full_disk(uploads_module.begin, after=6000)
                with monkeypatch.context() as patch:
                    patch.setattr(uploads_module, "begin", begin)
                    try:
                        expect_refused_and_removed(uploads_module, http_error, tmp_path, number, request, status, why)
                    except CheckFailed:
                        if begin.used:  # (receive_form() that makes its files without begin() is not tried so)
                            raise
                continue
            expect_refused_and_removed(uploads_module, http_error, tmp_path, number, request, status, why)
        gc.collect()
    unclosed = [str(warning.message) for warning in warned if issubclass(warning.category, ResourceWarning)]
    if unclosed:
        raise CheckFailed("A refused upload left its file open.", expected="every file closed before it is removed",
                          received=unclosed[0],
                          meaning="Close the file being written before removing it: one left open holds a file "
                                  "descriptor until the garbage collector finds it (a busy server runs out), and on "
                                  "Windows an open file cannot be removed at all.")


def expect_refused_and_removed(uploads_module, http_error, tmp_path, number, request, status, why):
    """receive_form() raises ``status`` for ``request``, and leaves its folder empty."""
    folder = tmp_path / f"case{number}"
    folder.mkdir()
    limits = uploads_module.Limits(parts=2) if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE else \
        uploads_module.Limits()
    request.stream.read = with_small_pieces(request.stream.read)
    shown = f"receive_form() of {why}"
    try:
        got = call(uploads_module.receive_form, request, folder, limits, shown=shown,
                   expected_errors=(http_error, OSError))
    except (http_error, OSError) as error:
        if getattr(error, "status", None) != status or (status is None) != isinstance(error, OSError):
            raise CheckFailed(f"{shown} raised the wrong error.",
                              expected=f"status {status.value}" if status else "the OSError, raised again",
                              received=f"{type(error).__name__}: {error}",
                              meaning="Raise the error that stopped the upload again, as it is: the app answers "
                                      "with its status.") from None
    else:
        raise CheckFailed(f"{shown} did not raise.",
                          expected=f"an error with status {status.value}" if status else "the OSError, raised again",
                          received=f"it returned {short(got, 100)}")
    if files_in(folder):
        raise CheckFailed(f"{shown} left files behind.", expected="an empty folder",
                          received=", ".join(files_in(folder)),
                          meaning="A refused upload must cost nothing after: on any error, remove every file "
                                  "written so far (form.discard()), the one still open too.")


class FullDisk:
    """A file being written on a disk that fills up: writes fail past ``after`` bytes in all, and so does close(),
    which would flush what is buffered (it closes the real file first)."""

    def __init__(self, file, written, after):
        self.file, self.written, self.after = file, written, after

    def write(self, data):
        self.written[0] += len(data)
        if self.written[0] > self.after:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.file.write(data)

    def close(self):
        self.file.close()
        if self.written[0] > self.after:
            raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.file, name)


def full_disk(begin, after):
    """The learner's begin(), its files on a disk that fills up after ``after`` bytes."""
    written = [0]

    def begin_on_a_full_disk(part, form, folder):
        file = begin(part, form, folder)
        if file is None or not hasattr(file, "fileno"):
            return file
        begin_on_a_full_disk.used = True
        return FullDisk(file, written, after)
    begin_on_a_full_disk.used = False
    return begin_on_a_full_disk


def with_small_pieces(read):
    """``read``, giving at most 4 KiB at a time: the error then comes with files half written."""
    def small(size=-1):
        return read(4096 if size is None or size < 0 else min(size, 4096))
    return small


def plain_filename(header):
    """The value of the plain filename parameter of a Content-Disposition, or None."""
    plain = re.search(r';\s*filename\s*=\s*(?:"([^"]*)"|([^;\s]+))', header, re.IGNORECASE)
    return (plain.group(1) if plain.group(1) is not None else plain.group(2)) if plain else None


def disposition_filename(header):
    """The filename a browser saves as, and the disposition, from Content-Disposition: filename* first when it is
    there (RFC 6266, 4.3), as charset'language'percent-encoded bytes (RFC 8187)."""
    disposition = header.split(";")[0].strip().lower()
    extended = re.search(r";\s*filename\*\s*=\s*([^;\s]+)", header, re.IGNORECASE)
    if extended:
        charset, _, rest = extended.group(1).partition("'")
        try:
            return unquote(rest.partition("'")[2], encoding=charset, errors="strict"), disposition
        except (LookupError, UnicodeDecodeError):
            return f"(filename* that does not decode: {extended.group(1)})", disposition
    return plain_filename(header), disposition


@pytest.mark.task(8)
@pytest.mark.hint("Whatever the name: Content-Type application/octet-stream, X-Content-Type-Options: nosniff, and "
                  "Content-Disposition: attachment; filename=\"<ASCII, no quote>\"; filename*=UTF-8''<quote(name, "
                  "safe='')>. Stream the file with read_in_chunks().", docs="#never-trusted-for-the-type")
def test_an_upload_is_sent_back_as_a_download(uploads_module, tmp_path):
    """serve_upload() sends a stored file as application/octet-stream, nosniff, and as an attachment under its own name, whatever its name says it is"""
    stored = {
        "0123456789abcdef-page.html": b"<script>alert(document.cookie)</script>",
        "0123456789abcdef-image.svg": b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        "fedcba9876543210-\u65e5\u672c\u8a9e \u00e9.txt": "\u65e5\u672c\u8a9e".encode() + b"\r\n\x00",
        "00000000aaaaaaaa-run.js": b"alert(1)",
        "aaaaaaaa00000000-X-ray (1).png": b"\x89PNG\r\n",
    }
    for name, content in stored.items():
        (tmp_path / name).write_bytes(content)
    for name, content in stored.items():
        shown = f"serve_upload(folder, {name!r})"
        response = call(uploads_module.serve_upload, tmp_path, name, shown=shown)
        if getattr(response, "status", None) != 200:
            raise CheckFailed(f"{shown} did not answer 200.", expected="200 and the file",
                              received=f"{getattr(response, 'status', response)!r}")
        head = call(response.to_bytes, shown=f"{shown}.to_bytes()").split(b"\r\n\r\n")[0].decode("latin-1")
        body = response.body + b"".join(response.chunks or [])
        headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]}
        problems = []
        if headers.get("content-type") != "application/octet-stream":
            problems.append(f"Content-Type: {headers.get('content-type')}")
        if headers.get("x-content-type-options", "").lower() != "nosniff":
            problems.append(f"X-Content-Type-Options: {headers.get('x-content-type-options')}")
        filename, disposition = disposition_filename(headers.get("content-disposition", ""))
        if disposition != "attachment" or filename != name.partition("-")[2]:
            problems.append(f"Content-Disposition: {headers.get('content-disposition')} (a browser saves it as "
                            f"{filename!r}, {disposition or 'no disposition'})")
        fallback = plain_filename(headers.get("content-disposition", ""))
        original = name.partition("-")[2]
        if original.isascii() and fallback != original or not (fallback or "").isascii():
            problems.append(f"filename={fallback!r}, for browsers that do not read filename*")
        if body != content:
            problems.append(f"the body is {short(body, 60)}")
        if headers.get("content-length") != str(len(content)):
            problems.append(f"Content-Length: {headers.get('content-length')}")
        if problems:
            raise CheckFailed(f"{shown} does not send the upload as a download.",
                              expected="Content-Type: application/octet-stream, X-Content-Type-Options: nosniff, "
                                       f"Content-Disposition: attachment, saved as {name.partition('-')[2]!r}, and the "
                                       "file's bytes", received="; ".join(problems),
                              meaning="Anyone can upload page.html holding a script. Served as text/html from your "
                                      "site, it runs with your site's cookies (stored XSS). Never let the name or "
                                      "the content decide the type; a name outside ASCII goes in filename* "
                                      "(RFC 6266, RFC 8187), since a head is Latin-1. The bytes go as "
                                      "response.chunks, with response.length for the Content-Length.")
    big = "0123456789abcdef-big.bin"
    (tmp_path / big).write_bytes(bytes(range(256)) * 4096 * 16)  # 16 MiB
    tracemalloc.start()
    try:
        response = call(uploads_module.serve_upload, tmp_path, big, shown=f"serve_upload(folder, {big!r})")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if peak > 4 * 1024 * 1024:
        raise CheckFailed(f"serve_upload() of a 16 MiB file took {peak / 2**20:.1f} MiB of memory before sending a "
                          "byte.", expected="under 4 MiB: the file is read as it is sent (read_in_chunks)",
                          received=f"{peak / 2**20:.1f} MiB",
                          meaning="An upload may be 64 MiB; ten people downloading it at once must not cost 640 MiB. "
                                  "Give response.chunks = read_in_chunks(path) and response.length, as step 4 does.")


@pytest.mark.task(8)
@pytest.mark.hint("Serve only a name that STORED_NAME.fullmatch() accepts and that is a file in the folder; answer "
                  "anything else with error_response(404).", docs="#never-trusted-for-the-type")
def test_only_stored_uploads_are_sent(uploads_module, tmp_path):
    """serve_upload() answers 404 for a partial file, a path, a folder, and a name that is not a stored upload"""
    uploads = tmp_path / "uploaded"
    uploads.mkdir()
    (uploads / ".partial-k2j3h4").write_bytes(b"half a file")
    (uploads / "0123456789abcdef-kept.txt").write_bytes(b"kept")
    (uploads / "0123456789abcdef-folder").mkdir()
    (tmp_path / "secret.txt").write_bytes(b"SECRET")
    for name in [".partial-k2j3h4", "../secret.txt", "0123456789abcdef-../../secret.txt", "..", "", ".",
                 "0123456789abcdef-missing.txt", "0123456789abcdef-folder",
                 "0123456789abcdef-kept.txt\x00.html", "0123456789abcdef-" + "long" * 100,
                 "0123456789abcdef-kept.txt/", "0123456789abcdef-kept.txt/.",
                 "0123456789abcdef-folder/../../secret.txt"]:
        shown = f"serve_upload(folder, {name!r})"
        try:
            response = call(uploads_module.serve_upload, uploads, name, shown=shown)
        except CheckFailed as failed:
            if failed.todo is not None:  # a TODO left unwritten: its own words say so
                raise
            failed.expected = "404 Not Found"
            failed.meaning = ("A name the file system refuses (one too long, say) makes is_file() or stat() raise "
                              "OSError: answer 404, as step 4's static files do. (The router decodes %2F, so a name "
                              "may hold a /: STORED_NAME.fullmatch() refuses it, where match() would not.)")
            raise
        if getattr(response, "status", None) != 404:
            raise CheckFailed(f"{shown} did not answer 404.", expected="404 Not Found",
                              received=f"{getattr(response, 'status', response)!r}",
                              meaning="Only a stored upload, named as keep() names them, is sent: not a file still "
                                      "arriving (.partial-…), not a path out of the folder, not a folder.")
    response = call(uploads_module.serve_upload, uploads, "0123456789abcdef-kept.txt",
                    shown="serve_upload(folder, '0123456789abcdef-kept.txt')")
    if getattr(response, "status", None) != 200:
        raise CheckFailed("A stored upload was not sent.", expected="200", received=repr(getattr(response, "status",
                                                                                                  response)))
