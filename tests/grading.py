"""Run ``python -m checks check`` in a child process, as a learner would, and read its results."""

import json
import re
import subprocess
import sys
from dataclasses import dataclass

from checks.course import ROOT

# A whole step's checks finish in seconds; this bounds a harness bug, not speed.
GRADE_TIMEOUT = 300
# A learner reads the report in a terminal: it must stay readable whatever their code sent back.
REPORT_LIMIT_BYTES = 64 * 1024
# One failure: the facts are cut at 40 lines and 4 KB (checks/runner.py); its title, Replay, Hint and
# Read lines come on top.
FAILURE_LIMIT_LINES = 50
FAILURE_LIMIT_BYTES = 5 * 1024
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Outcome:
    returncode: int
    output: str
    tests: list
    seconds: float


def grade(step, which, tmp_path, learner_file=None, only=()):
    import time

    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "checks", "check", step.key, f"--results={results}"]
    command += [which, str(learner_file)] if learner_file else [which]
    for name in only:
        command += ["-k", name]
    began = time.monotonic()
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=GRADE_TIMEOUT)
    seconds = time.monotonic() - began
    document = json.loads(results.read_text(encoding="utf-8")) if results.exists() else {"tests": []}
    return Outcome(finished.returncode, finished.stdout + finished.stderr, document["tests"], seconds)


def assert_report_is_bounded(outcome, what):
    """The report fits in 64 KB and each failure on a screen, with every byte escaped: a raw
    control byte can garble a terminal."""
    size = len(outcome.output.encode("utf-8"))
    assert size <= REPORT_LIMIT_BYTES, f"{what}: the report is {size} bytes, over {REPORT_LIMIT_BYTES}"
    for block in outcome.output.split("\n✗ ")[1:]:
        lines = block.split("\n\n")[0].splitlines()  # a failure ends at the blank line before the next
        assert len(lines) <= FAILURE_LIMIT_LINES, f"{what}: a failure of {len(lines)} lines:\n{block[:2000]}"
        assert len("\n".join(lines).encode("utf-8")) <= FAILURE_LIMIT_BYTES, f"{what}: a failure over 5 KB"
    raw = sorted(set(RAW_CONTROL.findall(outcome.output)))
    assert not raw, f"{what}: the report holds raw control characters {raw}"
