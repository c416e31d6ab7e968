"""The grading contract of every step (COURSE_DESIGN.md): what `make test` proves.

* the reference solution passes every check;
* the pristine starter fails every check;
* the committed starter is exactly the one generated from the solution;
* every common mistake in mistakes.toml is caught by the checks it names,
  and every check catches at least one of them;
* the report on every mistake leads with the TODO that holds it, and gives that TODO's advice.
"""

import ast

import pytest

from checks import attribution, mistakes, starters
from checks.course import everything

from .grading import assert_report_is_bounded, grade

STEPS = everything()
MISTAKES = [(step, mistake) for step in STEPS for mistake in mistakes.load(step)]


def function_of(check_id):
    """``test_x[case]`` -> ``test_x``."""
    return check_id.split("[", 1)[0]


_solution_outcomes = {}


def solution_outcome(step, tmp_path_factory):
    """The solution's results for a step, run once per session."""
    if step.name not in _solution_outcomes:
        _solution_outcomes[step.name] = grade(step, "--solution", tmp_path_factory.mktemp(step.name))
    return _solution_outcomes[step.name]


def check_ids(step):
    """The names of the graded test functions of a step, read from its test files."""
    names = []
    for path in sorted(step.tests_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names += [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    return names


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_solution_passes_every_check(step, tmp_path_factory):
    outcome = solution_outcome(step, tmp_path_factory)
    failing = [test for test in outcome.tests if test["status"] != "pass"]
    assert outcome.tests, f"{step.name}: no checks ran\n{outcome.output}"
    assert not failing, f"{step.name}: the solution fails:\n" + "\n\n".join(
        f"{test['id']}:\n{test['message']}" for test in failing
    )
    assert sorted({function_of(test["id"]) for test in outcome.tests}) == sorted(check_ids(step))


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_starter_fails_every_check(step, tmp_path):
    outcome = grade(step, "--starter", tmp_path)
    passing = [test["id"] for test in outcome.tests if test["status"] == "pass"]
    assert {function_of(test["id"]) for test in outcome.tests} == set(check_ids(step)), outcome.output
    assert not passing, f"{step.name}: these checks pass on the pristine starter, so they grade nothing: {passing}"
    assert_report_is_bounded(outcome, f"{step.name} starter")


def decorator_name(decorator):
    """``@course_settings(...)``, ``@hypothesis.given(...)``, ``@given`` -> the name alone."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_every_property_tries_the_same_inputs_for_every_learner(step):
    """A Hypothesis check runs under course_settings(), derandomized: random inputs would catch a mistake on some runs only."""
    random = []
    for path in sorted(step.tests_dir.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef):
                names = {decorator_name(decorator) for decorator in node.decorator_list}
                if "given" in names and "course_settings" not in names:
                    random.append(f"{path.name}: {node.name}")
    assert not random, f"{step.name}: these properties do not use checks.properties.course_settings(): {random}"


def test_committed_starters_match_their_solutions():
    stale = starters.out_of_sync(STEPS)
    assert not stale, f"starters out of date (run `make starters`): {[str(path) for path in stale]}"


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_every_check_has_a_task_and_a_plain_name(step, tmp_path_factory):
    todo_numbers = set(starters.step_tasks(step))
    outcome = solution_outcome(step, tmp_path_factory)
    for test in outcome.tests:
        assert test["name"] != test["id"], f"{test['id']} needs a docstring: its first line names the check"
        assert test["task_id"] in todo_numbers, f"{test['id']}: task {test['task_id']} is not a TODO of the starter"


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_every_check_catches_a_common_mistake(step, tmp_path_factory):
    """Every check, and every case of a parametrized check, is named by some mistake's caught_by."""
    every_id = [test["id"] for test in solution_outcome(step, tmp_path_factory).tests]
    caught = {name for mistake in mistakes.load(step) for name in mistake.caught_by}
    uncaught = [check_id for check_id in every_id if check_id not in caught]
    unknown = sorted(caught - set(every_id))
    assert not unknown, f"mistakes.toml names checks that do not exist: {unknown}"
    assert not uncaught, f"{step.name}: these checks catch no mistake in mistakes.toml: {uncaught}"


@pytest.mark.parametrize(
    "step, mistake", MISTAKES, ids=[f"{step.name}: {mistake.name}" for step, mistake in MISTAKES]
)
def test_mistake_is_caught_and_blamed_on_its_todo(step, mistake, tmp_path):
    """The checks named in caught_by fail, and the report leads with the mistake's TODO and its advice."""
    todo = mistakes.todo_of(step, mistake)
    learner_file = starters.write_variant(step, tmp_path, solved=starters.step_tasks(step), edit=mistake.edit)
    changed = tmp_path / mistake.file
    compile(changed.read_text(encoding="utf-8"), str(changed), "exec")  # a mistake a learner could run, not a typo
    outcome = grade(step, "--file", tmp_path, learner_file)
    statuses = {test["id"]: test["status"] for test in outcome.tests}
    missed = [name for name in mistake.caught_by if statuses.get(name) != "fail"]
    assert not missed, f"mistake {mistake.name!r} was not caught by {missed}:\n{outcome.output}"
    assert_report_is_bounded(outcome, f"mistake {mistake.name!r}")
    lead, _ = attribution.arrange([test for test in outcome.tests if test["status"] != "pass"])[0]
    first = outcome.output[outcome.output.index("\n✗ 1. "):].split("\n✗ 2. ")[0]
    assert f"✗ 1. {lead['name']}   (TODO {todo})" in first, (
        f"mistake {mistake.name!r} is in TODO {todo}, but the report leads with:\n{first}"
    )
    own_hint = lead["task_id"] == todo and "  Hint:" in first
    todo_advice = f"Hint:      TODO {todo} asks you to" in first
    assert own_hint or todo_advice, f"the first failure does not give TODO {todo}'s advice:\n{first}"


TASKS = [(step, task) for step in STEPS for task in starters.step_tasks(step)]


@pytest.mark.parametrize("step, task", TASKS, ids=[f"{step.name}: TODO {task}" for step, task in TASKS])
def test_checks_of_a_todo_fail_while_only_that_todo_is_left(step, task, tmp_path):
    """A check labelled `TODO n` must really grade TODO n: with every other TODO done, it fails."""
    others = set(starters.step_tasks(step)) - {task}
    learner_file = starters.write_variant(step, tmp_path, solved=others)
    outcome = grade(step, "--file", tmp_path, learner_file)
    labelled = [test for test in outcome.tests if test["task_id"] == task]
    assert labelled, f"no check is labelled TODO {task}"
    passing = [test["id"] for test in labelled if test["status"] == "pass"]
    assert not passing, f"these checks pass although TODO {task} is not done: {passing}"
    assert_report_is_bounded(outcome, f"{step.name} with only TODO {task} left")
