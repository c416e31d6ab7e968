"""A mutation run for maintainers: which small bugs in a step's solution do its checks miss?

    python -m checks mutants 2         every mutant of step 2, graded by step 2's checks
    python -m checks mutants all       every step in turn (so does no step at all)
    make mutants STEP=2                the same through make (TODO=, LIMIT=, JOBS= narrow it)

A mutant is the reference solution with one small, generic change made inside
one ``# >>> SOLUTION n`` block, the code a learner writes: ``==`` turned into
``!=``, one added to a number, a statement replaced by ``pass``, and so on
(``propose()`` lists the operators). Each mutant is written, with the step's
other files, into a temporary folder as a complete learner variant (the
committed solution files are never touched), and the step's checks grade it in
a child process that stops at the first failing check, the checks of the
mutated TODO first. A mutant is

* killed when a check fails on it, or when it outlives the time limit twice
  (the second time alone, so that a busy machine is not mistaken for a hang);
* equivalent when it survives and the step's ``equivalent_mutants.toml`` lists
  it with a reason why no check could tell it from the solution;
* an unexplained survivor otherwise: a blind spot, for a new check to kill.

The score is killed / (mutants - equivalent). Each step's run is written to
``results/mutants/<step>.json``; the exit code is 1 while an unexplained
survivor (or a mutant that could not be graded) remains.

Why not mutmut or cosmic-ray? Both are good tools, and neither fits here.
mutmut 3 copies the project into ``mutants/`` and rewrites every function into
a trampoline that picks the mutant from an environment variable inside the
test process; our code under test runs in another process (checks/launch.py
imports the learner's file by path from a generated folder), and mutmut would
mutate whole files, not only the SOLUTION blocks a learner writes.
cosmic-ray mutates the files in place, one at a time, and records sessions in
its own database: in place would change the committed solutions while other
people run the checks against them. A small AST mutator that writes each
mutant as a learner variant (``starters.render_starter`` with every TODO
solved) reuses the path every learner's file takes, and so grades exactly what
a learner's bug would meet.

Each equivalent mutant is listed in ``equivalent_mutants.toml`` of the step (or extension) folder
by what survives unrelated edits: its file, function, operator, and the code of
the line before and after the change (comments left out), never a line number::

    [[equivalent]]
    file = "server.py"
    function = "HTTPServer.start"
    operator = "number"
    before = "listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)"
    after = "listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 2)"
    reason = "any non-zero value turns SO_REUSEADDR on"
"""

import ast
import copy
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
import tomllib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import starters
from .runner import GRADING_PLUGINS
from .course import RESULTS_DIR, ROOT

OUT_DIR = RESULTS_DIR / "mutants"
EQUIVALENTS_FILE = "equivalent_mutants.toml"

# A per-check limit for pytest-timeout, as in checks/runner.py: the checks bound
# their own waits (seconds); this only stops a check that never returns.
CHECK_TIMEOUT_SECONDS = 60
# A whole mutant gets this many times the unmutated solution's time, and at
# least MIN_MUTANT_SECONDS, before it is stopped and counted as a timeout. Only
# a hang comes near it: a killed mutant stops at its first failing check.
TIMEOUT_FACTOR = 4
MIN_MUTANT_SECONDS = 90

# The environment variable that tells the child pytest (with ``-p checks.mutants``)
# which TODO was mutated, so that the checks of that TODO run first.
TODO_FIRST = "COURSE_MUTANT_TODO"

# One line of a report shows at most this much of a mutated line.
SHOWN_CHARS = 110


# ---------------------------------------------------------------- the mutants


@dataclass(frozen=True)
class Mutant:
    file: str  # the solution file's name, e.g. "request.py"
    line: int  # where the change starts, 1-based, in the solution file
    todo: int  # the SOLUTION block (TODO) it is in
    function: str  # "HTTPServer.start", or "<module>"
    operator: str  # "compare", "delete", ...: see propose()
    before: str  # the code of the changed line(s) before, comments left out
    after: str  # ... and after the change
    text: str  # the whole mutated solution file, markers and all

    @property
    def key(self):
        """What names this mutant across edits elsewhere in the file (no line number)."""
        return (self.file, self.function, self.operator, self.before, self.after)

    @property
    def where(self):
        return f"{self.file}:{self.line}"


