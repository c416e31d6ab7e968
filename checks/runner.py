"""Grade one step: run its suite against a file, print what a learner needs, write results.json."""

import json
import os
import re
import sys
from pathlib import Path

import pytest

from . import starters
from .course import RESULTS_DIR, ROOT, next_step
from .plugin import symbol

# A check that runs longer than this is stopped by pytest-timeout. The checks
# bound every wait themselves (a few seconds); this only catches a bug in them.
CHECK_TIMEOUT_SECONDS = 60

# The course has five steps (COURSE_DESIGN.md); the last one finishes the server.
FINAL_STEP = 5


# Only the pytest plugins grading uses. Left to load itself, every installed plugin would come in,
# the notebooks' nbval and Jupyter's anyio too, and pytest would recompile each plugin's whole package
# (Hypothesis: 73 modules) for its assertion rewriting: over a second per run where no bytecode is cached.
GRADING_PLUGINS = ["--disable-plugin-autoload", "-p", "pytest_timeout", "-p", "_hypothesis_pytestplugin"]


def command(step_number, action="check"):
    """How the learner runs a command, in the form they used to start this one."""
    if os.environ.get("COURSE_VIA_MAKE"):
        return {"check": f"make check STEP={step_number}", "hint": f"make hint STEP={step_number}"}[action]
    prefix = "python -m checks"
    return {"check": f"{prefix} {step_number}", "hint": f"{prefix} hint {step_number}"}[action]


TODO_LINE = re.compile(r"#\s*TODO (\d+)\b")


def where_to_start(step):
    """Where a step's first TODO is, in the learner's own files (its first file if none is left)."""
    found = []
    for solution in step.solution_files:
        learner_file = step.folder / solution.name
        try:
            lines = learner_file.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        found += [(int(match[1]), relative(learner_file), number)
                  for number, line in enumerate(lines, 1) if (match := TODO_LINE.search(line))]
    if not found:
        return f"Open {relative(step.folder)}/"
    task, path, line = min(found)
    return f"Start at TODO {task} in {path}, line {line}"


def grade(step, learner_file, results_file=None, label=None, only=None):
    """Run ``step``'s checks against ``learner_file``; print the report; return 0 when all pass."""
    results_file = Path(results_file or RESULTS_DIR / f"{step.name}.json")
    shown = label or relative(learner_file)
    print(f"{step.title}: checking {shown}\n", flush=True)
    arguments = [
        str(step.tests_dir),
        "-p", "no:terminal",
        "-p", "no:cacheprovider",
        *GRADING_PLUGINS,
        "--import-mode=importlib",
        f"--rootdir={ROOT}",
        "-o", f"timeout={CHECK_TIMEOUT_SECONDS}",
        "--learner-report",
        f"--learner-file={learner_file}",
        f"--results={results_file}",
    ]
    if only:
        arguments += ["-k", " or ".join(only)]
    exit_code = pytest.main(arguments)
    if not results_file.exists():  # pytest stopped before running anything: its own words are above
        print(f"\nThe checks could not run (pytest exit code {int(exit_code)}). This is a problem with the "
              "course itself, not with your code: please report it, with the lines above.")
        return 2
    document = json.loads(results_file.read_text(encoding="utf-8"))
    return summarise(step, document, learner_file, results_file)


def summarise(step, document, learner_file, results_file):
    tests = document["tests"]
    failed = [test for test in tests if test["status"] != "pass"]
    passing = len(tests) - len(failed)
    if document["status"] == "error" and not tests:
        print(f"The checks could not run:\n{document['message']}")
        return 2
    causes = {}
    for number, test in enumerate(failed, 1):
        task = f"   (TODO {test['task_id']})" if test.get("task_id") else ""
        print(f"\n{symbol('✗')} {number}. {test['name']}{task}")
        facts, advice = split_advice(test["message"] or "")
        if facts in causes:
            print(f"  Same failure as {causes[facts]} above.")
        else:
            causes[facts] = f"number {number}"
            print(facts)
        if advice:
            print(advice)
    print()
    print(f"{step.title}: {passing}/{len(tests)} checks passing")
    if not failed:
        print("All checks pass. Well done!")
        print("Compare with the reference solution:")
        for solution in step.solution_files:
            if starters.tasks(solution.read_text(encoding="utf-8")):  # the files the learner wrote in
                print(f"  diff -u {relative(step.folder / solution.name)} {relative(solution)}")
        later = next_step(step)
        if later:
            print(f"Next: {later.title}. {where_to_start(later)}, and run {command(later.number)}.")
        elif step.number < FINAL_STEP:
            print(f"Step {step.number + 1} is not in the course yet: check back soon.")
        else:
            print("That was the last step: you built an HTTP server.")
    else:
        print("Start with the first failing check: later ones often fail for the same reason.")
        print(f"Stuck? {command(step.number, 'hint')} shows a hint. Run {command(step.number)} again after each change.")
    print(f"(Results for graders: {relative(results_file)})")
    return 0 if not failed else 1


def split_advice(message):
    """A failure message split into its facts and its closing Hint/Read lines."""
    lines = message.splitlines()
    cut = len(lines)
    while cut and lines[cut - 1].lstrip().startswith(("Hint:", "Read:")):
        cut -= 1
    return "\n".join(lines[:cut]), "\n".join(lines[cut:])


def relative(path):
    path = Path(path).resolve()
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
