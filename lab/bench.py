"""``make bench``: your server against Python's ThreadingHTTPServer, under the same load.

The servers run on ephemeral ports of 127.0.0.1, in processes of their own,
and send the same bytes. For each number of concurrent connections, they
are measured in turn, several rounds, changing which goes first, so a
noisy neighbour on the machine hurts all alike and shows up as spread.
The figure that matters is the ratio: absolute numbers depend on the machine.

When waitress is installed (the course's optional ``bench`` extra), it is
measured too, as a third column: a production server in pure Python.
With ``keep_alive``, every client keeps its connection for request after
request; a server that closes after each answer is simply reconnected to.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from checks import bootstrap
from checks.course import ROOT
from checks.learner_server import LearnerServer, shown_path
from checks.report import CheckFailed

from . import chart, load

LEVELS = (1, 10, 50, 200)
DOCS = "docs/lab.md"
# In the order of the table's rows: the measured server, then the yardsticks.
SERVERS = ("yours", "stdlib", "waitress")


class BenchError(Exception):
    """Something that stops the benchmark, in words a learner can act on."""


def fetch_sample(port, path):
    """What the learner's server answers to GET ``path``: (status, content type, body)."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy
    try:
        with direct.open(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, answer.headers.get("Content-Type", "text/plain"), answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers.get("Content-Type", "text/plain"), refused.read()
    except (OSError, ValueError) as problem:
        raise BenchError(
            f"Your server did not answer GET {path} ({problem}). Run `make check` for this step "
            "first: the benchmark needs a server that answers."
        ) from None


class StdlibServer:
    """lab.stdlib_server in a child process, sending ``body`` with ``status`` and ``content_type``."""

    MODULE = "lab.stdlib_server"
    FAILED = "Python's ThreadingHTTPServer did not start; is this Python complete?"

    def __init__(self, status, content_type, body, keep_alive=False, python=None):
        self._body_file = tempfile.NamedTemporaryFile(delete=False)
        self._body_file.write(body)
        self._body_file.close()
        self._process = subprocess.Popen(
            [python or sys.executable, "-m", self.MODULE, self._body_file.name, str(status), content_type,
             *(["--keep-alive"] if keep_alive else [])],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise BenchError(self.FAILED)
        self.port = int(line)

    def close(self):
        self._process.stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process.stdout.close()
        os.unlink(self._body_file.name)


class WaitressServer(StdlibServer):
    """lab.waitress_server in a child process, run by ``python`` (one that has waitress)."""

    MODULE = "lab.waitress_server"
    FAILED = "waitress is installed, but lab.waitress_server did not start."


def find_waitress():
    """(python, waitress version) for a Python that can run waitress, or None.

    This Python, or else the course's .venv, where the ``bench`` extra installs it: make bench runs
    under whichever python3 make found, which may not be the one in .venv.
    """
    ask = "import waitress; from importlib.metadata import version; print(version('waitress'))"
    for python in dict.fromkeys([sys.executable, str(bootstrap.venv_python())]):
        try:
            found = subprocess.run([python, "-c", ask], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0:
            return python, found.stdout.strip()
    return None


def waitress_hint():
    """The one line that says how to add waitress: the exact command that installs it into .venv."""
    python = bootstrap.venv_python()
    install = f"{python.relative_to(ROOT)} -m pip install {' '.join(bootstrap.requirements(('bench',)))}"
    if not python.exists():
        install = f"{Path(sys.executable).name} -m venv .venv && {install}"
    return f"\nTo add waitress, a production server in pure Python, as a third column: {install}"


def measure(port, path, connections, seconds, generator, keep_alive=False):
    if generator == "wrk":
        return load.run_wrk(port, path, connections, seconds, keep_alive=keep_alive)
    return load.run_bundled(port, path, connections, seconds, keep_alive=keep_alive)


def summarise(runs):
    """The median of the rounds, with their spread, for one server at one level."""
    rates = [run.per_second for run in runs]
    p50s = [run.p50_ms for run in runs if run.p50_ms is not None]
    p99s = [run.p99_ms for run in runs if run.p99_ms is not None]
    return {
        "requests_per_second": statistics.median(rates),
        "lowest": min(rates),
        "highest": max(rates),
        "p50_ms": statistics.median(p50s) if p50s else None,
        "p99_ms": statistics.median(p99s) if p99s else None,
        "errors": sum(run.errors for run in runs),
        "error_kinds": merge(run.error_kinds for run in runs),
        "rounds": [vars(run) for run in runs],
    }


def merge(dicts):
    merged = {}
    for each in dicts:
        for key, count in each.items():
            merged[key] = merged.get(key, 0) + count
    return merged


def run(step, learner_file, label, seconds=3.0, rounds=3, levels=LEVELS, burst=500, generator="auto",
        path="/", out_dir=None, say=print, keep_alive=False):
    """Measure, print the table, write JSON and an SVG chart; returns the results as a dict."""
    if generator == "auto":
        generator = "wrk" if load.wrk_path() else "bundled"
    if generator == "wrk" and not load.wrk_path():
        raise BenchError("wrk is not installed (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk).")
    out_dir = Path(out_dir or ROOT / "results" / "bench")
    waitress = find_waitress()
    yours = LearnerServer(learner_file, step_key=step.key)
    yardsticks = []
    try:
        try:
            yours.start()
        except CheckFailed as failure:
            raise BenchError(
                f"{failure.summary}\nThe benchmark needs a working server: run `make check STEP={step.key}` first."
            ) from None
        status, content_type, body = fetch_sample(yours.port, path)
        if not 200 <= status < 400:
            raise BenchError(
                f"Your server answers GET {path} with {status}, and the benchmark counts every such answer "
                "as an error. Choose a path it answers with 200, such as --path / or --path /about."
            )
        servers = {"yours": yours.port}
        yardsticks.append(StdlibServer(status, content_type, body, keep_alive))
        servers["stdlib"] = yardsticks[-1].port
        if waitress:
            try:
                yardsticks.append(WaitressServer(status, content_type, body, keep_alive, python=waitress[0]))
                servers["waitress"] = yardsticks[-1].port
            except BenchError as problem:
                say(f"{problem} Measuring without it.")
                waitress = None
        names = list(servers)
        say(heading(step, learner_file, path, status, body, generator, seconds, rounds, label, keep_alive,
                    waitress and waitress[1]))
        results = {"levels": []}
        for connections in levels:
            runs = {name: [] for name in names}
            for round_number in range(rounds):
                # Each round starts with the next server, so each goes first as often as the others.
                shift = round_number % len(names)
                for name in names[shift:] + names[:shift]:
                    runs[name].append(measure(servers[name], path, connections, seconds, generator, keep_alive))
            level = {"connections": connections, **{name: summarise(runs[name]) for name in names}}
            level["ratio"] = ratio(level["yours"]["requests_per_second"], level["stdlib"]["requests_per_second"])
            if waitress:
                level["ratio_waitress"] = ratio(level["yours"]["requests_per_second"],
                                                level["waitress"]["requests_per_second"])
            results["levels"].append(level)
            say(table_rows(level, label))
        if burst:
            results["burst"] = {
                name: load.run_burst(port, path, burst, limit=max(5.0, seconds)) for name, port in servers.items()
            }
            say(burst_lines(results["burst"], label))
    finally:
        for yardstick in yardsticks:
            yardstick.close()
        yours.close()
    results.update(describe_run(step, learner_file, label, path, status, body, generator, seconds, rounds,
                                keep_alive, waitress and waitress[1]))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{step.short_name}-{label}" + ("-keep-alive" if keep_alive else "")
    json_path, svg_path = out_dir / f"{stem}.json", out_dir / f"{stem}.svg"
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    svg_path.write_text(chart.render(results), encoding="utf-8")
    say(f"\nFigures: {shown_path(json_path)}\nChart:   {shown_path(svg_path)} (open it in a browser)")
    say(f"What these numbers mean: the \"How fast, how safe?\" page of the course site ({DOCS}).")
    if not waitress:
        say(waitress_hint())
    return results


def ratio(mine, theirs):
    return mine / theirs if theirs else None


def describe_run(step, learner_file, label, path, status, body, generator, seconds, rounds, keep_alive=False,
                 waitress=None):
    return {
        "step": step.key,
        "server": label,
        "file": shown_path(learner_file),
        "request": f"GET {path} ({'keep-alive' if keep_alive else 'Connection: close'})",
        "answer": {"status": status, "bytes": len(body)},
        "load": generator,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "waitress": waitress,  # its version, or None when it was not installed
        "machine": {
            "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
        },
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def shown_names(label):
    """How the table names the servers: the measured one as it was chosen (IMPL=solution: reference)."""
    return {"yours": {"solution": "reference"}.get(label, "yours"), "stdlib": "stdlib", "waitress": "waitress"}


def name_width(label, servers=SERVERS[:2]):
    return max(7, *(len(shown_names(label)[name]) for name in servers))


def heading(step, learner_file, path, status, body, generator, seconds, rounds, label="yours", keep_alive=False,
            waitress=None):
    """What is measured, and the table's header; ``waitress`` is its version when it takes part."""
    tool = "wrk" if generator == "wrk" else "the bundled load generator (install wrk for a faster one)"
    servers = SERVERS if waitress else SERVERS[:2]
    lines = [f"{step.title}: {shown_path(learner_file)} against Python's http.server.ThreadingHTTPServer"]
    if waitress:
        lines.append(f"and waitress {waitress}, a production WSGI server in pure Python (4 threads).")
    answer = f"{'All three' if waitress else 'Both'} answer GET {path} with {status} and the same {len(body):,} bytes"
    if keep_alive:
        lines += [f"{answer}; keep-alive.",
                  "Each client sends request after request on one connection, and reconnects when a server closes it.",
                  "ThreadingHTTPServer speaks HTTP/1.1 for this, with TCP_NODELAY."]
    else:
        lines.append(f"{answer}; Connection: close.")
    lines += [
        f"Load: {tool}; {rounds} round{'s' if rounds != 1 else ''} of {seconds:g} s per server and level, "
        f"taking turns. {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        f"{'conns':>5}  {'server':<{name_width(label, servers)}} {'requests/s':>10} {'(lowest–highest)':<18} "
        f"{'p50':>9} {'p99':>9} {'errors':>7}  {'vs stdlib':>9}" + (f"  {'vs waitress':>11}" if waitress else ""),
    ]
    return "\n".join(lines)


def table_rows(level, label="yours"):
    servers = [name for name in SERVERS if name in level]
    names, width = shown_names(label), name_width(label, servers)
    lines = []
    for name in servers:
        figures = level[name]
        ratios = [level["ratio"]] + ([level["ratio_waitress"]] if "waitress" in level else [])
        shown = [f"{value:.2f}×" if name == "yours" and value else "" for value in ratios]
        spread = f"({figures['lowest']:,.0f}–{figures['highest']:,.0f})"
        line = (
            f"{level['connections'] if name == 'yours' else '':>5}  {names[name]:<{width}} "
            f"{figures['requests_per_second']:>10,.0f} "
            f"{spread:<18} {milliseconds(figures['p50_ms']):>9} {milliseconds(figures['p99_ms']):>9} "
            f"{figures['errors']:>7}  {shown[0]:>9}" + (f"  {shown[1]:>11}" if len(shown) > 1 else "")
        )
        lines.append(line)
    return "\n".join(lines)


def milliseconds(value):
    if value is None:
        return "—"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def burst_lines(burst, label="yours"):
    names, width = shown_names(label), name_width(label, list(burst))
    lines = ["", f"Burst: {next(iter(burst.values()))['connections']} clients connect at the same moment"]
    for name, figures in burst.items():
        failed = sum(figures["errors"].values())
        lines.append(
            f"  {names.get(name, name):<{width}} {figures['answered']} answered, slowest after {milliseconds(figures['slowest_ms'])}"
            + (f"; {failed} failed ({', '.join(f'{k}: {v}' for k, v in figures['errors'].items())})" if failed else "")
        )
    return "\n".join(lines)
