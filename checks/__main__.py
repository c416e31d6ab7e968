"""The course's command line: ``python -m checks <command> [step]``.

    python -m checks 1              grade step 1 (same as: check 1); an extension's name works too
    python -m checks check 1        grade step 1;  --solution / --starter / --file F grade another file
    python -m checks progress       passing checks per step
    python -m checks hint 1         the next hint for step 1;  --all for every hint
    python -m checks reset 1        back up your file, then restore the pristine starter
    python -m checks skip 1         back up your file, then drop in the reference solution
    python -m checks serve 1        run your server on 127.0.0.1:8080;  --port / --host to change
    python -m checks watch 1        grade again every time you save
    python -m checks replay 1 3     run failure 3 of the last report again, showing every byte it sent and received
    python -m checks notebook 1     open step 1's notebook in Jupyter ("lab" for the lab's)
    python -m checks bench [5]      your server's speed next to ThreadingHTTPServer;  --solution, --file F
    python -m checks attack [5]     hostile clients against your server, each probe judged;  --solution, --file F
    python -m checks report DIR     (instructors) one table of every learner's results under DIR
    python -m checks docs           serve the course site on http://127.0.0.1:8000
    python -m checks starters       (maintainers) regenerate starters from solutions; --check only compares
    python -m checks notebooks      (maintainers) run the notebooks again and store their outputs
    python -m checks mutants [1]    (maintainers) mutate a step's solution, list the mutants its checks miss

The first command that needs pytest creates ``.venv`` and installs into it.
"""

import sys

OLDEST_PYTHON = (3, 11)


def too_old(version=sys.version_info, executable=sys.executable):
    """A plain message when this Python cannot run the course, else None. Written for any Python 3."""
    if tuple(version[:2]) >= OLDEST_PYTHON:
        return None
    found = ".".join(str(part) for part in version[:3])
    return (
        f"This course needs Python 3.11 or newer, and {executable} is Python {found}.\n"
        "Install a newer Python (python.org, or your system's packages: python3.12, say), then run the "
        "command again.\nmake finds python3.14, python3.13, python3.12 or python3.11 by itself once one is installed; "
        "without make, start the command with that name instead of python3.\n"
        "More help: docs/troubleshooting.md#python-is-too-old-or-not-found"
    )


if too_old():
    sys.exit(too_old())

from . import bootstrap  # noqa: E402  (after the version check: it needs tomllib, new in 3.11)


def names_a_step(word):
    """True for what grades on its own as ``python -m checks <word>``: a step's number or an extension's name."""
    from .course import all_extensions  # standard library only: fine before the packages are installed

    return word.isdigit() or word in {extension.key for extension in all_extensions()}


def main(argv):
    if argv and names_a_step(argv[0]):
        argv = ["check", *argv]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0
    if argv[0] in bootstrap.NEEDS_PACKAGES:
        bootstrap.ensure(bootstrap.NEEDS_PACKAGES[argv[0]], argv)
    from . import commands

    return commands.run(argv)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print()
        sys.exit(130)
