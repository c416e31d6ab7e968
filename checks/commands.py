"""What each ``python -m checks`` command does (``__main__`` parses, this acts)."""

import argparse
import errno
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from . import starters
from .course import BACKUPS_DIR, FINAL_STEP, ROOT, STATE_DIR, UnknownStep, all_steps, everything, find_step


def run(argv):
    parser = argparse.ArgumentParser(prog="python -m checks", description="The course's commands.")
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="grade a step")
    check.add_argument("step")
    which = check.add_mutually_exclusive_group()
    which.add_argument("--solution", action="store_true", help="grade the reference solution")
    which.add_argument("--starter", action="store_true", help="grade the pristine starter")
    which.add_argument("--file", help="grade this file")
    check.add_argument("--results", help="where to write results.json")
    check.add_argument("-k", dest="only", action="append", help="run only checks whose name contains this")

    commands.add_parser("setup", help="create .venv and install what grading needs")
    commands.add_parser("progress", help="passing checks per step")

    hint = commands.add_parser("hint", help="show the next hint for a step")
    hint.add_argument("step")
    hint.add_argument("--all", action="store_true", help="show every hint at once")
    hint.add_argument("--level", type=int, help="show this hint level")

    for name, text in (("reset", "restore the pristine starter"), ("skip", "drop in the reference solution"),
                       ("restore", "bring back the newest backup (undoes reset or skip)")):
        sub = commands.add_parser(name, help=f"back up your file, then {text}")
        sub.add_argument("step")

    serve = commands.add_parser("serve", help="run your server for a browser or curl")
    serve.add_argument("step")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)

    replay = commands.add_parser("replay", help="run one check again and show every byte it sent and received")
    replay.add_argument("step")
    replay.add_argument("check", help="the number of a failure in the last report, or part of a check's name")
    replay.add_argument("--file", help="replay against this file instead of the step's learner file")
    replay.add_argument("--results", help="the results.json of the report the number refers to")

    watch = commands.add_parser("watch", help="grade again after every save")
    watch.add_argument("step")

    sync = commands.add_parser("starters", help="(maintainers) regenerate starters from solutions")
    sync.add_argument("--check", action="store_true", help="only report starters that are out of date")

    report = commands.add_parser("report", help="(instructors) one table from a folder of learners' results")
    report.add_argument("folder", help="a folder with one sub-folder of results/*.json per learner")

    bench = commands.add_parser("bench", help="your server's speed against Python's ThreadingHTTPServer")
    attack = commands.add_parser("attack", help="hostile clients against your server: what breaks it?")
    for lab_command in (bench, attack):
        lab_command.add_argument("step", nargs="?", default="5")
        impl = lab_command.add_mutually_exclusive_group()
        impl.add_argument("--solution", action="store_true", help="the reference solution instead of your file")
        impl.add_argument("--file", help="this file instead of yours")
        lab_command.add_argument("--out", help="folder for the results (default: results/bench or results/attack)")
    bench.add_argument("--seconds", type=float, default=3.0, help="length of each load run (default 3)")
    bench.add_argument("--rounds", type=int, default=3, help="runs per server and level, taking turns (default 3)")
    bench.add_argument("--connections", default="1,10,50,200", help="concurrency levels (default 1,10,50,200)")
    bench.add_argument("--burst", type=int, default=500, help="clients connecting at once; 0 skips (default 500)")
    bench.add_argument("--load", choices=("auto", "wrk", "bundled"), default="auto",
                       help="load generator: wrk if installed (auto), or the bundled one")
    bench.add_argument("--path", default="/", help="the path to request (default /)")
    bench.add_argument("--keep-alive", action="store_true",
                       help="keep each connection open for many requests (default: a new one per request)")
    attack.add_argument("--only", action="append", help="run only probes whose name contains this")
    attack.add_argument("--quick", action="store_true", help="smaller files and crowds (for the course's own tests)")

    notebook = commands.add_parser("notebook", help="open a step's notebook (or the lab's) in Jupyter")
    notebook.add_argument("which", help="a step (1-5), lab, or an extension's name")
    notebook.add_argument("--port", type=int, default=8888, help="Jupyter's port (default 8888; 0 for any free one)")
    notebook.add_argument("--no-browser", action="store_true", help="print the address instead of opening a browser")

    commands.add_parser("docs", help="serve the docs site on http://127.0.0.1:8000")
    commands.add_parser("build-docs", help="build the docs site into site/ (mkdocs build --strict)")
    commands.add_parser("notebooks", help="(maintainers) run every notebook again and store its outputs")
    mutants = commands.add_parser("mutants", help="(maintainers) mutate a step's solution; list the mutants its checks miss")
    mutants.add_argument("step", nargs="?", default="all", help="a step, or all (the default)")
    mutants.add_argument("--todo", type=int, help="only mutants inside this TODO's solution block")
    mutants.add_argument("--limit", type=int, help="only the first N mutants (after --todo)")
    mutants.add_argument("--jobs", type=int, help="mutants graded at once (default: the number of CPUs)")
    mutants.add_argument("--timeout", type=float, help="seconds a mutant may run (default: 4 times the solution's)")
    mutants.add_argument("--survivors", action="store_true",
                         help="grade again only the survivors of the last run (results/mutants/<step>.json)")
    mutants.add_argument("--out", help="folder for the results (default: results/mutants)")
    selftest = commands.add_parser("selftest", help="(maintainers) the course's own tests")
    selftest.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest")

    args = parser.parse_args(argv)
    try:
        return globals()[f"do_{args.command.replace('-', '_')}"](args)
    except UnknownStep as problem:
        print(problem, file=sys.stderr)
        return 2


