"""Where everything lives: the steps, their files, tests, hints and docs pages.

A step is a folder ``steps/<number>-<slug>/`` holding:

* the learner's file(s), e.g. ``server.py`` (committed as the pristine starter);
* ``solution/`` with the reference solution of each learner file;
* ``tests/`` with the graded suite;
* ``hints.md`` with the hints, one ``## Hint`` section per level;
* ``mistakes.toml`` with common learner mistakes the suite must catch.
"""

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS_DIR = ROOT / "steps"
DOCS_DIR = ROOT / "docs"
RESULTS_DIR = ROOT / "results"
BACKUPS_DIR = ROOT / ".backups"
STATE_DIR = ROOT / ".course-state"


@dataclass(frozen=True)
class Step:
    number: int
    slug: str
    folder: Path

    @property
    def name(self):
        """The folder name, e.g. ``1-socket``."""
        return self.folder.name

    @property
    def title(self):
        return f"Step {self.number} — {self.slug}"

    @property
    def solution_dir(self):
        return self.folder / "solution"

    @property
    def tests_dir(self):
        return self.folder / "tests"

    @property
    def hints_file(self):
        return self.folder / "hints.md"

    @property
    def mistakes_file(self):
        return self.folder / "mistakes.toml"

    @property
    def docs_page(self):
        """The step's docs page, relative to the repository root."""
        return f"docs/steps/{self.name}.md"

    @property
    def solution_files(self):
        return sorted(self.solution_dir.glob("*.py"))

    @property
    def learner_files(self):
        """The files the learner edits: one per solution file, same name, in the step folder."""
        return [self.folder / path.name for path in self.solution_files]

    @property
    def main_file(self):
        """The learner file holding the server (the one the checks start)."""
        return self.folder / "server.py"

    def relative(self, path):
        return Path(path).resolve().relative_to(ROOT).as_posix()


def all_steps():
    """Every step folder that exists, in order."""
    steps = []
    for folder in STEPS_DIR.iterdir() if STEPS_DIR.is_dir() else []:
        number, _, slug = folder.name.partition("-")
        if folder.is_dir() and number.isdigit() and slug:
            steps.append(Step(int(number), slug, folder))
    return sorted(steps, key=lambda step: step.number)


class UnknownStep(LookupError):
    pass


def find_step(text):
    """The step named by ``text`` (``"1"``, ``"1-socket"`` or ``"socket"``)."""
    steps = all_steps()
    for step in steps:
        if str(text) in (str(step.number), step.name, step.slug):
            return step
    available = ", ".join(str(step.number) for step in steps) or "none"
    raise UnknownStep(f"There is no step {text!r}. Steps available: {available}.")


def next_step(step):
    later = [other for other in all_steps() if other.number > step.number]
    return later[0] if later else None