COMPARE_SWAPS = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Lt: ast.LtE, ast.LtE: ast.Lt,
    ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
ARITHMETIC_SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult, ast.Div: ast.Mult,
    ast.BitOr: ast.BitAnd, ast.BitAnd: ast.BitOr,
}
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def _changed(node, **fields):
    """A shallow copy of ``node`` with some fields replaced (positions kept)."""
    new = copy.copy(node)
    for name, value in fields.items():
        setattr(new, name, value)
    return new


def _is_docstring(node):
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def propose(node):
    """The generic mutations of one node: (operator, the node that replaces it).

    In place of the node, a mutation may give (field, new node): then the
    child in that field is what is replaced.
    """
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            swapped = COMPARE_SWAPS.get(type(op))
            if swapped:
                ops = list(node.ops)
                ops[index] = swapped()
                yield "compare", _changed(node, ops=ops)
    elif isinstance(node, ast.BoolOp):
        yield "boolean", _changed(node, op=ast.Or() if isinstance(node.op, ast.And) else ast.And())
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not", node.operand
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in ARITHMETIC_SWAPS:
        yield "arithmetic", _changed(node, op=ARITHMETIC_SWAPS[type(node.op)]())
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield "true-false", ast.Constant(value=not value)
        elif isinstance(value, (int, float)):
            yield "number", ast.Constant(value=value + 1)
        elif isinstance(value, str):
            yield "string", ast.Constant(value="XX" + value)
        elif isinstance(value, bytes):
            yield "bytes", ast.Constant(value=b"XX" + value)
    elif isinstance(node, ast.JoinedStr):  # each literal part of an f-string, the whole rewritten
        if not node.values or not isinstance(node.values[0], ast.Constant):
            yield "string", _changed(node, values=[ast.Constant(value="XX"), *node.values])
        for index, part in enumerate(node.values):
            if isinstance(part, ast.Constant):
                values = list(node.values)
                values[index] = ast.Constant(value="XX" + part.value)
                yield "string", _changed(node, values=values)
    elif isinstance(node, ast.Call):
        for index, argument in enumerate(node.args):
            if not isinstance(argument, ast.Starred):
                yield "argument", _changed(node, args=node.args[:index] + node.args[index + 1:])
        for index, keyword in enumerate(node.keywords):
            if keyword.arg is not None:
                yield "argument", _changed(node, keywords=node.keywords[:index] + node.keywords[index + 1:])
    elif isinstance(node, ast.Slice):
        if node.lower is not None and not (isinstance(node.lower, ast.Constant) and node.lower.value == 0):
            yield "slice", _changed(node, lower=None)
        if node.upper is not None:
            yield "slice", _changed(node, upper=None)
    elif isinstance(node, ast.IfExp):
        yield "condition", _changed(node, test=ast.Constant(value=True))
        yield "condition", _changed(node, test=ast.Constant(value=False))

    if isinstance(node, ast.stmt):
        if isinstance(node, ast.Break):
            yield "break-continue", ast.Continue()
        elif isinstance(node, ast.Continue):
            yield "break-continue", ast.Break()
        elif isinstance(node, ast.Return) and node.value is not None and not (
            isinstance(node.value, ast.Constant) and node.value.value is None
        ):
            yield "return", _changed(node, value=ast.Constant(value=None))
        elif isinstance(node, ast.If) and not isinstance(node.test, ast.Constant):
            # Only the condition is rewritten (an if statement does not fit on one line).
            yield "condition", ("test", ast.Constant(value=True))
            yield "condition", ("test", ast.Constant(value=False))
        if not isinstance(node, ast.Pass) and not _is_docstring(node):
            yield "delete", ast.Pass()


def _walk(node, path=(), scope=(), in_fstring=False):
    """Every node with its path from the root ((field, index), ...), enclosing scope and f-string flag."""
    yield node, path, scope, in_fstring
    inner_scope = (*scope, node.name) if isinstance(node, SCOPES) else scope
    inner_fstring = in_fstring or isinstance(node, ast.JoinedStr)
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, ast.AST):
                    yield from _walk(item, (*path, (field, index)), inner_scope, inner_fstring)
        elif isinstance(value, ast.AST):
            yield from _walk(value, (*path, (field, None)), inner_scope, inner_fstring)


