"""Create ``.venv`` and install what a command needs, the first time it is needed.

Standard library only: this runs under whatever Python the learner has, before
anything is installed. The packages come from ``pyproject.toml`` (its
``dependencies`` for grading, and its optional groups ``notebooks``,
``jupyter``, ``docs``, ``browser``, ``bench`` and ``selftest``), so the versions are pinned in one place.
``bench`` (waitress) is optional even for make bench, which measures it only when it is there;
``make test`` installs it with everything else, so the course's own tests measure it too.
"""

import hashlib
import json
import os
import subprocess
import sys
import tomllib
import venv

from .course import ROOT

VENV = ROOT / ".venv"
STAMP = VENV / "installed.json"
PYPROJECT = ROOT / "pyproject.toml"

GRADING = ("grading",)
EVERYTHING = ("grading", "notebooks", "jupyter", "docs", "browser", "bench", "selftest")

# Which package groups each command needs; commands not listed need none.
NEEDS_PACKAGES = {
    "setup": GRADING,
    "check": GRADING,
    "progress": GRADING,
    "watch": GRADING,
    "replay": GRADING,
    "mutants": GRADING,
    "docs": ("docs",),
    "build-docs": ("docs",),
    "selftest": EVERYTHING,
    "notebooks": ("notebooks",),
    "notebook": ("notebooks", "jupyter"),
}


def venv_python():
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def inside_venv():
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def requirements(groups):
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    wanted = []
    for group in groups:
        if group == "grading":
            wanted += project["dependencies"]
        else:
            wanted += project["optional-dependencies"][group]
    return wanted


def fingerprint():
    return hashlib.sha256(PYPROJECT.read_bytes()).hexdigest()


def installed_groups():
    try:
        stamp = json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return set(stamp["groups"]) if stamp.get("pyproject") == fingerprint() else set()


def ensure(groups, argv):
    """Make sure ``.venv`` has ``groups`` installed, then continue inside it."""
    missing = [group for group in groups if group not in installed_groups()]
    if not missing and inside_venv():
        return
    if missing:
        install(missing)
    if not inside_venv():
        command = [str(venv_python()), "-m", "checks", *argv]
        if os.name == "nt":
            sys.exit(subprocess.call(command, cwd=ROOT))
        os.chdir(ROOT)
        os.execv(command[0], command)


def install(groups):
    if not venv_python().exists():
        print("First run: creating a virtual environment in .venv ...", flush=True)
        venv.create(VENV, with_pip=True, clear=True)
    packages = requirements(groups)
    print(f"Installing {', '.join(packages)} into .venv (only once) ...", flush=True)
    pip = [str(venv_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages]
    finished = subprocess.run(pip, cwd=ROOT, capture_output=True, text=True)
    if finished.returncode != 0:
        print(finished.stdout + finished.stderr, file=sys.stderr)
        print(
            "Installing the course's packages failed (see pip's words above). "
            "Are you online, or behind a proxy? docs/getting-started.md may help. "
            "Delete the .venv folder and try again once it is fixed.",
            file=sys.stderr,
        )
        sys.exit(2)
    done = installed_groups() | set(groups)
    STAMP.write_text(json.dumps({"pyproject": fingerprint(), "groups": sorted(done)}), encoding="utf-8")
