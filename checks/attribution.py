"""Which TODO a failure points at, so a report can lead with the one to fix first.

What says where a failure comes from, strongest first (``blame``):

* the check itself, when it can tell (``CheckFailed(todo=n)``);
* a starter's ``NotImplementedError("TODO n: ...")``;
* the learner's code raised in a function that holds a TODO (for a
  connection's own errors, such as TimeoutError, the outermost such function:
  the bug is that nobody caught them), or a thread of the server was still
  running there, not just waiting for input, when the check gave up;
* else the TODO the check grades (``@pytest.mark.task(n)``).

A check also runs code of other TODOs (``@pytest.mark.task(n, needs=(...))``),
so when a failure is blamed on one of those, this one probably follows from it.

``arrange`` puts a report in order: failures of the TODO to fix first lead,
and a failure that probably follows from an earlier one is folded under it.
"""

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from . import starters
from .unit import learner_places


def todo_lines(text, source="solution"):
    """The solution as the learner's finished file has it, each line with its TODO (or None).

    The same lines ``render_solution`` keeps: marker lines and snippet markers dropped.
    """
    lines = text.splitlines()
    task_of = [None] * len(lines)
    dropped = set()
    for begin, end, match in starters._blocks(text, source):
        dropped.update((begin, end))
        for number in range(begin + 1, end):
            task_of[number] = int(match["task"])
    return [
        (line, task_of[number])
        for number, line in enumerate(lines)
        if number not in dropped and not starters.SNIPPET_MARKER.match(line)
    ]


def todos_touched(solution_text, old, source="solution"):
    """The TODOs whose code a mistake's change edits (None for code that is given, not a TODO's)."""
    numbered = todo_lines(solution_text, source)
    rendered = "\n".join(line for line, _ in numbered) + "\n"
    start = rendered.find(old)
    if start < 0:
        return set()
    first = rendered.count("\n", 0, start)
    last = rendered.count("\n", 0, start + len(old))
    return {task for line, task in numbered[first:last + 1] if line.strip()}


