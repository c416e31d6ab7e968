"""The docs site builds with --strict, and it agrees with the code it teaches.

* every docs anchor the code points learners to (TODOs, hints) exists;
* each step page lists the step's checks by the same plain names the checker prints;
* the numbers of checks the pages quote are the numbers the checker counts.

The ``site`` fixture (the built site) is in tests/conftest.py, shared with test_browser.py.
"""

import ast
import re
import subprocess
import sys
from html import unescape

import pytest

from checks import starters
from checks.course import ROOT, all_steps, everything

STEPS = everything()  # the steps, then the extensions: each has a page, hints and checks


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


def test_spoilers_show_the_code_without_its_todo_markers(site):
    """A snippet of a reference solution on a page (a spoiler) leaves out the # >>> SOLUTION and # <<< SOLUTION lines."""
    marked = [str(page.relative_to(site)) for page in sorted(site.rglob("*.html"))
              if re.search(r'<span class="c1"># (&gt;&gt;&gt;|&lt;&lt;&lt;) SOLUTION', page.read_text(encoding="utf-8"))]
    assert not marked, f"pages whose spoilers show TODO markers: {marked}"


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


NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty twenty-one twenty-two twenty-three twenty-four "
    "twenty-five twenty-six twenty-seven twenty-eight twenty-nine thirty"
).split()


def graded_items(step):
    """How many checks the report counts for ``step``: one per test, and one per case of a parametrized one."""
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:nbval", "-p", "no:cacheprovider",
         "--import-mode=importlib", f"--rootdir={ROOT}", str(step.tests_dir)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    return sum("::" in line for line in collected.stdout.splitlines())


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_step_page_says_how_many_checks_it_lists(step):
    said = re.search(r"runs these ([a-z-]+) checks", (ROOT / step.docs_page).read_text(encoding="utf-8"))
    assert said, f"{step.docs_page} does not say how many checks `make check` runs"
    assert NUMBER_WORDS.index(said.group(1)) == len(list(check_names(step)))


def test_the_first_checks_a_learner_sees_are_counted_right():
    """README, troubleshooting and the workshop plans quote step 1's score on the starter and when done."""
    total = graded_items(all_steps()[0])
    quoted = []
    for page in ["README.md", "docs/troubleshooting.md", "docs/instructors.md"]:
        text = (ROOT / page).read_text(encoding="utf-8")
        quoted += [(page, int(n)) for n in re.findall(r"`\d+/(\d+) checks passing`", text)]
        quoted += [(page, int(n)) for n in re.findall(r"Step 1 — socket: \d+/(\d+) checks passing", text)]
        quoted += [(page, NUMBER_WORDS.index(word.lower())) for word in re.findall(r"(\w+) red\s+checks", text)]
    assert quoted, "no page quotes step 1's count any more: drop this test"
    assert [(page, n) for page, n in quoted if n != total] == [], f"step 1 has {total} checks"


def test_the_mutation_table_matches_the_steps():
    """The instructors page's table of mistakes and mutants counts what each step has today."""
    import tomllib

    from checks import mutants

    text = (ROOT / "docs/instructors.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d|[a-z-]+)(?: — \w+)? \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| ([\d.]+) % \|$", text, re.M)
    assert [row[0] for row in rows] == [step.key for step in STEPS], "one row per step, then per extension, in order"
    for (number, mistakes, made, caught, equivalent, score), step in zip(rows, STEPS):
        with open(step.folder / "mistakes.toml", "rb") as listed:
            assert int(mistakes) == len(tomllib.load(listed)["mistake"]), f"step {number}: mistakes"
        assert int(made) == len(mutants.step_mutants(step)), f"step {number}: the solution changed; run make mutants"
        assert int(caught) + int(equivalent) <= int(made)
        assert float(score) == round(100 * int(caught) / (int(made) - int(equivalent)), 1), f"step {number}: score"


@pytest.mark.parametrize("step", STEPS, ids=lambda step: step.name)
def test_step_page_shows_the_hints_make_hint_prints(site, step):
    """The page's Hints section is rendered from hints.md (checks/docs_hints.py), word for word."""
    from checks.commands import hint_levels

    html = page_html(site, step.docs_page)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", unescape(html)))
    levels = hint_levels(step)
    assert levels, f"{step.hints_file} has no hints"
    missing = [level.splitlines()[0] for level in levels if level.splitlines()[0] not in text]
    assert not missing, f"{step.docs_page} does not show these hints of hints.md: {missing}"
    assert "hints.md -->" not in html, "the hook did not replace the marker"
