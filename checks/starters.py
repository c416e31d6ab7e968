"""One source of truth for starters: they are generated from the solutions.

A solution marks the code a learner writes with a numbered block::

    # >>> SOLUTION 3 #reading-until-the-blank-line: loop on recv() until the head ends
    ...the reference code...
    # <<< SOLUTION

In the starter the block becomes a TODO that points to the docs section::

    # TODO 3: loop on recv() until the head ends
    # Read: docs/steps/1-socket.md#reading-until-the-blank-line
    raise NotImplementedError("TODO 3: loop on recv() until the head ends ...")

Lines with the docs' snippet markers (``# --8<-- [start:name]``) are removed
from both the starter and the copy of the solution a learner may drop in.
"""

import re

BEGIN = re.compile(
    r"^(?P<indent>[ \t]*)# >>> SOLUTION (?P<task>\d+) #(?P<anchor>[\w-]+): (?P<todo>.+?)\s*$"
)
END = re.compile(r"^[ \t]*# <<< SOLUTION\s*$")
SNIPPET_MARKER = re.compile(r"^[ \t]*# --8<-- \[(start|end):[\w-]+\]\s*$")


class MarkerError(ValueError):
    """A solution's markers do not pair up; the message names the file and line."""


def _blocks(text, source):
    """Yield (begin_line, end_line, match) for each solution block, 0-based line numbers."""
    lines = text.splitlines()
    begin = None
    for number, line in enumerate(lines):
        if line.lstrip().startswith("# >>> SOLUTION"):
            match = BEGIN.match(line)
            if match is None:
                raise MarkerError(
                    f"{source}:{number + 1}: write the marker as "
                    "'# >>> SOLUTION <task> #<docs-anchor>: <what to do>'"
                )
            if begin is not None:
                raise MarkerError(f"{source}:{number + 1}: a solution block opens inside another")
            begin = (number, match)
        elif END.match(line):
            if begin is None:
                raise MarkerError(f"{source}:{number + 1}: '# <<< SOLUTION' without a block to close")
            yield begin[0], number, begin[1]
            begin = None
    if begin is not None:
        raise MarkerError(f"{source}:{begin[0] + 1}: solution block never closed")


def tasks(text, source="solution"):
    """The numbered TODOs of a solution: {task number: (anchor, todo text)}."""
    return {int(m["task"]): (m["anchor"], m["todo"]) for _, _, m in _blocks(text, source)}


def render_starter(text, docs_page, source="solution", solved=()):
    """The starter a learner gets: each solution block replaced by its TODO.

    Tasks listed in ``solved`` keep their solution: a learner part-way through.
    """
    lines = text.splitlines()
    output = []
    position = 0
    for begin, end, match in _blocks(text, source):
        output.extend(lines[position:begin])
        if int(match["task"]) in solved:
            output.extend(lines[begin + 1:end])
            position = end + 1
            continue
        indent, task, todo = match["indent"], match["task"], match["todo"]
        where = f"{docs_page}#{match['anchor']}"
        message = f"TODO {task}: {todo} (see {where})"
        output.append(f"{indent}# TODO {task}: {todo}")
        output.append(f"{indent}# Read: {where}")
        output.append(f"{indent}raise NotImplementedError({message!r})")
        position = end + 1
    output.extend(lines[position:])
    return _drop_snippet_markers(output)


def render_solution(text, source="solution"):
    """The solution as a learner sees it after ``make skip``: no markers at all."""
    marker_lines = set()
    for begin, end, _ in _blocks(text, source):
        marker_lines.update((begin, end))
    lines = [line for number, line in enumerate(text.splitlines()) if number not in marker_lines]
    return _drop_snippet_markers(lines)


def _drop_snippet_markers(lines):
    return "\n".join(line for line in lines if not SNIPPET_MARKER.match(line)) + "\n"


def pristine_starter(step, solution_file):
    """The generated starter text for one of a step's solution files."""
    return render_starter(solution_file.read_text(encoding="utf-8"), step.docs_page, step.relative(solution_file))


def step_tasks(step):
    """Every numbered TODO of a step, across its files: {task: (anchor, todo text)}."""
    found = {}
    for solution_file in step.solution_files:
        found.update(tasks(solution_file.read_text(encoding="utf-8"), step.relative(solution_file)))
    return found


def write_variant(step, folder, solved=(), edit=None):
    """Write a step's learner files into ``folder``, with the TODOs in ``solved`` done.

    ``edit(name, text)`` may change a file's text on the way (to plant a mistake).
    Returns the path of the main file (the one the checks start).
    """
    for solution_file in step.solution_files:
        text = render_starter(
            solution_file.read_text(encoding="utf-8"), step.docs_page, step.relative(solution_file), solved
        )
        if edit is not None:
            text = edit(solution_file.name, text)
        (folder / solution_file.name).write_text(text, encoding="utf-8")
    return folder / step.main_file.name


def out_of_sync(steps):
    """Learner files whose committed text differs from the starter generated from the solution."""
    stale = []
    for step in steps:
        for solution_file, learner_file in zip(step.solution_files, step.learner_files):
            expected = pristine_starter(step, solution_file)
            actual = learner_file.read_text(encoding="utf-8") if learner_file.exists() else None
            if actual != expected:
                stale.append(learner_file)
    return stale