def _at(tree, path):
    node = tree
    for field, index in path:
        node = getattr(node, field) if index is None else getattr(node, field)[index]
    return node


def _statement_path(tree, path):
    """The path of the innermost statement that holds (or is) the node at ``path``."""
    node, found = tree, ()
    for depth, (field, index) in enumerate(path, 1):
        node = getattr(node, field) if index is None else getattr(node, field)[index]
        if isinstance(node, ast.stmt):
            found = path[:depth]
    return found


def _dump_with(tree, path, new, within):
    """``ast.dump`` of the statement at ``within`` once the node at ``path`` is replaced by ``new``.

    The mutant's text differs from the solution's only inside that statement,
    so comparing that statement's tree is enough (and far cheaper than the file's).
    """
    parent = _at(tree, path[:-1])
    field, index = path[-1]
    container = getattr(parent, field)
    original = container if index is None else container[index]
    try:  # swapped in place and back: far cheaper than a deep copy per mutant
        if index is None:
            setattr(parent, field, new)
        else:
            container[index] = new
        return ast.dump(_at(tree, within))
    finally:
        if index is None:
            setattr(parent, field, original)
        else:
            container[index] = original


def _same_shape(tree, mutated, within):
    """Do both trees hold a statement at ``within``, in lists of the same lengths on the way?"""
    node, other = tree, mutated
    for field, index in within:
        try:
            node, other = getattr(node, field), getattr(other, field)
            if index is not None:
                if len(node) != len(other):
                    return False
                node, other = node[index], other[index]
        except (AttributeError, IndexError, TypeError):
            return False
    return True


class _Source:
    """A file's lines, with a way to turn the AST's byte offsets into characters and drop comments."""

    def __init__(self, text):
        self.text = text
        self.lines = text.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))
        self.comment_at = {}  # line number -> column where its comment starts
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                self.comment_at[token.start[0]] = token.start[1]

    def column(self, line, byte_offset):
        return len(self.lines[line - 1].encode("utf-8")[:byte_offset].decode("utf-8"))

    def code(self, line):
        """Line ``line`` without its comment and line ending."""
        text = self.lines[line - 1].rstrip("\r\n")
        return text[:self.comment_at.get(line, len(text))]

    def span(self, node):
        """(first line, first column, last line, end column) of ``node``, decorators included."""
        line, column = node.lineno, self.column(node.lineno, node.col_offset)
        for decorator in getattr(node, "decorator_list", ()):
            if decorator.lineno < line or (decorator.lineno == line and decorator.col_offset < column):
                line = decorator.lineno
                column = self.lines[line - 1].index("@")
        return line, column, node.end_lineno, self.column(node.end_lineno, node.end_col_offset)


def _one_line(text):
    return " ".join(text.split())


def mutants_of(text, name="solution.py", todo=None):
    """Every mutant of one solution file's text, made inside its SOLUTION blocks only.

    Mutants that do not parse back to the intended tree or do not compile are
    left out; so are duplicates (the same mutated text by two routes).
    """
    blocks = [(begin + 2, end, int(match["task"])) for begin, end, match in starters._blocks(text, name)]
    if todo is not None:
        blocks = [block for block in blocks if block[2] == todo]
    if not blocks:
        return []
    tree = ast.parse(text, filename=name)
    source = _Source(text)
    seen = {text}
    found = []
    for node, path, scope, in_fstring in _walk(tree):
        if not path or in_fstring or not hasattr(node, "lineno") or _is_docstring(node):
            continue  # positions inside an f-string are not reliable before Python 3.12
        if isinstance(node, ast.Constant) and _is_docstring_value(tree, path):
            continue
        first, _, last, _ = source.span(node)
        todos = [task for begin, end, task in blocks if begin <= first and last <= end]
        if not todos:
            continue
        for operator, new in propose(node):
            target, where = node, path
            if isinstance(new, tuple):  # a child of the node is replaced
                field, new = new
                target, where = getattr(node, field), (*path, (field, None))
            mutant = _write(source, tree, target, where, new, operator, name, todos[0], scope, source.span(target))
            if mutant is not None and mutant.text not in seen:
                seen.add(mutant.text)
                found.append(mutant)
    return found


def _is_docstring_value(tree, path):
    """Is the constant at ``path`` the string of a docstring statement?"""
    parent = tree
    for field, index in path[:-1]:
        parent = getattr(parent, field) if index is None else getattr(parent, field)[index]
    return _is_docstring(parent)


