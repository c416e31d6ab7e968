"""The maintainers' mutation run (checks/mutants.py): what it mutates, how it matches equivalents, what it writes."""

import hashlib
import json
import re
import subprocess
import sys

import pytest

from checks import mutants
from checks.course import ROOT, find_step

SOURCE = '''\
"""A module docstring, never mutated."""

LIMIT = 10


def clamp(values, limit=LIMIT):
    """Keep the small ones (a docstring, never mutated)."""
    # >>> SOLUTION 1 #clamping: keep the values under the limit
    kept = []
    for value in values:
        if value > limit and not value == 0:  # a comment, left out of before and after
            break
        kept.append(value + 1)
    label = f"{len(kept)} kept"
    return kept[1:], label, b"ok"
    # <<< SOLUTION


def untouched(a, b):
    return a == b and "text" or 3
'''
BLOCK_LINES = range(9, 16)  # the lines between the markers


def made(source=SOURCE, **options):
    return mutants.mutants_of(source, "clamp.py", **options)


def test_mutants_are_made_only_inside_the_solution_blocks():
    found = made()
    assert len(found) > 20
    original = SOURCE.splitlines()
    for mutant in found:
        assert mutant.line in BLOCK_LINES, mutant
        assert (mutant.todo, mutant.function, mutant.file) == (1, "clamp", "clamp.py")
        lines = mutant.text.splitlines()
        assert lines[:8] == original[:8], f"changed before the block: {mutant}"
        tail = original.index("    # <<< SOLUTION")
        assert lines[len(lines) - (len(original) - tail):] == original[tail:], f"changed after the block: {mutant}"
        compile(mutant.text, "clamp.py", "exec")
    assert len({mutant.text for mutant in found}) == len(found), "duplicate mutants"
    assert not any("untouched" in mutant.function or "docstring" in mutant.after for mutant in found)


@pytest.mark.parametrize("operator, before, after", [
    ("compare", "if value > limit and not value == 0:", "if value >= limit and not value == 0:"),
    ("compare", "if value > limit and not value == 0:", "if value > limit and not value != 0:"),
    ("boolean", "if value > limit and not value == 0:", "if value > limit or not value == 0:"),
    ("not", "if value > limit and not value == 0:", "if value > limit and value == 0:"),
    ("condition", "if value > limit and not value == 0:", "if True:"),
    ("condition", "if value > limit and not value == 0:", "if False:"),
    ("break-continue", "break", "continue"),
    ("arithmetic", "kept.append(value + 1)", "kept.append(value - 1)"),
    ("number", "kept.append(value + 1)", "kept.append(value + 2)"),
    ("argument", "kept.append(value + 1)", "kept.append()"),
    ("delete", "kept.append(value + 1)", "pass"),
    ("string", 'label = f"{len(kept)} kept"', "label = f'XX{len(kept)} kept'"),
    ("string", 'label = f"{len(kept)} kept"', "label = f'{len(kept)}XX kept'"),
    ("bytes", 'return kept[1:], label, b"ok"', "return kept[1:], label, b'XXok'"),
    ("slice", 'return kept[1:], label, b"ok"', 'return kept[:], label, b"ok"'),
    ("return", 'return kept[1:], label, b"ok"', "return None"),
])
def test_each_operator_makes_its_mutant(operator, before, after):
    found = {(mutant.operator, mutant.before, mutant.after) for mutant in made()}
    assert (operator, before, after) in found


def test_a_mutant_keeps_its_name_when_the_file_changes_elsewhere():
    moved = SOURCE.replace('LIMIT = 10\n', 'LIMIT = 10\nOTHER = 2  # a new line above shifts every line\n')
    moved = moved.replace("# a comment, left out", "# another comment, left out")
    assert [mutant.key for mutant in made(moved)] == [mutant.key for mutant in made()]
    assert [mutant.line for mutant in made(moved)] == [mutant.line + 1 for mutant in made()]


def test_only_the_chosen_todo_is_mutated():
    assert made(todo=2) == []
    assert made(todo=1) == made()


def test_equivalents_are_read_and_matched(tmp_path):
    listed = tmp_path / "equivalent_mutants.toml"
    listed.write_text('''
[[equivalent]]
file = "clamp.py"
function = "clamp"
operator = "arithmetic"
before = "kept.append(value  +  1)"   # spacing does not matter
after = "kept.append(value - 1)"
reason = "an example"

[[equivalent]]
file = "clamp.py"
function = "clamp"
operator = "delete"
before = "a line that is not there"
after = "pass"
reason = "stale"
''', encoding="utf-8")
    entries = mutants.load_equivalents(listed)
    reasons, stale = mutants.equivalence(made(), entries)
    assert list(reasons.values()) == ["an example"]
    assert [entry.reason for entry in stale] == ["stale"]
    assert mutants.load_equivalents(tmp_path / "missing.toml") == []
    listed.write_text('[[equivalent]]\nfile = "a.py"\nfunction = "f"\noperator = "delete"\nbefore = "x"\nafter = "pass"\n')
    with pytest.raises(ValueError, match="reason"):
        mutants.load_equivalents(listed)


