"""The pytest plugin behind every graded suite.

Fixtures a step's tests use:

* ``learner_file``  the file being graded (the learner's, or another given with ``--learner-file``);
* ``start_server``  ``start_server(options, mode)`` starts it in a child process and returns a
                    ``LearnerServer``; everything it starts is stopped after the test;
* ``server``        the same, started with default options.

Markers a graded test carries:

* ``@pytest.mark.task(3, needs=(1, 2))``   the starter's TODO this check grades, and the other
                                           TODOs it relies on (its failure may follow from theirs);
* ``@pytest.mark.hint("...", docs="#x")``  a hint and the docs section to read.

The first line of a test's docstring is its name in plain words. With
``--learner-report`` the plugin prints one line per check as it finishes,
then each failure in full, then the summary; with ``--results FILE`` it writes
the outcome in the Exercism test-runner ``results.json`` (version 3) shape.
"""

import inspect
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from . import attribution, starters, wire
from .course import ROOT, everything
from .learner_server import LearnerServer
from .replay import Transcript
from .report import CheckFailed
from .unit import learner_module  # noqa: F401  (a fixture for steps' unit checks)
from .unit import learner_places


def pytest_addoption(parser):
    group = parser.getgroup("course checks")
    group.addoption("--learner-file", help="grade this file instead of the step's learner file")
    group.addoption("--results", help="write the outcome here, as Exercism results.json v3")
    group.addoption("--learner-report", action="store_true", help="print checks the way learners read them")
    group.addoption("--replay", action="store_true", help="write out every connection the checks make")


def pytest_configure(config):
    config.addinivalue_line("markers", "task(n, needs=()): the TODO this check grades, and the others it relies on")
    config.addinivalue_line("markers", "hint(text, docs): a hint and a docs anchor for a failing check")
    config.pluginmanager.register(Outcomes(config), "course-outcomes")
    results_file = config.getoption("--results", default=None)
    if results_file:  # long "Try it" requests are saved beside the results, not in the course's folder
        wire.TRY_IT_DIR = Path(results_file).resolve().parent / "try-it"
    if config.getoption("--replay", default=False):
        transcript = Transcript()
        transcript.__enter__()
        config.add_cleanup(transcript.__exit__)


def step_of(path):
    for step in everything():
        if Path(path).resolve().is_relative_to(step.tests_dir.resolve()):
            return step
    return None


@pytest.fixture
def step(request):
    found = step_of(request.node.path)
    if found is None:
        pytest.fail("this test is not inside the tests/ folder of a step or extension")
    return found


@pytest.fixture
def learner_file(request, step):
    chosen = request.config.getoption("--learner-file")
    return Path(chosen).resolve() if chosen else step.main_file


@pytest.fixture
def start_server(learner_file, step):
    started = []

    def start(options=None, mode="serve"):
        server = LearnerServer(learner_file, options, mode, step.key)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.close()


@pytest.fixture
def server(start_server):
    return start_server()


class Outcomes:
    """Collects each check's outcome; prints it for learners; writes results.json."""

    def __init__(self, config):
        self.config = config
        self.results = []
        self.collection_errors = []
        self.learner_mode = config.getoption("--learner-report")
        self.out = sys.stdout
        self.todo_maps = {}

    def pytest_collectreport(self, report):
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        failed_here = report.failed and (report.when == "call" or call.excinfo is not None)
        if report.when == "call" or (report.failed and report.when == "setup"):
            self._record(item, report, call if failed_here else None)
        return report

    def _record(self, item, report, call):
        name = check_name(item)
        task = item.get_closest_marker("task")
        tagged = task.args[0] if task else None
        entry = {
            "id": item.name,
            "nodeid": item.nodeid,
            "name": name,
            "status": "pass" if report.passed else "fail",
            "message": None,
            "test_code": test_code(item),
            "task_id": tagged,
            "todo": tagged,  # the TODO a failure is blamed on (see attribution.py)
            "needs": sorted(task.kwargs.get("needs", ())) if task else [],
            # Whether it starts the learner's server (make replay shows its connections) or calls code directly.
            "connects": bool(SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))),  # nbval cells have none
        }
        if call is not None and call.excinfo is not None:
            error = underlying_failure(call.excinfo.value)
            if not isinstance(error, AssertionError):
                entry["status"] = "error"
            entry["todo"] = self.blame(item, error, tagged)
            entry["message"] = failure_text(item, error, entry["todo"])
        self.results.append(entry)
        if self.learner_mode:
            mark = "✓" if entry["status"] == "pass" else "✗"
            self.out.write(f"  {symbol(mark)} {name}\n")
            self.out.flush()

    def blame(self, item, error, tagged):
        step = step_of(item.path)
        if step is None:
            return tagged
        if step.name not in self.todo_maps:
            self.todo_maps[step.name] = attribution.TodoMap.of(step)
        learner_file = self.config.getoption("--learner-file") or step.main_file
        return attribution.blame(error, tagged, self.todo_maps[step.name], Path(learner_file).parent)

    def pytest_sessionfinish(self, session):
        results_file = self.config.getoption("--results")
        if results_file:
            write_results(Path(results_file), self.results, self.collection_errors)


