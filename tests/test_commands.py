"""The learner's helper commands (reset, skip, hint, progress), run in a copy of the course.

Each test copies the committed files into a temporary folder, so the real
working tree is never touched, and runs ``python -m checks`` there as a learner would.
"""

import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from checks import starters
from checks.course import ROOT, find_step

STEP = find_step("1")


@pytest.fixture
def course(tmp_path):
    """A copy of the course's committed files, sharing this run's .venv."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    copy = tmp_path / "course"
    for name in listed.stdout.splitlines():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    os.symlink(ROOT / ".venv", copy / ".venv")
    return copy


def run(course, *args):
    environment = {key: value for key, value in os.environ.items() if key != "COURSE_VIA_MAKE"}
    return subprocess.run(
        [sys.executable, "-m", "checks", *args], cwd=course, capture_output=True, text=True, timeout=300, env=environment
    )


def learner_file(course):
    return course / "steps" / STEP.name / "server.py"


def test_reset_backs_up_the_learners_work_then_restores_the_starter(course):
    work = learner_file(course).read_text(encoding="utf-8") + "# my work in progress\n"
    learner_file(course).write_text(work, encoding="utf-8")

    finished = run(course, "reset", "1")

    assert finished.returncode == 0, finished.stderr
    backups = list((course / ".backups" / STEP.name).glob("server-*.py"))
    assert [path.read_text(encoding="utf-8") for path in backups] == [work]
    assert learner_file(course).read_text(encoding="utf-8") == starters.pristine_starter(STEP, STEP.solution_files[0])
    assert "Saved your server.py to .backups/1-socket/" in finished.stdout


def test_skip_drops_in_the_solution_without_markers_and_it_passes(course):
    finished = run(course, "skip", "1")

    assert finished.returncode == 0, finished.stderr
    text = learner_file(course).read_text(encoding="utf-8")
    assert "SOLUTION" not in text and "--8<--" not in text and "NotImplementedError" not in text
    assert len(list((course / ".backups" / STEP.name).glob("server-*.py"))) == 1
    graded = run(course, "check", "1")
    assert graded.returncode == 0, graded.stdout
    assert re.search(r"\b(\d+)/\1 checks passing", graded.stdout), graded.stdout
    assert "Next: Step 2 — parser. Start at TODO 1 in steps/2-parser/request.py, line " in graded.stdout


def test_check_on_the_starter_fails_and_writes_results(course):
    finished = run(course, "1")

    assert finished.returncode == 1
    results = json.loads((course / "results" / "1-socket.json").read_text(encoding="utf-8"))
    assert f"Step 1 — socket: 0/{len(results['tests'])} checks passing" in finished.stdout
    assert results["version"] == 3 and results["status"] == "fail"
    assert {test["status"] for test in results["tests"]} == {"fail"}
    assert all(test["task_id"] and test["message"] for test in results["tests"])


def test_hints_come_one_level_at_a_time(course):
    first, second = run(course, "hint", "1"), run(course, "hint", "1")
    every = run(course, "hint", "1", "--all")

    assert "Hint 1" in first.stdout and "(1 of 4)" in first.stdout and "Hint 2" not in first.stdout
    assert "Hint 2" in second.stdout and "(2 of 4)" in second.stdout
    assert all(f"({level} of 4)" in every.stdout for level in range(1, 5))


def test_progress_lists_each_step_then_each_extension(course):
    finished = run(course, "progress")

    assert finished.returncode == 0, finished.stderr
    assert re.search(r"^Step 1 — socket +0/[1-9]\d* *$", finished.stdout, re.M), finished.stdout
    extension = re.search(r"^Extension — keep-alive +0/[1-9]\d* *$", finished.stdout, re.M)
    assert extension and extension.start() > finished.stdout.index("Step 5 — "), finished.stdout


def test_an_extension_is_named_wherever_a_step_is_numbered(course):
    hint = run(course, "hint", "keep-alive")
    assert "── Extension — keep-alive · Hint 1" in hint.stdout, hint.stdout + hint.stderr

    skipped = run(course, "skip", "keep-alive")
    assert skipped.returncode == 0, skipped.stderr
    assert "make serve STEP=keep-alive), then move on to another extension." in skipped.stdout
    for command in (["check", "keep-alive"], ["keep-alive"]):  # the short form, as for `python -m checks 1`
        graded = run(course, *command)
        assert graded.returncode == 0, graded.stdout + graded.stderr
        assert re.search(r"^Extension — keep-alive: (\d+)/\1 checks passing$", graded.stdout, re.M), graded.stdout
    assert (course / "results" / "keep-alive.json").is_file()


@pytest.mark.parametrize("args", [["check", "9"], ["hint", "nine"], ["reset", "0"]])
def test_an_unknown_step_gets_a_plain_message(course, args):
    finished = run(course, *args)

    assert finished.returncode == 2
    assert "There is no step" in finished.stderr and "Traceback" not in finished.stderr


@pytest.mark.skipif(os.name == "nt", reason="stopping Jupyter and its kernel manager needs a POSIX process group")
def test_notebook_opens_the_chosen_notebook_in_jupyter(tmp_path):
    """make notebook STEP=lab: Jupyter starts on the lab's notebook, with the course's kernel, and stops on SIGTERM."""
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}  # Jupyter's cookie and server files
    jupyter = subprocess.Popen(
        [sys.executable, "-m", "checks", "notebook", "lab", "--port", "0", "--no-browser"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
        start_new_session=True,
    )
    try:
        address = None
        for line in jupyter.stdout:  # Jupyter logs its address once it listens; no sleeping
            found = re.search(r"(http://127\.0\.0\.1:\d+/)\S*\?token=(\w+)", line)
            if found:
                address, token = found.groups()
                break
        assert address, "Jupyter never said where it listens"
        notebook = ready(f"{address}api/contents/6-lab.ipynb", params={"token": token, "content": 0})
        assert notebook.status_code == 200 and notebook.json()["type"] == "notebook"
        kernels = requests.get(f"{address}api/kernelspecs", params={"token": token}, timeout=10).json()
        assert "python3" in kernels["kernelspecs"]
    finally:
        os.killpg(jupyter.pid, signal.SIGTERM)
        jupyter.stdout.close()
        jupyter.wait(timeout=30)


def ready(url, params, within=20.0):
    """GET ``url`` once Jupyter accepts connections.

    Jupyter prints its address a moment before its event loop starts listening, and gives no
    other signal, so this one place retries a refused connection, every 0.1 s, for ``within`` s.
    """
    deadline = time.monotonic() + within
    while True:
        try:
            return requests.get(url, params=params, timeout=10)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_an_unknown_notebook_gets_a_plain_message():
    from checks.commands import find_notebook
    from checks.course import UnknownStep

    assert find_notebook("2").name == find_notebook("parser").name == "2-parser.ipynb"
    assert find_notebook("lab").name == "6-lab.ipynb"
    with pytest.raises(UnknownStep, match="There is no notebook '99'. Choose one of 1-socket, .*6-lab"):
        find_notebook("99")


def test_an_old_python_gets_a_plain_message():
    from checks.__main__ import too_old

    message = too_old((3, 10, 12), "/usr/bin/python3")
    assert message.startswith("This course needs Python 3.11 or newer, and /usr/bin/python3 is Python 3.10.12.")
    assert "Traceback" not in message and "troubleshooting.md#python-is-too-old-or-not-found" in message
    assert too_old((3, 11, 0), "python3") is None and too_old((3, 13, 1), "python3") is None


@pytest.mark.skipif(os.name == "nt" or not shutil.which("make"), reason="make and POSIX shell scripts")
def test_make_picks_a_new_enough_python_by_itself(tmp_path):
    """python3 is 3.10 (Ubuntu 22.04), python3.12 is installed beside it: make uses python3.12."""
    for name, version_ok in [("python3", False), ("python3.14", False), ("python3.13", False), ("python3.12", True)]:
        fake = tmp_path / name
        fake.write_text(f"#!/bin/sh\nexit {0 if version_ok else 1}\n")
        fake.chmod(0o755)
    environment = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    for inherited in ("PYTHON", "MAKELEVEL", "MAKEFLAGS", "MFLAGS"):  # as when `make test` runs this test
        environment.pop(inherited, None)
    dry_run = subprocess.run(["make", "--no-print-directory", "-n", "check", "STEP=2"], cwd=ROOT,
                             capture_output=True, text=True, env=environment, timeout=60)
    assert dry_run.stdout.strip() == "python3.12 -m checks check 2", dry_run.stdout + dry_run.stderr


def test_serve_on_a_busy_port_says_what_may_hold_it(course):
    run(course, "skip", "1")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        finished = run(course, "serve", "1", "--port", str(port))
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    assert f"Could not listen on 127.0.0.1:{port}" in finished.stderr
    assert "Is another server using that port?" in finished.stderr and "SO_REUSEADDR" in finished.stderr


def test_restore_brings_back_the_newest_backup_and_can_be_undone(course):
    work = learner_file(course).read_text(encoding="utf-8") + "# my work in progress\n"
    learner_file(course).write_text(work, encoding="utf-8")
    run(course, "skip", "1")
    solution = learner_file(course).read_text(encoding="utf-8")

    restored = run(course, "restore", "1")

    assert restored.returncode == 0, restored.stderr
    assert learner_file(course).read_text(encoding="utf-8") == work
    assert "steps/1-socket/server.py is back to .backups/1-socket/server-" in restored.stdout
    again = run(course, "restore", "1")  # the solution was saved first, so this undoes the restore
    assert again.returncode == 0 and learner_file(course).read_text(encoding="utf-8") == solution


def test_hint_can_show_an_earlier_level_again(course):
    run(course, "hint", "1"), run(course, "hint", "1")
    earlier = run(course, "hint", "1", "--level", "1")

    assert earlier.returncode == 0 and "(1 of 4)" in earlier.stdout
    assert "To read an earlier one again" not in earlier.stdout
    assert "To read an earlier one again: LEVEL=1" in run(course, "hint", "1").stdout