def do_check(args):
    from .runner import grade

    step = find_step(args.step)
    if args.solution:
        return grade(step, step.solution_dir / step.main_file.name, args.results, only=args.only)
    if args.starter:
        with tempfile.TemporaryDirectory() as folder:
            main_file = starters.write_variant(step, Path(folder))
            return grade(step, main_file, args.results, label="the pristine starter", only=args.only)
    learner_file = Path(args.file) if args.file else step.main_file
    if not learner_file.exists():
        print(f"There is no file {learner_file}. `python -m checks reset {step.key}` restores the starter.")
        return 2
    return grade(step, learner_file, args.results, only=args.only)


def do_replay(args):
    from .runner import replay

    step = find_step(args.step)
    return replay(step, Path(args.file).resolve() if args.file else step.main_file, args.check, args.results)


def do_setup(args):
    print(".venv is ready: run make check STEP=1 (or python -m checks 1).")
    return 0


def do_progress(args):
    """One line per step, then per extension: how many checks pass. Grades them side by side, printing in order."""
    steps = everything()
    width = max(len(step.title) for step in steps) if steps else 0
    print(f"{'Step':<{width}}  Checks passing", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, min(len(steps), os.cpu_count() or 1))) as pool:
        for step, score in zip(steps, pool.map(step_score, steps)):  # map yields in step order
            print(f"{step.title:<{width}}  {score}".rstrip(), flush=True)
    return 0