def check_name(item):
    """The check's name in plain words: its docstring's first line, and which case for a parametrized check."""
    doc = inspect.getdoc(getattr(item, "function", None)) or ""
    name = doc.splitlines()[0].rstrip(".") if doc else item.name
    case = getattr(getattr(item, "callspec", None), "id", None)
    return f"{name}: {case}" if case else name


def test_code(item):
    try:
        return textwrap.dedent(inspect.getsource(getattr(item, "function", None)))
    except (OSError, TypeError):
        return None


def underlying_failure(error):
    """The check's own failure inside Hypothesis's wrapper for a failure it could not repeat."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = next((inner for inner in error.exceptions if isinstance(inner, CheckFailed)), error.exceptions[0])
    return error


# The fixtures that start the learner's server; every check that talks to it uses one of them.
SERVER_FIXTURES = {"start_server", "server", "shared_server"}


def failure_text(item, error, todo=None):
    """A failed check as a learner reads it: facts, then the hint and where to read more.

    When the failure is blamed on another TODO than the one the check grades, the
    advice is that TODO's: what it asks for, and its section of the docs.
    """
    if isinstance(error, CheckFailed):
        text = str(error)
    elif isinstance(error, AssertionError):
        text = str(error) or "A check failed without saying why (that is a bug in the course: please report it)."
    elif learner_places(error):
        where = learner_places(error)[0]
        text = (f"Your code raised {type(error).__name__} ({Path(where[0]).name}, line {where[1]}) while the "
                f"check ran it:\n  {type(error).__name__}: {error}")
    else:
        text = "The check itself hit an error:\n" + f"{type(error).__name__}: {error}".strip()
    task = item.get_closest_marker("task")
    hint = item.get_closest_marker("hint")
    step = step_of(item.path)
    lines = [text]
    if step and task and todo is not None and todo != task.args[0]:
        anchor, what = starters.step_tasks(step).get(todo, (None, None))
        # A TODO with several functions has several texts: the one the starter raised names the right function.
        raised = re.match(rf"TODO {todo}: (.*) \(see [^)]*\)$", str(getattr(error, "received", "") or ""))
        if what and raised:
            what = raised.group(1)
        if what:
            lines.append(f"  {'Hint:':<11}TODO {todo} asks you to {what}.")
            lines.append(f"  {'Read:':<11}{step.docs_page}#{anchor}")
            return "\n".join(lines)
    if hint:
        lines.append(f"  {'Hint:':<11}{hint.args[0]}")
        anchor = hint.kwargs.get("docs")
        if anchor and step:
            lines.append(f"  {'Read:':<11}{step.docs_page}{anchor}")
    return "\n".join(lines)


def symbol(mark):
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        mark.encode(encoding)
        return mark
    except UnicodeEncodeError:
        return {"✓": "ok ", "✗": "XX "}[mark]


def write_results(path, results, collection_errors):
    if collection_errors:
        status, message = "error", "\n".join(collection_errors)
    elif results and all(entry["status"] == "pass" for entry in results):
        status, message = "pass", None
    elif results:
        status, message = "fail", None
    else:
        status, message = "error", "No checks ran."
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"version": 3, "status": status, "message": message, "tests": results}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