def test_every_equivalent_listed_for_a_step_has_a_reason_and_a_real_mutant():
    for step in map(find_step, "12345"):
        entries = mutants.load_equivalents(step.folder / mutants.EQUIVALENTS_FILE)
        _, stale = mutants.equivalence(mutants.step_mutants(step), entries)
        assert not stale, f"{step.name}: entries that match no mutant (remove or update them): {stale}"


def test_the_score_leaves_the_equivalent_mutants_out():
    records = [{"status": status, "equivalent": reason, "killed_by": {"id": by} if by else None}
               for status, reason, by in [("killed", None, "test_a"), ("killed", None, "test_a"), ("timeout", None, None),
                                          ("survived", "same bytes", None), ("survived", None, None)]]
    counts = mutants.summary(records)
    assert (counts["total"], counts["killed"], counts["equivalent"], counts["unexplained"]) == (5, 3, 1, 1)
    assert counts["score"] == 0.75
    assert counts["kills_per_check"] == {"test_a": 2}



def test_an_entry_naming_two_identical_lines_is_wrong_only_if_both_are_killed(tmp_path):
    """`return False` twice in one function: one may be equivalent while its twin is killed."""
    key = ["a.py", "f", "delete", "return False", "pass"]
    twins = [
        {"key": key, "file": "a.py", "line": line, "operator": "delete", "before": "return False", "after": "pass",
         "status": status, "equivalent": reason, "killed_by": {"id": "test_x"}, **extra}
        for line, status, reason, extra in [(3, "survived", "caught later", {}),
                                            (7, "killed", None, {"listed_as_equivalent_but_killed": "caught later"})]
    ]
    document = {**mutants.summary(twins), "mutants": twins, "stale_equivalents": [], "seconds": 1,
                "path": tmp_path / "a.json"}
    said = []
    mutants.report(find_step("1"), document, say=said.append)
    assert not any("Listed as equivalent but killed" in line for line in said), said
    twins[0]["status"], twins[0]["listed_as_equivalent_but_killed"] = "killed", "caught later"
    said.clear()
    mutants.report(find_step("1"), {**document, **mutants.summary(twins)}, say=said.append)
    assert any("Listed as equivalent but killed" in line for line in said), said

def test_the_mutated_todos_checks_run_first(monkeypatch):
    class Item:
        def __init__(self, name, task):
            self.name, self.task = name, task

        def get_closest_marker(self, name):
            return type("Marker", (), {"args": (self.task,)})()

    items = [Item("a", 1), Item("b", 2), Item("c", 1), Item("d", 3), Item("e", 2)]
    monkeypatch.setenv(mutants.TODO_FIRST, "2")
    mutants.pytest_collection_modifyitems(None, items)
    assert [item.name for item in items] == ["b", "e", "a", "c", "d"]


def test_a_short_run_writes_its_report_and_leaves_the_solution_alone(tmp_path):
    step = find_step("1")
    solution = step.solution_dir / "server.py"
    fingerprint = hashlib.sha256(solution.read_bytes()).hexdigest()
    finished = subprocess.run(
        [sys.executable, "-m", "checks", "mutants", "1", "--todo", "5", "--limit", "2", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert finished.returncode in (0, 1), finished.stdout + finished.stderr
    assert re.search(r"^Step 1 — socket: 2 mutants, \d+ killed.*score [\d.]+ %", finished.stdout, re.M), finished.stdout
    assert re.search(r"^\[1/2\] server\.py:\d+ TODO 5 ", finished.stdout, re.M), finished.stdout
    document = json.loads((tmp_path / "1-socket.json").read_text(encoding="utf-8"))
    assert document["complete"] is False and document["total"] == 2
    assert {"killed", "equivalent", "unexplained", "score", "seconds", "solution_seconds"} <= set(document)
    for entry in document["mutants"]:
        assert entry["todo"] == 5 and entry["file"] == "server.py"
        assert entry["status"] in ("killed", "timeout", "survived", "error")
        assert {"line", "function", "operator", "before", "after", "killed_by", "equivalent"} <= set(entry)
        if entry["status"] == "killed":
            assert entry["killed_by"]["id"].startswith("test_")
    assert hashlib.sha256(solution.read_bytes()).hexdigest() == fingerprint
