"""Grade one step: run its suite against a file, print what a learner needs, write results.json."""

import json
import os
import re
import sys
from pathlib import Path

import pytest

from . import attribution, starters
from .course import FINAL_STEP, RESULTS_DIR, ROOT, all_extensions, next_step
from .plugin import symbol

# A check that runs longer than this is stopped by pytest-timeout. The checks
# bound every wait themselves (a few seconds); this only catches a bug in them.
CHECK_TIMEOUT_SECONDS = 60

# One failure fits a screen: longer messages are cut, and kept whole in the results file.
MAX_FAILURE_LINES = 40
MAX_FAILURE_BYTES = 4096

# Only the pytest plugins grading uses. Left to load itself, every installed plugin would come in,
# the notebooks' nbval and Jupyter's anyio too, and pytest would recompile each plugin's whole package
# (Hypothesis: 73 modules) for its assertion rewriting: over a second per run where no bytecode is cached.
GRADING_PLUGINS = ["--disable-plugin-autoload", "-p", "pytest_timeout", "-p", "_hypothesis_pytestplugin"]


def command(step_key, action="check", check=None):
    """How the learner runs a command, in the form they used to start this one."""
    if os.environ.get("COURSE_VIA_MAKE"):
        return {"check": f"make check STEP={step_key}", "hint": f"make hint STEP={step_key}",
                "replay": f"make replay STEP={step_key} CHECK={check}"}[action]
    prefix = "python -m checks"
    return {"check": f"{prefix} {step_key}", "hint": f"{prefix} hint {step_key}",
            "replay": f"{prefix} replay {step_key} {check}"}[action]


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


def pytest_arguments(learner_file, results_file):
    """What every grading run passes to pytest: only the course's plugins, no cache, the file and results."""
    return [
        "-p", "no:terminal",
        "-p", "no:cacheprovider",
        *GRADING_PLUGINS,
        "--import-mode=importlib",
        f"--rootdir={ROOT}",
        "-o", f"timeout={CHECK_TIMEOUT_SECONDS}",
        f"--learner-file={learner_file}",
        f"--results={results_file}",
    ]


def grade(step, learner_file, results_file=None, label=None, only=None):
    """Run ``step``'s checks against ``learner_file``; print the report; return 0 when all pass."""
    results_file = Path(results_file or RESULTS_DIR / f"{step.name}.json")
    shown = label or relative(learner_file)
    print(f"{step.title}: checking {shown}\n", flush=True)
    arguments = [str(step.tests_dir), "--learner-report", *pytest_arguments(learner_file, results_file)]
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
    causes, cases = {}, {}
    if failed:  # the list above is in the order the checks ran; what follows, in the order to fix them
        print(f"\nThe failures, in the order to fix them ({symbol('✗')} 1 first); "
              "(TODO n) says which TODO to look at.")
    for number, (test, cause) in enumerate(attribution.arrange(failed), 1):
        blamed = test.get("todo", test.get("task_id"))
        todo = f"   (TODO {blamed})" if blamed else ""
        print(f"\n{symbol('✗')} {number}. {test['name']}{todo}")
        if cause is not None:
            print(f"  Probably follows from {symbol('✗')} {cause}: fix that first.")
            continue
        check = test["id"].split("[", 1)[0]
        if check in cases and "[" in test["id"]:  # another case of a parametrized check: one is enough
            print(f"  Another case of the check in {symbol('✗')} {cases[check]}: fix that one first "
                  f"(this one's message is in {relative(results_file)}).")
            continue
        cases[check] = number
        facts, advice = split_advice(test["message"] or "")
        if facts in causes:
            earlier, earlier_advice = causes[facts]
            print(f"  Same failure as number {earlier} above.")
            if advice == earlier_advice:
                continue
        else:
            causes[facts] = (number, advice)
            print(bounded(facts, results_file))
            if "\n  Sent:" in facts and test.get("connects", True):  # the exchange can be shown byte by byte
                again = command(step.key, "replay", number)
                print(f"  {'Replay:':<11}{again}   (this check alone, every byte shown)")
        if advice:
            print(advice)
    print()
    print(f"{step.title}: {passing}/{len(tests)} checks passing")
    if not failed:
        print("All checks pass. Well done!")
        graded_folder = Path(learner_file).resolve().parent  # the step's folder, or wherever --file points
        if graded_folder != step.solution_dir.resolve():
            print("Compare with the reference solution:")
            for solution in step.solution_files:
                if starters.tasks(solution.read_text(encoding="utf-8")):  # the files the learner wrote in
                    print(f"  diff -u {relative(graded_folder / solution.name)} {relative(solution)}")
        later = next_step(step)
        if later:
            print(f"Next: {later.title}. {where_to_start(later)}, and run {command(later.key)}.")
        elif step.is_extension:
            others = [extension for extension in all_extensions() if extension.key != step.key]
            print("Another extension? " + ", ".join(f"{extension.key} ({command(extension.key)})"
                                                     for extension in others)
                  + ". docs/extensions/index.md says what each one adds.")
        elif step.number < FINAL_STEP:
            print(f"Step {step.number + 1} is not in the course yet: check back soon.")
        else:
            print("That was the last step: you built an HTTP server.")
            extensions = all_extensions()
            if extensions:
                print("Beyond step 5, graded extensions grow it further, in any order: "
                      + ", ".join(f"{extension.key} ({command(extension.key)})" for extension in extensions) + ".")
    else:
        print("Start with the first failing check: later ones often fail for the same reason.")
        print(f"Stuck? {command(step.key, 'hint')} shows a hint. Run {command(step.key)} again after each change.")
    print(f"(Results for graders: {relative(results_file)})")
    return 0 if not failed else 1