def _write(source, tree, node, path, new, operator, name, todo, scope, span):
    """The mutant that puts ``new`` in place of ``node``, or None if it cannot be written faithfully."""
    first, first_column, last, end_column = span
    within = _statement_path(tree, path)
    expected = _dump_with(tree, path, new, within)
    start = source.starts[first - 1] + first_column
    stop = source.starts[last - 1] + end_column
    written = ast.unparse(new)
    for replacement in (written, f"({written})"):
        text = source.text[:start] + replacement + source.text[stop:]
        try:
            mutated = ast.parse(text)
            if not _same_shape(tree, mutated, within) or ast.dump(_at(mutated, within)) != expected:
                continue
            compile(mutated, name, "exec")  # `break` outside a loop parses, but does not compile
        except SyntaxError:
            continue
        before = _one_line(" ".join(source.code(line) for line in range(first, last + 1)))
        after = _one_line(source.code(first)[:first_column] + replacement + source.code(last)[end_column:])
        return Mutant(name, first, todo, ".".join(scope) or "<module>", operator, before, after, text)
    return None


def step_mutants(step, todo=None, originals=None):
    """Every mutant of a step's solution files, in file and line order."""
    found = []
    for solution_file in step.solution_files:
        text = originals[solution_file.name] if originals else solution_file.read_text(encoding="utf-8")
        found += mutants_of(text, solution_file.name, todo)
    return found


# ---------------------------------------------------------------- equivalents


@dataclass(frozen=True)
class Equivalent:
    file: str
    function: str
    operator: str
    before: str
    after: str
    reason: str

    @property
    def key(self):
        return (self.file, self.function, self.operator, _one_line(self.before), _one_line(self.after))


def load_equivalents(path):
    """The entries of an equivalent_mutants.toml (none when the file does not exist)."""
    if not Path(path).exists():
        return []
    document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    entries = []
    for number, entry in enumerate(document.get("equivalent", []), 1):
        missing = [field for field in ("file", "function", "operator", "before", "after", "reason")
                   if not str(entry.get(field, "")).strip()]
        if missing:
            raise ValueError(f"{path}: entry {number} needs {', '.join(missing)}")
        entries.append(Equivalent(**{field: entry[field] for field in Equivalent.__dataclass_fields__}))
    return entries


def equivalence(mutants, entries):
    """{mutant key: reason} for the mutants the entries list, and the entries that match none."""
    reasons = {entry.key: entry.reason for entry in entries}
    keys = {mutant.key for mutant in mutants}
    return ({key: reason for key, reason in reasons.items() if key in keys},
            [entry for entry in entries if entry.key not in keys])


# ---------------------------------------------------------------- the child pytest


def pytest_collection_modifyitems(config, items):
    """(A pytest hook, with ``-p checks.mutants``.) The mutated TODO's checks first, in their order.

    Only the order changes, never which checks run: a killed mutant just stops sooner.
    """
    todo = os.environ.get(TODO_FIRST)
    if todo and todo.isdigit():
        def first(item):
            marker = item.get_closest_marker("task")
            return 0 if marker and marker.args and marker.args[0] == int(todo) else 1
        items.sort(key=first)


def write_variant(step, folder, originals, mutant=None):
    """Every learner file of the step, every TODO solved, one of them mutated; the main file's path."""
    solved = set()
    for text in originals.values():
        solved |= set(starters.tasks(text))
    for solution_file in step.solution_files:
        text = mutant.text if mutant and mutant.file == solution_file.name else originals[solution_file.name]
        rendered = starters.render_starter(text, step.docs_page, step.relative(solution_file), solved)
        (folder / solution_file.name).write_text(rendered, encoding="utf-8")
    return folder / step.main_file.name


_running = set()  # the child processes in flight, so that Ctrl-C can stop them
_running_lock = threading.Lock()


