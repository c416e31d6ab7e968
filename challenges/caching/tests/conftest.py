"""What the caching checks share: the learner's modules, requests made without a network, and a site to serve.

* ``static_module``, ``middleware_module``, ``request_module``, ``response_module``  the learner's own
  modules, imported fresh;
* ``make_request(method, path, headers, version=)``  an ``HTTPRequest`` built with the learner's own
  classes, not parsed (these checks grade caching, not step 2's parser);
* ``site``  a folder of files made for the checks (``LAYOUT`` names them): a 1 MB file of random bytes
  whose every byte is compared, a file with a known modification time, a fingerprinted script, an
  empty file, and a sparse 64 MB one;
* ``site_server``  the learner's server with the demo site, serving that folder, started once for
  each file of checks; each check sees the server's output from its own start only.
"""

import os
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from checks.learner_server import LearnerServer
from checks.plugin import step_of

TOKEN = "test-token"

# The server's time zone, and the checks' own while they call your date code: local time 5 h 45 min
# ahead of GMT (as in Nepal), so that a date read as local time is wrong by 5 h 45 min on any machine.
SERVER_TZ = "CHK-5:45"

LAYOUT = SimpleNamespace(
    # Random bytes, a little over 1 MB: not a whole number of the server's 64 KiB pieces.
    data_file="data.bin",
    data_bytes=1024 * 1024 + 4321,
    # A file whose modification time the checks know: 2021-03-04 05:06:07.891 GMT.
    dated_file="dated.txt",
    dated_bytes=b"a file last changed on 4 March 2021, at 05:06:07.891 GMT\n",
    dated_mtime_ns=1614834367_891_000_000,
    dated_last_modified="Thu, 04 Mar 2021 05:06:07 GMT",
    # A small text file, and a script under a fingerprinted name.
    text_file="hello.txt",
    text_bytes="Hello, caches! Keep me an hour.\n".encode(),
    fingerprinted_file="app.0123abcd.js",
    fingerprinted_bytes=b"console.log('a fingerprinted script: keep me a year');\n",
    empty_file="empty.txt",
    # Sparse: it takes no disk space and reads as zeros, and is far larger than what a server that
    # streams a range of it ever holds at once.
    huge_file="huge.bin",
    huge_bytes=64 * 1024 * 1024,
    # The file the resumed download rewrites; no other check reads it.
    changing_file="changing.bin",
)


def data_bytes():
    return random.Random(9111).randbytes(LAYOUT.data_bytes)


def changing_bytes(version):
    """The content of the changing file, version 1 or 2: the same size, other bytes."""
    return random.Random(version).randbytes(300_000)


def make_site(root):
    root.mkdir(parents=True, exist_ok=True)
    (root / LAYOUT.data_file).write_bytes(data_bytes())
    dated = root / LAYOUT.dated_file
    dated.write_bytes(LAYOUT.dated_bytes)
    os.utime(dated, ns=(LAYOUT.dated_mtime_ns, LAYOUT.dated_mtime_ns))
    (root / LAYOUT.text_file).write_bytes(LAYOUT.text_bytes)
    (root / LAYOUT.fingerprinted_file).write_bytes(LAYOUT.fingerprinted_bytes)
    (root / LAYOUT.empty_file).write_bytes(b"")
    (root / LAYOUT.changing_file).write_bytes(changing_bytes(1))
    with open(root / LAYOUT.huge_file, "wb") as huge:
        huge.truncate(LAYOUT.huge_bytes)
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The served folder, made once for a file of checks; its large files are deleted afterwards."""
    root = make_site(tmp_path_factory.mktemp("caching") / "public")
    yield root
    for name in (LAYOUT.data_file, LAYOUT.huge_file):
        (root / name).unlink(missing_ok=True)


@pytest.fixture
def layout():
    return LAYOUT


@pytest.fixture
def data():
    """The bytes of the 1 MB file."""
    return data_bytes()


@pytest.fixture
def changing():
    """``changing(version)``: the bytes of the changing file in that version (1 is what the site starts with)."""
    return changing_bytes


@pytest.fixture(scope="module")
def shared_server(request, site):
    """The learner's server: the demo site with the token "test-token", its static files from ``site``."""
    step = step_of(request.path)
    chosen = request.config.getoption("--learner-file")
    learner_file = Path(chosen).resolve() if chosen else step.main_file
    server = LearnerServer(learner_file, {"app": {"static_root": str(site), "token": TOKEN}}, "serve", step.key)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("TZ", SERVER_TZ)  # read by the child as it starts
            server.start()
        yield server
    finally:
        server.close()


class ServerView:
    """The shared server as one check sees it: what the server printed since the check began."""

    def __init__(self, server):
        self._server = server
        self._output_before = len(server.output())

    def output(self):
        return self._server.output()[self._output_before:]

    def __getattr__(self, name):
        return getattr(self._server, name)


@pytest.fixture
def site_server(shared_server):
    return ServerView(shared_server)


@pytest.fixture
def static_module(learner_module):
    return learner_module("static")


@pytest.fixture
def middleware_module(learner_module):
    return learner_module("middleware")


@pytest.fixture
def request_module(learner_module):
    return learner_module("request")


@pytest.fixture
def response_module(learner_module):
    return learner_module("response")


@pytest.fixture
def make_request(request_module):
    """``make_request("GET", "/static/a.txt", [("Range", "bytes=0-9")])``: an HTTPRequest (``target=`` adds a query)."""

    def make(method="GET", path="/", headers=(), version="HTTP/1.1", target=None):
        fields = request_module.Headers([("Host", "x"), *headers])
        return request_module.HTTPRequest(method, target or path, version, fields, b"", path, {})

    return make


@pytest.fixture
def local_time_is_not_gmt():
    """For the check's duration this process's local time is the server's: 5 h 45 min ahead of GMT."""
    import time

    if not hasattr(time, "tzset"):
        yield  # Windows: the time zone cannot be changed for one process
        return
    saved = os.environ.get("TZ")
    os.environ["TZ"] = SERVER_TZ
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()