def replay(step, learner_file, which, results_file=None):
    """Run one check again, writing out every connection it makes; then its verdict.

    ``which`` is a failure's number in the report written to ``results_file`` (the step's
    usual results by default), or part of a check's name.
    """
    from .replay import find_check

    results_file = Path(results_file or RESULTS_DIR / f"{step.name}.json")
    try:
        check = find_check(step, str(which), results_file)
    except LookupError as problem:
        print(problem)
        return 2
    if "nodeid" not in check:
        print(f"The last report of {step.title} is from an older course version: run "
              f"{command(step.key)} once, then replay again.")
        return 2
    todo = check.get("todo", check.get("task_id"))
    print(f"Replaying: {check['name']}" + (f"   (TODO {todo})" if todo else ""))
    if check.get("connects", True):
        print(f"Your server: {relative(learner_file)}, started as the check starts it. "
              "Every connection the check makes is shown: → what it sent, ← what came back.")
    else:
        print(f"Your code: {relative(learner_file.parent)}. This check calls your functions directly and makes no "
              "connection: its verdict below is all there is to see.")
    replayed = results_file.parent / "replay" / f"{step.name}.json"  # not the report's: CHECK=k keeps its meaning
    replayed.unlink(missing_ok=True)
    # -s: the connections are written out while the check runs, which pytest would otherwise capture.
    pytest.main([str(ROOT / check["nodeid"]), "-s", "--replay", *pytest_arguments(learner_file, replayed)])
    try:
        tests = json.loads(replayed.read_text(encoding="utf-8"))["tests"]
    except (OSError, ValueError, KeyError):
        tests = []
    if not tests:
        print("\nThe check could not run (see above).")
        return 2
    outcome = tests[0]
    if outcome["status"] == "pass":
        print(f"\n{symbol('✓')} The check passes now. Run {command(step.key)} for the whole step.")
        return 0
    print(f"\n{symbol('✗')} {outcome['name']}")
    facts, advice = split_advice(outcome["message"] or "")
    print(bounded(facts, replayed))
    if advice:
        print(advice)
    return 1


def bounded(text, results_file, max_lines=MAX_FAILURE_LINES, max_bytes=MAX_FAILURE_BYTES):
    """One failure's facts cut to fit a screen; the whole of it stays in the results file."""
    lines = text.splitlines()
    kept, size = [], 0
    for line in lines[:max_lines]:
        size += len(line.encode("utf-8")) + 1
        if size > max_bytes:
            break
        kept.append(line)
    if len(kept) == len(lines):
        return text
    cut = f"  … {len(lines) - len(kept)} more lines: the whole message is in {relative(results_file)}"
    return "\n".join([*kept, cut])


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
