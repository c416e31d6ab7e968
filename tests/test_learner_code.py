"""Learner code (every starter and solution) uses Python's standard library alone."""

import ast
import sys

import pytest

from checks.course import everything

LEARNER_FILES = [path for step in everything() for path in (*step.learner_files, *step.solution_files)]


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("path", LEARNER_FILES, ids=lambda path: path.relative_to(path.parents[2]).as_posix())
def test_imports_only_the_standard_library(path):
    siblings = {other.stem for other in path.parent.glob("*.py")}  # the step's own modules
    outside = sorted(set(imported_modules(path)) - set(sys.stdlib_module_names) - siblings)
    assert not outside, f"{path} imports modules outside the standard library: {outside}"
