"""Where everything lives: the steps, the extensions, their files, tests, hints and docs pages.

A step is a folder ``steps/<number>-<slug>/`` holding:

* the learner's file(s), e.g. ``server.py`` (committed as the pristine starter);
* ``solution/`` with the reference solution of each learner file;
* ``tests/`` with the graded suite;
* ``hints.md`` with the hints, one ``## Hint`` section per level;
* ``mistakes.toml`` with common learner mistakes the suite must catch.

An extension (a graded challenge past step 5) is a folder ``challenges/<name>/``
laid out the same way. Its learner files start as the finished step 5 server
with the extension's TODOs in it; it is named, not numbered (``keep-alive``),
and graded with the same commands (``make check STEP=keep-alive``).
"""

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STEPS_DIR = ROOT / "steps"
CHALLENGES_DIR = ROOT / "challenges"
DOCS_DIR = ROOT / "docs"
RESULTS_DIR = ROOT / "results"
BACKUPS_DIR = ROOT / ".backups"
STATE_DIR = ROOT / ".course-state"

# The course has five steps (COURSE_DESIGN.md); the last one finishes the server, and every extension starts from it.
FINAL_STEP = 5


@dataclass(frozen=True)
class Step:
    """A step (``number`` 1 to 5), or an extension past step 5 (``number`` None)."""

    number: int | None
    slug: str
    folder: Path

    @property
    def is_extension(self):
        return self.number is None

    @property
    def key(self):
        """What a learner types to name it: ``STEP=1``, ``STEP=keep-alive``."""
        return self.slug if self.is_extension else str(self.number)

    @property
    def level(self):
        """The step whose server this one's grows from: its own number, or 5 for an extension."""
        return FINAL_STEP if self.is_extension else self.number

    @property
    def short_name(self):
        """How files of its results are named: ``step1``, ``keep-alive``."""
        return self.slug if self.is_extension else f"step{self.number}"

    @property
    def name(self):
        """The folder name, e.g. ``1-socket`` or ``keep-alive``."""
        return self.folder.name

    @property
    def title(self):
        return f"Extension — {self.slug}" if self.is_extension else f"Step {self.number} — {self.slug}"

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
        return f"docs/{'extensions' if self.is_extension else 'steps'}/{self.name}.md"

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


def all_extensions():
    """Every extension folder that exists (one with a solution), by name."""
    folders = sorted(CHALLENGES_DIR.iterdir()) if CHALLENGES_DIR.is_dir() else []
    return [Step(None, folder.name, folder) for folder in folders if (folder / "solution").is_dir()]


def everything():
    """The steps in order, then the extensions: all that is graded."""
    return all_steps() + all_extensions()


class UnknownStep(LookupError):
    pass


def find_step(text):
    """The step or extension named by ``text`` (``"1"``, ``"1-socket"``, ``"socket"``, ``"keep-alive"``)."""
    found = everything()
    for step in found:
        if str(text) in (step.key, step.name, step.slug):
            return step
    available = ", ".join(step.key for step in found) or "none"
    raise UnknownStep(f"There is no step {text!r}. Steps and extensions available: {available}.")


def next_step(step):
    """The step after ``step``; none after the last step, nor after an extension."""
    if step.is_extension:
        return None
    later = [other for other in all_steps() if other.number > step.number]
    return later[0] if later else None