def grade(step, originals, mutant, timeout):
    """Run the step's checks on one variant (the solution itself when ``mutant`` is None).

    Returns a dict: status (killed, timeout, survived, error), killed_by, checks run, seconds, output.
    """
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="course-mutant-") as folder:
        folder = Path(folder)
        main_file = write_variant(step, folder, originals, mutant)
        results = folder / "results.json"
        # The same arguments as checks/runner.py's grade(), plus -x: stop at the first failing check.
        command = [
            sys.executable, "-m", "pytest", str(step.tests_dir), "-x",
            "-p", "no:terminal", "-p", "no:cacheprovider", *GRADING_PLUGINS, "-p", "checks.mutants",
            "--import-mode=importlib", f"--rootdir={ROOT}",
            "-o", f"timeout={CHECK_TIMEOUT_SECONDS}",
            f"--learner-file={main_file}", f"--results={results}",
            f"--basetemp={folder / 'tmp'}",  # not the shared /tmp/pytest-of-<user>: other runs clean that up
        ]
        environment = {**os.environ, TODO_FIRST: str(mutant.todo) if mutant else ""}
        environment.pop("COURSE_VIA_MAKE", None)
        output, exit_code = _run(command, environment, timeout)
        seconds = round(time.monotonic() - began, 1)
        if exit_code is None:
            return {"status": "timeout", "killed_by": None, "checks": None, "seconds": seconds, "output": output}
        try:
            tests = json.loads(results.read_text(encoding="utf-8"))["tests"]
        except (OSError, ValueError, KeyError):
            tests = []
    failed = [test for test in tests if test["status"] != "pass"]
    if failed:
        first = failed[0]
        killed_by = {"id": first["id"], "name": first["name"], "task_id": first["task_id"], "status": first["status"]}
        return {"status": "killed", "killed_by": killed_by, "checks": len(tests), "seconds": seconds, "output": ""}
    if tests and exit_code == 0:  # pytest ran every check it collected, and all of them passed
        return {"status": "survived", "killed_by": None, "checks": len(tests), "seconds": seconds, "output": ""}
    return {"status": "error", "killed_by": None, "checks": len(tests), "seconds": seconds,
            "output": f"pytest exit code {exit_code}, {len(tests)} checks passed:\n{output}"}


def _run(command, environment, timeout):
    """Run ``command``; on timeout stop it and everything it started. Returns (output tail, exit code or None)."""
    posix = os.name == "posix"
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace",
        start_new_session=posix,  # its own process group: a timeout stops the learner servers too
    )
    with _running_lock:
        _running.add(process)
    try:
        output, _ = process.communicate(timeout=timeout)
        return output[-3000:], process.returncode
    except subprocess.TimeoutExpired:
        _stop(process)
        output, _ = process.communicate()
        return output[-3000:], None
    finally:
        with _running_lock:
            _running.discard(process)


def _stop(process):
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


def stop_all():
    with _running_lock:
        for process in list(_running):
            _stop(process)


# ---------------------------------------------------------------- a step's run


