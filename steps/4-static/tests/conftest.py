"""A folder of files to serve, with secrets beside it that must never be served."""

import os
import random

import pytest

# The bytes of each file the checks serve, by name.
FILES = {
    "hello.txt": "Hello, wörld!\n".encode(),
    "style.css": b"body { color: #333; }\n",
    "app.js": b"console.log('served');\n",
    "page.html": b"<!doctype html><title>page</title><p>a page</p>\n",
    "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 3,
    "data.xyz123": bytes(range(255, -1, -1)) * 2,
    "with space.txt": b"a name with a space, sent as %20\n",
    "docs/index.html": b"<!doctype html><title>docs</title><p>the docs index</p>\n",
    "docs/notes.txt": b"notes\n",
}
SECRETS = {
    "secret.txt": b"PARENT SECRET\n",  # beside the root
    "public-secret/secret.txt": b"SIBLING SECRET\n",  # a sibling whose name starts like the root's
    "outside/secret.txt": b"OUTSIDE SECRET\n",  # reached only through the symlink below
}
LARGE_FILE_BYTES = 20 * 1024 * 1024


@pytest.fixture
def site(tmp_path):
    """tmp/public is the root; the secrets are next to it; public/link-out points outside."""
    root = tmp_path / "public"
    for name, data in {**{f"public/{name}": data for name, data in FILES.items()}, **SECRETS}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "empty-folder").mkdir()
    (root / "big.bin").write_bytes(random.Random(4).randbytes(LARGE_FILE_BYTES))
    (root / "linked-index").mkdir()
    try:
        os.symlink(tmp_path / "outside", root / "link-out", target_is_directory=True)
        os.symlink(tmp_path / "outside" / "secret.txt", root / "linked-index" / "index.html")
    except OSError:
        pass  # Windows without the right to make symlinks: those two ways out cannot be tried there
    return root


@pytest.fixture
def files():
    """The files of the served folder: {name: bytes}."""
    return dict(FILES)


@pytest.fixture
def static_server(start_server, site):
    return start_server({"app": {"static_root": str(site)}})
