"""`make report DIR=...`: a class's result files rolled up into one table, without any server."""

import json
import subprocess
import sys

from checks.course import ROOT


def results(passed, total):
    """A results.json document (Exercism v3) with ``passed`` of ``total`` checks passing."""
    tests = [{"name": f"check {n}", "status": "pass" if n < passed else "fail", "message": None,
              "test_code": None, "task_id": 1} for n in range(total)]
    return {"version": 3, "status": "pass" if passed == total else "fail", "message": None, "tests": tests}


def write(folder, learner, step, document):
    path = folder / learner / f"{step}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")


def report(folder):
    return subprocess.run([sys.executable, "-m", "checks", "report", str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_report_shows_each_learner_and_step(tmp_path):
    write(tmp_path, "alice", "1-socket", results(9, 9))
    write(tmp_path, "alice", "2-parser", results(20, 26))
    write(tmp_path, "bob", "1-socket", results(3, 9))
    write(tmp_path, "carol", "1-socket", "{ this is not json")

    finished = report(tmp_path)

    assert finished.returncode == 0, finished.stderr
    rows = [line.split() for line in finished.stdout.splitlines()]
    assert rows[0] == ["learner", "1-socket", "2-parser"]
    assert rows[2:] == [["alice", "9/9", "20/26"], ["bob", "3/9", "-"], ["carol", "unreadable", "-"]]


def test_a_single_learners_results_folder_is_one_row(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "1-socket.json").write_text(json.dumps(results(2, 9)), encoding="utf-8")

    finished = report(folder)

    assert finished.stdout.splitlines()[2].split() == ["results", "2/9"]


def test_a_missing_or_empty_folder_gets_a_plain_message(tmp_path):
    for folder, words in ((tmp_path / "nowhere", "There is no folder"), (tmp_path, "No result files")):
        finished = report(folder)
        assert finished.returncode == 2
        assert words in finished.stderr and "Traceback" not in finished.stderr
