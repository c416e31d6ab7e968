"""A folder of files to serve, with secrets beside it that must never be served.

One folder and one server are shared by every check of this step (starting a
server per check would cost most of the run): the checks only read the folder,
except the one that rewrites ``changing.txt``, which no other check reads. Each
check sees the server's output from its own start only (``ServerView``).
"""

import os
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from checks.learner_server import LearnerServer
from checks.plugin import step_of

# The bytes of each file the checks serve, by name.
FILES = {
    "hello.txt": "Hello, wörld!\n".encode(),
    "style.css": b"body { color: #333; }\n",
    "app.js": b"console.log('served');\n",
    "page.html": b"<!doctype html><title>page</title><p>a page</p>\n",
    "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3,
    "data.json": b'{"served": true}\n',
    "icon.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
    "data.xyz123": bytes(range(255, -1, -1)) * 2,
    "with space.txt": b"a name with a space, sent as %20\n",
    "notes..txt": b"two dots inside a name climb nowhere\n",
    "odd%41.txt": b"a name with a percent sign: sent as %2541, decoded once to %41\n",
    "empty.txt": b"",
    "docs/index.html": b"<!doctype html><title>docs</title><p>the docs index</p>\n",
    "docs/notes.txt": b"notes\n",
}
SECRETS = {
    "secret.txt": b"PARENT SECRET\n",  # beside the root
    "public-secret/secret.txt": b"SIBLING SECRET\n",  # a sibling whose name starts like the root's
    "outside/secret.txt": b"OUTSIDE SECRET\n",  # reached only through the symlinks below
}
# Symlinks inside the root that point out of it: {path in the root: target, in the root's parent}.
LINKS_OUT = {
    "link-out": "outside",  # a folder
    "linked-index/index.html": "outside/secret.txt",  # a folder's index.html
    "secret-link.txt": "secret.txt",  # a file
}

# The server's time zone: local time 5 h 45 min ahead of GMT (as in Nepal), so that a
# Last-Modified written in local time and labelled GMT is wrong by 5 h 45 min on any machine.
SERVER_TZ = "CHK-5:45"

LAYOUT = SimpleNamespace(
    # A file whose modification time the checks know: 2021-03-04 05:06:07.891 GMT.
    dated_file="dated.txt",
    dated_mtime_ns=1614834367_891_000_000,
    dated_last_modified="Thu, 04 Mar 2021 05:06:07 GMT",
    # A file whose every byte is compared: a block of random bytes whose length is not a
    # multiple of the server's 64 KiB pieces, repeated, so that a lost or repeated piece shows.
    large_file="big.bin",
    large_file_bytes=20 * 1024 * 1024,
    # The file the memory check downloads: sparse (it takes no disk space and reads as
    # zeros), and far larger than what a server that streams it ever holds at once.
    huge_file="huge.bin",
    huge_file_bytes=64 * 1024 * 1024,
    # The file the validators check rewrites; no other check reads it.
    changing_file="changing.txt",
    # The time zone the server runs in: see SERVER_TZ.
    time_zone=SERVER_TZ,
    # Two symlinks in the root that point at each other.
    loop=("loop-a", "loop-b"),
)
LARGE_FILE_BLOCK = 1_000_003


def large_file_bytes():
    block = random.Random(4).randbytes(LARGE_FILE_BLOCK)
    return (block * (LAYOUT.large_file_bytes // LARGE_FILE_BLOCK + 1))[:LAYOUT.large_file_bytes]


def make_site(base):
    """base/public is the root; the secrets are next to it; symlinks inside it point out."""
    root = base / "public"
    for name, data in {**{f"public/{name}": data for name, data in FILES.items()}, **SECRETS}.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty-folder").mkdir()
    (root / "linked-index").mkdir()
    dated = root / LAYOUT.dated_file
    dated.write_bytes(b"a file last changed on 4 March 2021\n")
    os.utime(dated, ns=(LAYOUT.dated_mtime_ns, LAYOUT.dated_mtime_ns))
    (root / LAYOUT.large_file).write_bytes(large_file_bytes())
    with open(root / LAYOUT.huge_file, "wb") as huge:
        huge.truncate(LAYOUT.huge_file_bytes)
    for name, target in LINKS_OUT.items():
        try:
            os.symlink(base / target, root / name, target_is_directory=(base / target).is_dir())
        except OSError:
            pass  # Windows without the right to make symlinks: those ways out cannot be tried there
    if hasattr(os, "mkfifo"):  # a named pipe (not on Windows): not a regular file, and open() waits on it
        os.mkfifo(root / "pipe")
    try:  # two symlinks that point at each other: resolving either never ends
        os.symlink(root / LAYOUT.loop[1], root / LAYOUT.loop[0])
        os.symlink(root / LAYOUT.loop[0], root / LAYOUT.loop[1])
    except OSError:
        pass
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The served folder, made once for the step's checks; its large files are deleted afterwards."""
    root = make_site(tmp_path_factory.mktemp("site"))
    yield root
    for name in (LAYOUT.large_file, LAYOUT.huge_file):
        (root / name).unlink(missing_ok=True)


@pytest.fixture
def files():
    """The files of the served folder: {name: bytes}."""
    return dict(FILES)


@pytest.fixture
def layout():
    """The names, sizes and times of the special files in the served folder."""
    return LAYOUT


@pytest.fixture
def large_file():
    """The bytes of the large file."""
    return large_file_bytes()


@pytest.fixture(scope="module")
def shared_server(request, site):
    """The learner's server, serving ``site``, started once for the step's checks."""
    step = step_of(request.path)
    chosen = request.config.getoption("--learner-file")
    learner_file = Path(chosen).resolve() if chosen else step.main_file
    server = LearnerServer(learner_file, {"app": {"static_root": str(site)}}, "serve", step.number)
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
def static_server(shared_server):
    return ServerView(shared_server)