def _qualified_functions(text):
    """[(first line, last line, qualified name)] of every function in a file's text (1-based lines)."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((child.lineno, child.end_lineno, name))
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(ast.parse(text), "")
    return found


@dataclass
class TodoMap:
    """Which TODO each function of a step's files holds, by file name and qualified name."""

    functions: dict  # {(file name, qualified name): TODO}

    @classmethod
    def of(cls, step):
        functions = {}
        for solution in step.solution_files:
            text = solution.read_text(encoding="utf-8")
            task_at = {}
            for begin, end, match in starters._blocks(text, solution.name):
                for number in range(begin, end + 1):
                    task_at[number + 1] = int(match["task"])
            for first, last, name in _qualified_functions(text):
                inside = {task_at[line] for line in range(first, last + 1) if line in task_at}
                if len(inside) == 1:
                    functions[(solution.name, name)] = inside.pop()
        return cls(functions)

    def todo_at(self, path, line):
        """The TODO of the innermost function holding ``line`` of the learner's file ``path``, or None."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, ValueError):
            return None
        try:
            functions = _qualified_functions(text)
            holding = [name for first, last, name in sorted(functions, key=lambda f: f[0], reverse=True)
                       if first <= line <= last]
        except (SyntaxError, ValueError):
            holding = _functions_by_indentation(text, line)  # a file that does not parse: read its indentation
        for name in holding:
            todo = self.functions.get((path.name, name))
            if todo is not None:
                return todo
        return None


DEFINITION = re.compile(r"^(?P<indent>[ \t]*)(?:async[ \t]+)?(?P<kind>def|class)[ \t]+(?P<name>\w+)")


def _functions_by_indentation(text, line):
    """The qualified names of the functions around ``line`` (1-based), innermost first, from indentation alone.

    For a file with a syntax error, which ``ast`` cannot read: the error's line still sits, indented,
    under the ``def`` of the function the learner was writing.
    """
    open_blocks = []  # (indent, kind, name) of the def and class lines that enclose the current line
    for text_line in text.splitlines()[:line]:
        if not text_line.strip() or text_line.lstrip().startswith("#"):
            continue
        indent = len(text_line) - len(text_line.lstrip())
        while open_blocks and open_blocks[-1][0] >= indent:
            open_blocks.pop()
        definition = DEFINITION.match(text_line)
        if definition:
            open_blocks.append((indent, definition["kind"], definition["name"]))
    names = []
    for depth, (_, kind, _) in enumerate(open_blocks):
        if kind == "def":
            names.append(".".join(name for _, _, name in open_blocks[:depth + 1]))
    return names[::-1]


WAITING = re.compile(r"\b(recv|recv_into|accept|join|sleep|wait|select|get)\(")
CONNECTION_ERROR = re.compile(
    r"^(TimeoutError|socket\.timeout|ConnectionError|ConnectionResetError|ConnectionAbortedError|"
    r"BrokenPipeError)\b", re.M)
NOT_DONE = re.compile(r"NotImplementedError\W+TODO (\d+)\b")
TRACEBACK_FRAME = re.compile(r'^\s+File "(?P<file>[^"]+)", line (?P<line>\d+), in ', re.M)


def blame(error, tagged, todo_map, learner_folder):
    """The TODO a failed check points at: ``tagged`` unless the failure itself says where it came from."""
    if error is None:
        return tagged
    explicit = getattr(error, "todo", None)
    if explicit is not None:
        return explicit
    not_done = NOT_DONE.search(f"{type(error).__name__}: {error}")
    if not_done:
        return int(not_done[1])
    learner_folder = Path(learner_folder).resolve()
    # A check's own failure says where it was raised in the learner's code, if anywhere (not where
    # the check happened to stop it); any other error carries the learner's frames in its traceback.
    places = list(error.raised_at) if hasattr(error, "raised_at") else learner_places(error)
    for frame in getattr(error, "stuck", None) or []:
        if not WAITING.search(frame.code):  # a thread waiting for input is where it is told to be, not the bug
            places.append((learner_folder / frame.file, frame.line))
    output = getattr(error, "server_output", None) or ""
    tracebacks = output.split("Traceback (most recent call last):")
    if len(tracebacks) > 1:
        frames = [(match["file"], int(match["line"])) for match in TRACEBACK_FRAME.finditer(tracebacks[-1])]
        # A connection's own errors are raised deep down by design: the bug is that nobody caught
        # them, so the outermost function holding a TODO is the one to look at.
        places += frames if CONNECTION_ERROR.search(tracebacks[-1]) else reversed(frames)
    for path, line in places:
        if Path(path).resolve().parent == learner_folder:
            todo = todo_map.todo_at(path, line)
            if todo is not None:
                return todo
    return tagged


def arrange(failures):
    """The failures in the order to read them, each with the number of the one it probably follows from.

    ``failures`` are dicts with ``todo`` (the TODO blamed), ``needs`` (the other TODOs the
    check relies on) and ``task_id`` (the TODO the check grades), in the order the checks ran.
    A failure blamed on a TODO that is neither its check's nor one it needs came from that TODO
    alone (most often one not written yet): it leads, with that TODO's failures. A failure whose
    check needs no TODO that another failure is blamed on leads, and so does any other failure
    of a TODO that leads.
    A failure whose check needs a TODO that leads probably follows from it. When failures
    only need each other, the earliest TODO among them leads. Leading failures come first,
    earliest TODO first; returns ``[(failure, number it follows from, or None)]``, numbered
    from 1 in the returned order.
    """
    def todo(failure):
        return failure.get("todo", failure.get("task_id"))

    def earliest(failure):
        return (todo(failure) is None, todo(failure) or 0)

    def needs(failure):
        declared = set(failure.get("needs") or ())
        if failure.get("task_id") is not None and todo(failure) not in declared | {failure["task_id"]}:
            return set()  # blamed elsewhere: it follows from nothing the check needs
        return declared - {todo(failure)}

    blamed = {todo(failure) for failure in failures}
    leading = [failure for failure in failures if not needs(failure) & blamed]
    undecided = [failure for failure in failures if needs(failure) & blamed]
    following = []
    while undecided:
        broken = {todo(failure) for failure in leading}
        still = []
        for failure in undecided:
            if needs(failure) & broken:
                following.append(failure)
            elif todo(failure) in broken:
                leading.append(failure)
            else:
                still.append(failure)
        if len(still) == len(undecided):  # they only need each other: the earliest TODO leads
            first = min(still, key=earliest)
            still.remove(first)
            leading.append(first)
        undecided = still
    order = {id(failure): index for index, failure in enumerate(failures)}
    leading.sort(key=lambda failure: (earliest(failure), order[id(failure)]))
    following.sort(key=lambda failure: order[id(failure)])
    arranged = [(failure, None) for failure in leading]
    for failure in following:
        cause = next(number for number, lead in enumerate(leading, 1) if todo(lead) in needs(failure))
        arranged.append((failure, cause))
    return arranged
