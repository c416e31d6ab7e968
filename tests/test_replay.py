"""make replay: one failed check, run again alone, with every byte it exchanged written out.

A sample of mistakes, one for each kind of check: a request sent in pieces, clients that
hang, a check with no network at all, one case of a parametrized check, a check of the
whole site, and a client that goes quiet until the server's timeout. For each, the replay
must run the check the report put first and fail it the same way.
"""

import subprocess
import sys

import pytest

from checks import attribution, mistakes, starters
from checks.course import ROOT, find_step

from .grading import grade

SAMPLES = [  # (step, mistake, CHECK=, kind of check)
    ("1", "the blank line is looked for in the latest chunk only", "blank line that ends the head", "pieces"),
    ("1", "a thread per client, but joined at once", "1", "connections"),
    ("2", "the request line split on any whitespace", "1", "unit"),
    ("2", "a quiet client waited for forever", "goes quiet", "connections"),
    ("4", "no containment check at all", "tries to leave the static folder", "connections"),
    ("5", "authentication before CORS, so the preflight gets 401", "1", "connections"),
]


@pytest.mark.parametrize("step_number, name, which, kind", SAMPLES, ids=[f"step {s}: {n}" for s, n, _, _ in SAMPLES])
def test_replay_reproduces_the_failure(step_number, name, which, kind, tmp_path):
    step = find_step(step_number)
    mistake = next(mistake for mistake in mistakes.load(step) if mistake.name == name)
    learner_file = starters.write_variant(step, tmp_path, solved=starters.step_tasks(step), edit=mistake.edit)
    outcome = grade(step, "--file", tmp_path, learner_file)
    failed = [test for test in outcome.tests if test["status"] != "pass"]
    if which.isdigit():
        check = [test for test, _ in attribution.arrange(failed)][int(which) - 1]
    else:
        check = next(test for test in outcome.tests if which in test["name"])
    assert check["status"] != "pass", f"the sample's check passes: {check['name']}"
    if which == "1":  # the report offers a replay where there are connections to show, and only there
        first = outcome.output[outcome.output.index("\n✗ 1. "):].split("\n✗ 2. ")[0]
        assert ("Replay:" in first) == (kind != "unit"), first
    replayed = subprocess.run(
        [sys.executable, "-m", "checks", "replay", step_number, which, "--file", str(learner_file),
         "--results", str(tmp_path / "results.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    shown = replayed.stdout
    assert replayed.returncode == 1, shown + replayed.stderr
    assert shown.startswith(f"Replaying: {check['name']}"), shown
    summary = check["message"].splitlines()[0]
    assert f"✗ {check['name']}\n{summary}\n" in shown, f"the replay did not fail the same way:\n{shown}"
    sends = shown.count("→ sent ")
    if kind == "unit":
        assert "connected to" not in shown
        assert "calls your functions directly and makes no connection" in shown, shown
    else:
        assert "] connected to 127.0.0.1:" in shown and sends >= 1, shown
    if kind == "pieces":
        assert sends >= 2, f"the pieces were not shown one by one:\n{shown}"


def test_replay_says_what_to_do_without_a_report(tmp_path):
    replayed = subprocess.run(
        [sys.executable, "-m", "checks", "replay", "1", "1", "--results", str(tmp_path / "none.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert replayed.returncode == 2
    assert "has no failing check" in replayed.stdout and "Traceback" not in replayed.stdout + replayed.stderr