def run_step(step, *, jobs, todo=None, limit=None, survivors_of=None, timeout=None, out_dir=OUT_DIR, say=print):
    """Grade every mutant of one step; write the results file; return its document."""
    began = time.monotonic()
    originals = {path.name: path.read_text(encoding="utf-8") for path in step.solution_files}  # one snapshot
    entries = load_equivalents(step.folder / EQUIVALENTS_FILE)
    everything = step_mutants(step, originals=originals)
    chosen = [mutant for mutant in everything if todo is None or mutant.todo == todo]
    previous = None
    if survivors_of is not None:
        previous = json.loads(Path(survivors_of).read_text(encoding="utf-8"))
        wanted = {tuple(entry["key"]) for entry in previous["mutants"] if entry["status"] in ("survived", "error")}
        chosen = [mutant for mutant in chosen if mutant.key in wanted]
    if limit is not None:
        chosen = chosen[:limit]
    reasons, stale = equivalence(everything, entries)

    say(f"{step.title}: {len(everything)} mutants in its solution blocks; grading {len(chosen)} "
        f"with {jobs} at a time.")
    baseline = grade(step, originals, None, timeout or 600)
    if baseline["status"] != "survived":
        say(f"The unmutated solution does not pass its own checks ({baseline['status']}"
            + (f": {baseline['killed_by']['id']}" if baseline["killed_by"] else "")
            + "), so no mutant can be judged. Fix that first.\n" + baseline["output"])
        return None
    limit_seconds = timeout or max(MIN_MUTANT_SECONDS, TIMEOUT_FACTOR * baseline["seconds"])
    say(f"The solution passes all {baseline['checks']} checks in {baseline['seconds']:.1f} s; "
        f"each mutant gets at most {limit_seconds:.0f} s.")

    outcomes = {}
    done = [0]
    lock = threading.Lock()

    def one(mutant):
        outcome = grade(step, originals, mutant, limit_seconds)
        with lock:
            outcomes[mutant] = outcome
            done[0] += 1
            say(progress_line(done[0], len(chosen), mutant, outcome, reasons.get(mutant.key)))

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            list(pool.map(one, chosen))
        timeouts = [mutant for mutant in chosen if outcomes[mutant]["status"] == "timeout"]
        if timeouts:
            say(f"Grading the {len(timeouts)} mutant(s) that ran out of time again, one at a time:")
            done[0] = 0
            for mutant in timeouts:
                outcomes.pop(mutant)
                chosen_total = len(timeouts)
                outcome = grade(step, originals, mutant, limit_seconds)
                outcome["retried"] = True
                outcomes[mutant] = outcome
                done[0] += 1
                say(progress_line(done[0], chosen_total, mutant, outcome, reasons.get(mutant.key)))
    except KeyboardInterrupt:
        stop_all()
        raise

    records = [record(mutant, outcomes[mutant], reasons.get(mutant.key)) for mutant in chosen]
    if previous is not None:
        replaced = {tuple(entry["key"]) for entry in records}
        current = {mutant.key for mutant in everything}
        kept = [entry for entry in previous["mutants"]
                if tuple(entry["key"]) not in replaced and tuple(entry["key"]) in current]
        for entry in kept:  # the list of equivalents may have changed since
            entry["equivalent"] = reasons.get(tuple(entry["key"])) if entry["status"] == "survived" else None
        records = sorted(kept + records, key=lambda entry: (entry["file"], entry["line"], entry["operator"]))
    complete = (todo is None and limit is None) if previous is None else previous.get("complete", False)
    document = {
        "step": step.name,
        "title": step.title,
        "complete": complete,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - began, 1),
        "jobs": jobs,
        "solution_seconds": baseline["seconds"],
        "mutant_timeout_seconds": limit_seconds,
        **summary(records),
        "stale_equivalents": [asdict(entry) for entry in stale] if complete else [],
        "mutants": records,
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{step.name}.json"
    path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    document["path"] = path
    report(step, document, say)
    return document


def record(mutant, outcome, reason):
    entry = {
        "key": list(mutant.key),
        "file": mutant.file, "line": mutant.line, "todo": mutant.todo, "function": mutant.function,
        "operator": mutant.operator, "before": mutant.before, "after": mutant.after,
        "status": outcome["status"], "killed_by": outcome["killed_by"], "seconds": outcome["seconds"],
        "equivalent": reason if outcome["status"] == "survived" else None,
    }
    if reason and outcome["status"] in ("killed", "timeout"):
        entry["listed_as_equivalent_but_killed"] = reason
    if outcome["status"] == "error":
        entry["output"] = outcome["output"]
    entry["checks_run"] = outcome["checks"]
    return entry


def summary(records):
    """The counts and the score of a list of mutant records."""
    killed = sum(entry["status"] in ("killed", "timeout") for entry in records)
    equivalent = sum(entry["status"] == "survived" and bool(entry["equivalent"]) for entry in records)
    unexplained = sum(entry["status"] == "survived" and not entry["equivalent"] for entry in records)
    judged = len(records) - equivalent
    return {
        "total": len(records),
        "killed": killed,
        "killed_by_timeout": sum(entry["status"] == "timeout" for entry in records),
        "equivalent": equivalent,
        "unexplained": unexplained,
        "errors": sum(entry["status"] == "error" for entry in records),
        # Which checks did the killing: a check that kills many mutants of a TODO
        # other than its own, or one known to be timing-sensitive, deserves a look.
        "kills_per_check": dict(sorted(Counter(entry["killed_by"]["id"] for entry in records
                                               if entry["status"] == "killed").items())),
        "score": round(killed / judged, 4) if judged else 1.0,
    }


def shorten(text, width=SHOWN_CHARS):
    return text if len(text) <= width else text[:width - 1] + "…"


