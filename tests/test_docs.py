"""The docs site builds with --strict, and it agrees with the code it teaches.

* every docs anchor the code points learners to (TODOs, hints) exists;
* each step page lists the step's checks by the same plain names the checker prints.

The ``site`` fixture (the built site) is in tests/conftest.py, shared with test_browser.py.
"""

import ast
import re
from html import unescape

import pytest

from checks import starters
from checks.course import all_steps

STEPS = all_steps()


def page_html(site, docs_page):
    """The built HTML of a docs page given as ``docs/steps/1-socket.md``."""
    name = docs_page.removeprefix("docs/").removesuffix(".md")
    return (site / name / "index.html").read_text(encoding="utf-8")


def anchors_pointed_to(step):
    """(page, anchor, where) for every docs section that the step's code sends learners to."""
    for task, (anchor, _) in starters.step_tasks(step).items():
        yield step.docs_page, anchor, f"TODO {task}"
    for test_file in step.tests_dir.glob("test_*.py"):
        for anchor in re.findall(r'docs="#([\w-]+)"', test_file.read_text(encoding="utf-8")):
            yield step.docs_page, anchor, test_file.name
    for page, anchor in re.findall(r"(docs/[\w/-]+\.md)#([\w-]+)", step.hints_file.read_text(encoding="utf-8")):
        yield page, anchor, "hints.md"


def test_site_builds_strictly(site):
    assert (site / "index.html").exists()


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_every_anchor_the_code_points_to_exists(site, step):
    missing = [
        f"{page}#{anchor} (from {where})"
        for page, anchor, where in anchors_pointed_to(step)
        if f'id="{anchor}"' not in page_html(site, page)
    ]
    assert not missing, f"links to sections that do not exist: {missing}"


def check_names(step):
    for test_file in sorted(step.tests_dir.glob("test_*.py")):
        for node in ast.parse(test_file.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                yield ast.get_docstring(node).splitlines()[0].rstrip(".")


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_step_page_lists_the_checks_by_name(site, step):
    text = re.sub(r"<[^>]+>", "", unescape(page_html(site, step.docs_page)))
    missing = [name for name in check_names(step) if name not in text]
    assert not missing, f"{step.docs_page} does not list these checks: {missing}"
