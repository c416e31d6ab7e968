"""Run ``python -m checks check`` in a child process, as a learner would, and read its results."""

import json
import subprocess
import sys
from dataclasses import dataclass

from checks.course import ROOT

# A whole step's checks finish in seconds; this bounds a harness bug, not speed.
GRADE_TIMEOUT = 300


@dataclass
class Outcome:
    returncode: int
    output: str
    tests: list
    seconds: float


def grade(step, which, tmp_path, learner_file=None, only=()):
    import time

    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "checks", "check", str(step.number), f"--results={results}"]
    command += [which, str(learner_file)] if learner_file else [which]
    for name in only:
        command += ["-k", name]
    began = time.monotonic()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=GRADE_TIMEOUT)
    seconds = time.monotonic() - began
    document = json.loads(results.read_text(encoding="utf-8")) if results.exists() else {"tests": []}
    return Outcome(finished.returncode, finished.stdout + finished.stderr, document["tests"], seconds)