def step_score(step):
    """A step's score, "3/16" ("16/16 done" when all pass), graded in a child process; or why it is missing."""
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.json"
        subprocess.run(
            [sys.executable, "-m", "checks", "check", step.key, "--results", str(results)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            tests = json.loads(results.read_text(encoding="utf-8"))["tests"]
        except (OSError, ValueError, KeyError):
            return "could not run"
    passing = sum(test["status"] == "pass" for test in tests)
    score = f"{passing}/{len(tests)}"
    return f"{score:<7} done" if passing == len(tests) else score


def hint_levels(step):
    """The hints of a step: the text under each '## Hint' heading of hints.md, in order."""
    text = step.hints_file.read_text(encoding="utf-8")
    sections = text.split("\n## ")[1:]
    return [section.strip() for section in sections if section.lower().startswith("hint")]


def do_hint(args):
    step = find_step(args.step)
    levels = hint_levels(step)
    state_file = STATE_DIR / "hints.json"
    try:
        seen = json.loads(state_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        seen = {}
    if args.all:
        chosen = range(1, len(levels) + 1)
    else:
        level = args.level or min(seen.get(step.name, 0) + 1, len(levels))
        if not 1 <= level <= len(levels):
            print(f"{step.title} has hints 1 to {len(levels)}.", file=sys.stderr)
            return 2
        chosen = [level]
        seen[step.name] = max(seen.get(step.name, 0), level)
        STATE_DIR.mkdir(exist_ok=True)
        state_file.write_text(json.dumps(seen), encoding="utf-8")
    for level in chosen:
        title, _, body = levels[level - 1].partition("\n")
        print(f"── {step.title} · {title.strip()} ({level} of {len(levels)}) ──\n{body.strip()}\n")
    if not args.all and max(chosen) < len(levels):
        print("Run the same command again for the next, more specific hint (ALL=1 or --all for every hint).")
    if not args.all and max(chosen) > 1:
        print(f"To read an earlier one again: LEVEL=1 (or --level 1), up to {len(levels)}.")
    return 0


def backup(learner_file):
    """Copy ``learner_file`` to .backups/<step>/<name>-<timestamp>.py; return the copy's path."""
    if not learner_file.exists():
        return None
    folder = BACKUPS_DIR / learner_file.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    copy = folder / f"{learner_file.stem}-{stamp}{learner_file.suffix}"
    shutil.copy2(learner_file, copy)
    return copy


def replace_learner_files(step, render, what):
    for solution_file, learner_file in zip(step.solution_files, step.learner_files):
        text = render(solution_file)
        if learner_file.exists() and learner_file.read_text(encoding="utf-8") == text:
            print(f"{rel(learner_file)} is already {what}; nothing to do.")
            continue
        saved = backup(learner_file)
        learner_file.write_text(text, encoding="utf-8")
        if saved:
            print(f"Saved your {learner_file.name} to {rel(saved)}")
        print(f"{rel(learner_file)} is now {what}.")
    return 0


def do_reset(args):
    step = find_step(args.step)
    return replace_learner_files(step, lambda path: starters.pristine_starter(step, path), "the pristine starter")


def do_skip(args):
    step = find_step(args.step)
    done = replace_learner_files(
        step, lambda path: starters.render_solution(path.read_text(encoding="utf-8"), step.relative(path)),
        "the reference solution",
    )
    onward = "another extension" if step.is_extension else "the next step"
    print(f"Read it, run it (make serve STEP={step.key}), then move on to {onward}.")
    return done


def do_restore(args):
    """Put back the newest backup of each of the step's files, after backing up what is there now."""
    step = find_step(args.step)
    restored = 0
    for learner_file in step.learner_files:
        folder = BACKUPS_DIR / learner_file.parent.name
        saved = sorted(folder.glob(f"{learner_file.stem}-*{learner_file.suffix}")) if folder.is_dir() else []
        if not saved:
            continue
        newest = saved[-1]  # the names sort by their date and time
        if learner_file.exists() and learner_file.read_bytes() == newest.read_bytes():
            print(f"{rel(learner_file)} is already the same as {rel(newest)}; nothing to do.")
            continue
        current = backup(learner_file)
        shutil.copy2(newest, learner_file)
        if current:
            print(f"Saved what was there to {rel(current)}")
        print(f"{rel(learner_file)} is back to {rel(newest)}.")
        restored += 1
    if not restored and not any((BACKUPS_DIR / step.folder.name).glob("*")):
        print(f"There is no backup for {step.title} in {rel(BACKUPS_DIR)}/ yet: make reset and make skip make them.")
    return 0


def lab_target(args):
    """(step, file, label) for make bench / make attack: the learner's file unless told otherwise."""
    step = find_step(args.step)
    if args.solution:
        return step, step.solution_dir / step.main_file.name, "solution"
    if args.file:
        path = Path(args.file).resolve()
        if not path.is_file():
            raise UnknownStep(f"There is no file {args.file}.")
        return step, path, path.stem
    return step, step.main_file, "yours"


def do_bench(args):
    from lab import bench

    step, learner_file, label = lab_target(args)
    try:
        levels = tuple(int(level) for level in args.connections.split(","))
        if min(levels) < 1 or args.seconds <= 0 or args.rounds < 1 or args.burst < 0:
            raise ValueError
    except ValueError:
        print("--connections takes whole numbers like 1,10,50; --seconds, --rounds and --burst must be positive.",
              file=sys.stderr)
        return 2
    if not re.fullmatch(r"/[!-~]*", args.path):
        print(f"--path must start with / and be printable ASCII, like /about (got {args.path!r}).", file=sys.stderr)
        return 2
    try:
        bench.run(step, learner_file, label, seconds=args.seconds, rounds=args.rounds, levels=levels,
                  burst=args.burst, generator=args.load, path=args.path, out_dir=args.out,
                  keep_alive=args.keep_alive)
    except bench.BenchError as problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


def do_attack(args):
    from lab import attack

    step, learner_file, label = lab_target(args)
    try:
        verdicts = attack.run(step, learner_file, label, only=args.only, quick=args.quick, out_dir=args.out)
    except attack.AttackError as problem:
        print(problem, file=sys.stderr)
        return 1
    if label == "yours" and step.number == FINAL_STEP and not args.only:
        # Step 5 ships its own copies of the earlier steps' code: try the learner's own step 1, 2 and 4 too.
        earlier = [other for other in all_steps() if other.number < step.number]
        by_step = attack.run_at_owning_steps(earlier, quick=args.quick, out_dir=args.out)
        print(attack.defence_summary(verdicts, by_step))
    return 0 if all(verdict.passed is not False for verdict in verdicts) else 1


def do_serve(args):
    """Run the learner's server (its own main()) here; turn the usual mistakes into one plain line."""
    step = find_step(args.step)
    sys.path.insert(0, str(step.folder))  # as `python server.py` would: the step's modules import each other
    spec = importlib.util.spec_from_file_location("learner_server", step.main_file)
    module = importlib.util.module_from_spec(spec)
    print(f"{step.title}: running {rel(step.main_file)}. Try: curl -v http://{args.host}:{args.port}/", flush=True)
    try:
        spec.loader.exec_module(module)
        return module.main(["--host", args.host, "--port", str(args.port)]) or 0  # 1: stopped with requests cut off
    except NotImplementedError as todo:
        print(f"Your server can't run yet: {todo}", file=sys.stderr)
        return 1
    except OSError as problem:
        if problem.errno != errno.EADDRINUSE:
            print(f"Your server stopped with an error: {problem.strerror or problem}.", file=sys.stderr)
            return 1
        print(f"Could not listen on {args.host}:{args.port}: {problem.strerror or problem}. "
              f"Is another server using that port? Try PORT={args.port + 1}. If none is running, your own "
              "server may be refused by its last connections: set SO_REUSEADDR before bind() "
              "(docs/troubleshooting.md#port-already-in-use).", file=sys.stderr)
        return 1


SUMMARY_LINE = re.compile(r"^(?:Step \d+|Extension) — .*: \d+/\d+ checks passing$", re.M)


def do_watch(args):
    """Grade, then grade again whenever a learner file changes; the summary on top. Ctrl-C stops."""
    step = find_step(args.step)
    files = step.learner_files

    def stamps():
        return [path.stat().st_mtime_ns if path.exists() else 0 for path in files]

    while True:
        seen = stamps()
        finished = subprocess.run([sys.executable, "-m", "checks", "check", step.key], cwd=ROOT,
                                  capture_output=True, text=True, encoding="utf-8", errors="replace")
        summary = SUMMARY_LINE.search(finished.stdout)
        clear_screen()
        print(summary.group(0) if summary else f"{step.title}: the checks could not run (details below)")
        print(f"Watching {', '.join(rel(path) for path in files)}: the checks run again after every save. "
              "Ctrl-C stops.\n")
        print(finished.stdout + finished.stderr, flush=True)
        while stamps() == seen:
            time.sleep(0.5)  # polling the files' timestamps: no extra package needed


def clear_screen():
    if sys.stdout.isatty():
        print("\033[2J\033[H", end="")  # ANSI: clear, cursor home (Windows 10+ terminals understand it)


def do_report(args):
    """Roll up results/*.json files (Exercism v3) into one table: per learner, per step, passed/total."""
    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"There is no folder {folder}.", file=sys.stderr)
        return 2
    table = {}
    for path in sorted(folder.rglob("*.json")):
        parent = path.parent.relative_to(folder).as_posix()
        learner = folder.resolve().name if parent == "." else parent
        table.setdefault(learner, {})[path.stem] = score(path)
    if not table:
        print(f"No result files (*.json) in {folder}.", file=sys.stderr)
        return 2
    steps = sorted({step for row in table.values() for step in row}, key=lambda name: (len(name), name))
    rows = [["learner", *steps]] + [[learner, *(table[learner].get(step, "-") for step in steps)]
                                    for learner in sorted(table)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for number, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if number == 0:
            print("  ".join("-" * width for width in widths))
    return 0


def score(path):
    """``passed/total`` from one results file, or a word saying why not."""
    try:
        tests = json.loads(path.read_text(encoding="utf-8"))["tests"]
        return f"{sum(test['status'] == 'pass' for test in tests)}/{len(tests)}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"


def do_starters(args):
    stale = starters.out_of_sync(everything())
    if args.check:
        for path in stale:
            print(f"{rel(path)} differs from the starter generated from its solution.")
        if stale:
            print("Run `make starters` to regenerate them.")
        return 1 if stale else 0
    for step in everything():
        for solution_file, learner_file in zip(step.solution_files, step.learner_files):
            if learner_file in stale:
                saved = backup(learner_file) if learner_file.exists() else None
                learner_file.write_text(starters.pristine_starter(step, solution_file), encoding="utf-8")
                print(f"Regenerated {rel(learner_file)}" + (f" (old copy: {rel(saved)})" if saved else ""))
    return 0


NOTEBOOKS_DIR = ROOT / "notebooks"


def find_notebook(which):
    """The notebook for ``which``: "2" or "parser" is notebooks/2-parser.ipynb, "lab" the lab's."""
    available = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
    for path in available:
        number, _, name = path.stem.partition("-")
        if which in (number, name, path.stem):
            return path
    names = ", ".join(path.stem for path in available)
    raise UnknownStep(f"There is no notebook {which!r}. Choose one of {names} (its number or its name will do).")


def do_notebook(args):
    path = find_notebook(args.which)
    print(f"Opening {rel(path)} in Jupyter Notebook: your browser should open it (if not, open the "
          "http://127.0.0.1:... address printed below). Ctrl-C twice here stops it.", flush=True)
    command = [sys.executable, "-m", "notebook", str(path.relative_to(ROOT)),
               "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={args.port}"]
    if args.no_browser:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # a dev container often runs as root; Jupyter refuses it unless told
    try:
        return subprocess.call(command, cwd=ROOT)
    except KeyboardInterrupt:
        return 0


def do_docs(args):
    return subprocess.call([sys.executable, "-m", "mkdocs", "serve"], cwd=ROOT)


def do_build_docs(args):
    return subprocess.call([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", "site"], cwd=ROOT)


def do_notebooks(args):
    """Run each notebook afresh and store its outputs, so nbval compares them with today's code."""
    import nbformat
    from nbclient import NotebookClient

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()
        normalise(notebook)
        nbformat.write(notebook, path)
        print(f"ran {rel(path)}")
    return 0


def normalise(notebook):
    """Keep only what nbval compares: stream outputs, merged per cell; no run-specific metadata."""
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for cell in notebook.cells:
        cell.metadata = {}
        if cell.cell_type != "code":
            continue
        merged = []
        for output in cell.outputs:
            if merged and output.output_type == "stream" == merged[-1].output_type and output.name == merged[-1].name:
                merged[-1].text += output.text
            else:
                merged.append(output)
        cell.outputs = merged


def do_mutants(args):
    from . import mutants

    steps = everything() if args.step == "all" else [find_step(args.step)]
    if (args.limit is not None and args.limit < 1) or (args.jobs is not None and args.jobs < 1):
        print("--limit and --jobs take a whole number of at least 1.", file=sys.stderr)
        return 2
    return mutants.run(steps, jobs=args.jobs, todo=args.todo, limit=args.limit, survivors=args.survivors,
                       timeout=args.timeout, out_dir=Path(args.out) if args.out else mutants.OUT_DIR)


def do_selftest(args):
    # -rs: say why a check was skipped (the browser checks, when Chromium is missing).
    if args.pytest_args:
        return subprocess.call([sys.executable, "-m", "pytest", "-rs", "--nbval", *args.pytest_args], cwd=ROOT)
    # One worker per core (pytest-xdist). Two runs, because a notebook's cells share one kernel and must
    # stay together (--dist loadscope keeps each file on one worker), while the tests spread best one by one.
    runs = [
        ["-n", "auto", "--dist", "loadgroup", "tests"],
        ["--nbval", "-n", "auto", "--dist", "loadscope", "notebooks"],
    ]
    codes = [subprocess.call([sys.executable, "-m", "pytest", "-rs", *run], cwd=ROOT) for run in runs]
    return next((code for code in codes if code), 0)


def rel(path):
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)
