"""Common learner mistakes: small edits of a step's solution that its checks must catch.

Each step's ``mistakes.toml`` lists them; ``make test`` applies every edit and
proves the checks named in ``caught_by`` fail on the result, and that the report
leads with the TODO that holds the mistake: the one whose code the edit changes,
or the one given as ``todo`` when the edit is in code the starter gives (or spans two TODOs).
"""

import tomllib
from dataclasses import dataclass

from . import attribution


@dataclass(frozen=True)
class Mistake:
    name: str
    caught_by: tuple
    changes: tuple  # ((old, new), ...)
    file: str = "server.py"  # the learner file the mistake is made in
    todo: int = None  # the TODO the mistake belongs to, when its edit does not say

    def edit(self, name, text):
        """For ``starters.write_variant``: make the mistake in its own file, leave the others."""
        return self.apply(text) if name == self.file else text

    def apply(self, solution_text):
        """The solution with this mistake made; ``ValueError`` if an edit no longer fits."""
        text = solution_text
        for old, new in self.changes:
            found = text.count(old)
            if found != 1:
                raise ValueError(
                    f"mistake {self.name!r}: the text to replace occurs {found} times in the "
                    f"solution (it must occur exactly once); update mistakes.toml:\n{old}"
                )
            text = text.replace(old, new)
        return text


def load(step):
    if not step.mistakes_file.exists():
        return []
    document = tomllib.loads(step.mistakes_file.read_text(encoding="utf-8"))
    return [
        Mistake(
            name=entry["name"],
            caught_by=tuple(entry["caught_by"]),
            changes=tuple((change["old"], change["new"]) for change in entry["change"]),
            file=entry.get("file", "server.py"),
            todo=entry.get("todo"),
        )
        for entry in document.get("mistake", [])
    ]


def todo_of(step, mistake):
    """The TODO that holds the mistake: ``todo`` if given, else the one TODO its edits change."""
    if mistake.todo is not None:
        return mistake.todo
    text = (step.solution_dir / mistake.file).read_text(encoding="utf-8")
    touched = set()
    for old, _ in mistake.changes:
        touched |= attribution.todos_touched(text, old, mistake.file)
    if len(touched) != 1 or None in touched:
        where = "code the starter gives" if touched <= {None} else f"TODOs {sorted(touched, key=str)}"
        raise ValueError(f"mistake {mistake.name!r} edits {where}: say which TODO it belongs to with `todo = n`")
    return touched.pop()
