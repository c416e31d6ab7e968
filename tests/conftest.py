"""Fixtures shared by the course's own tests (tests/)."""

import shutil
import subprocess
import sys

import pytest

from checks.course import ROOT


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The docs site, built once with ``mkdocs build --strict`` into a temporary folder."""
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stdout}\n{built.stderr}"
    yield folder
    shutil.rmtree(folder, ignore_errors=True)