def progress_line(number, total, mutant, outcome, reason):
    head = f"[{number:>{len(str(total))}}/{total}] {mutant.where} TODO {mutant.todo} {mutant.operator}:"
    status = outcome["status"]
    if status == "killed":
        return f"{head} killed by {outcome['killed_by']['id']} ({outcome['seconds']:.1f} s)"
    if status == "timeout":
        return f"{head} killed: ran out of time ({outcome['seconds']:.0f} s)"
    if status == "error":
        return f"{head} COULD NOT BE GRADED ({outcome['seconds']:.1f} s)"
    verdict = "survived (listed as equivalent)" if reason else "SURVIVED"
    return f"{head} {verdict}  {shorten(mutant.before, 50)!s} -> {shorten(mutant.after, 50)!s}"


def report(step, document, say=print):
    """The unexplained survivors in full, the warnings, then the step's summary line."""
    unexplained = [entry for entry in document["mutants"] if entry["status"] == "survived" and not entry["equivalent"]]
    if unexplained:
        say(f"\nUnexplained survivors of {step.title}: kill each with a check, or list it in "
            f"{step.relative(step.folder)}/{EQUIVALENTS_FILE} with the reason no check can:")
        for entry in unexplained:
            say(f"  {entry['file']}:{entry['line']}  TODO {entry['todo']}  {entry['operator']}  in {entry['function']}")
            say(f"      - {shorten(entry['before'])}")
            say(f"      + {shorten(entry['after'])}")
    # An entry names a mutant by its code, not its line: two identical lines make two mutants with one
    # name. The entry is wrong only if every mutant it names was killed.
    surviving = {tuple(entry["key"]) for entry in document["mutants"] if entry["status"] == "survived"}
    for entry in document["mutants"]:
        if entry["status"] == "error":
            say(f"  Could not grade {entry['file']}:{entry['line']} ({entry['operator']}):\n{entry.get('output', '')}")
        if entry.get("listed_as_equivalent_but_killed") and tuple(entry["key"]) not in surviving:
            say(f"  Listed as equivalent but killed: {entry['file']}:{entry['line']} {entry['operator']} "
                f"({entry['before']} -> {entry['after']}): drop its entry.")
    for entry in document["stale_equivalents"]:
        say(f"  An entry of {EQUIVALENTS_FILE} matches no mutant any more: {entry['function']} "
            f"{entry['operator']} ({entry['before']} -> {entry['after']}).")
    say("\n" + summary_line(step.title, document))
    say(f"(Results: {document['path'].relative_to(ROOT) if document['path'].is_relative_to(ROOT) else document['path']})")


def summary_line(title, document):
    judged = document["total"] - document["equivalent"]
    timeouts = f" ({document['killed_by_timeout']} by timeout)" if document["killed_by_timeout"] else ""
    errors = f", {document['errors']} could not be graded" if document["errors"] else ""
    return (f"{title}: {document['total']} mutants, {document['killed']} killed{timeouts}, "
            f"{document['equivalent']} survived (equivalent), {document['unexplained']} survived (unexplained)"
            f"{errors}; score {100 * document['score']:.1f} % ({document['killed']}/{judged}) "
            f"in {minutes(document['seconds'])}")


def minutes(seconds):
    whole = int(round(seconds))
    return f"{whole // 60} min {whole % 60:02d} s" if whole >= 60 else f"{whole} s"


def run(steps, *, jobs=None, todo=None, limit=None, survivors=False, timeout=None, out_dir=OUT_DIR):
    """The command: every step in ``steps`` in turn; 0 when no unexplained survivor is left."""
    jobs = jobs or os.cpu_count() or 1
    documents = []
    for step in steps:
        previous = None
        if survivors:
            previous = Path(out_dir) / f"{step.name}.json"
            if not previous.exists():
                print(f"{step.title}: no earlier run in {previous} to replay; grading every mutant.")
                previous = None
        document = run_step(step, jobs=jobs, todo=todo, limit=limit, survivors_of=previous,
                            timeout=timeout, out_dir=out_dir, say=lambda line: print(line, flush=True))
        documents.append((step, document))
        print(flush=True)
    if len(documents) > 1:
        print("All steps:")
        for step, document in documents:
            print("  " + (summary_line(step.title, document) if document else f"{step.title}: not run"))
    if any(document is None for _, document in documents):
        return 2
    return 1 if any(document["unexplained"] or document["errors"] for _, document in documents) else 0
