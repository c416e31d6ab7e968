"""``make bench``: your server against Python's ThreadingHTTPServer, under the same load.

Both servers run on ephemeral ports of 127.0.0.1, in processes of their own,
and send the same bytes. For each number of concurrent connections, the
two are measured in turn, several rounds, swapping which goes first, so a
noisy neighbour on the machine hurts both alike and shows up as spread.
The figure that matters is the ratio: absolute numbers depend on the machine.
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

from checks.course import ROOT
from checks.learner_server import LearnerServer, shown_path
from checks.report import CheckFailed

from . import chart, load

LEVELS = (1, 10, 50, 200)
DOCS = "docs/lab.md"


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

    def __init__(self, status, content_type, body):
        self._body_file = tempfile.NamedTemporaryFile(delete=False)
        self._body_file.write(body)
        self._body_file.close()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "lab.stdlib_server", self._body_file.name, str(status), content_type],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        line = self._process.stdout.readline()
        if not line.strip().isdigit():
            self.close()
            raise BenchError("Python's ThreadingHTTPServer did not start; is this Python complete?")
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


def measure(port, path, connections, seconds, generator):
    if generator == "wrk":
        return load.run_wrk(port, path, connections, seconds)
    return load.run_bundled(port, path, connections, seconds)


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
        path="/", out_dir=None, say=print):
    """Measure, print the table, write JSON and an SVG chart; returns the results as a dict."""
    if generator == "auto":
        generator = "wrk" if load.wrk_path() else "bundled"
    if generator == "wrk" and not load.wrk_path():
        raise BenchError("wrk is not installed (Debian/Ubuntu: sudo apt-get install wrk; macOS: brew install wrk).")
    out_dir = Path(out_dir or ROOT / "results" / "bench")
    yours = LearnerServer(learner_file, step_number=step.number)
    try:
        try:
            yours.start()
        except CheckFailed as failure:
            raise BenchError(
                f"{failure.summary}\nThe benchmark needs a working server: run `make check STEP={step.number}` first."
            ) from None
        status, content_type, body = fetch_sample(yours.port, path)
        if not 200 <= status < 400:
            raise BenchError(
                f"Your server answers GET {path} with {status}, and the benchmark counts every such answer "
                "as an error. Choose a path it answers with 200, such as --path / or --path /about."
            )
        stdlib = StdlibServer(status, content_type, body)
        try:
            say(heading(step, learner_file, path, status, body, generator, seconds, rounds, label))
            servers = {"yours": yours.port, "stdlib": stdlib.port}
            results = {"levels": []}
            for connections in levels:
                runs = {"yours": [], "stdlib": []}
                for round_number in range(rounds):
                    order = ("yours", "stdlib") if round_number % 2 == 0 else ("stdlib", "yours")
                    for name in order:
                        runs[name].append(measure(servers[name], path, connections, seconds, generator))
                level = {"connections": connections, **{name: summarise(runs[name]) for name in runs}}
                level["ratio"] = ratio(level["yours"]["requests_per_second"], level["stdlib"]["requests_per_second"])
                results["levels"].append(level)
                say(table_rows(level, label))
            if burst:
                results["burst"] = {
                    name: load.run_burst(port, path, burst, limit=max(5.0, seconds)) for name, port in servers.items()
                }
                say(burst_lines(results["burst"], label))
        finally:
            stdlib.close()
    finally:
        yours.close()
    results.update(describe_run(step, learner_file, label, path, status, body, generator, seconds, rounds))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"step{step.number}-{label}"
    json_path, svg_path = out_dir / f"{stem}.json", out_dir / f"{stem}.svg"
    json_path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    svg_path.write_text(chart.render(results), encoding="utf-8")
    say(f"\nFigures: {shown_path(json_path)}\nChart:   {shown_path(svg_path)} (open it in a browser)")
    say(f"What these numbers mean: the \"How fast, how safe?\" page of the course site ({DOCS}).")
    return results


def ratio(mine, theirs):
    return mine / theirs if theirs else None


def describe_run(step, learner_file, label, path, status, body, generator, seconds, rounds):
    return {
        "step": step.number,
        "server": label,
        "file": shown_path(learner_file),
        "request": f"GET {path} (Connection: close)",
        "answer": {"status": status, "bytes": len(body)},
        "load": generator,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "machine": {
            "python": platform.python_version(),
            "system": f"{platform.system()} {platform.machine()}",
            "cpus": os.cpu_count(),
        },
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def shown_names(label):
    """How the table names the two servers: the measured one as it was chosen (IMPL=solution: reference)."""
    return {"yours": {"solution": "reference"}.get(label, "yours"), "stdlib": "stdlib"}


def name_width(label):
    return max(7, *(len(name) for name in shown_names(label).values()))


def heading(step, learner_file, path, status, body, generator, seconds, rounds, label="yours"):
    tool = "wrk" if generator == "wrk" else "the bundled load generator (install wrk for a faster one)"
    return (
        f"Step {step.number}: {shown_path(learner_file)} against Python's http.server.ThreadingHTTPServer\n"
        f"Both answer GET {path} with {status} and the same {len(body):,} bytes; Connection: close.\n"
        f"Load: {tool}; {rounds} round{'s' if rounds != 1 else ''} of {seconds:g} s per server and level, "
        f"taking turns. {os.cpu_count()} CPUs, Python {platform.python_version()}.\n\n"
        f"{'conns':>5}  {'server':<{name_width(label)}} {'requests/s':>10} {'(lowest–highest)':<18} {'p50':>9} {'p99':>9} "
        f"{'errors':>7}  {'vs stdlib':>9}"
    )


def table_rows(level, label="yours"):
    names, width = shown_names(label), name_width(label)
    lines = []
    for name in ("yours", "stdlib"):
        figures = level[name]
        shown_ratio = f"{level['ratio']:.2f}×" if name == "yours" and level["ratio"] else ""
        spread = f"({figures['lowest']:,.0f}–{figures['highest']:,.0f})"
        lines.append(
            f"{level['connections'] if name == 'yours' else '':>5}  {names[name]:<{width}} "
            f"{figures['requests_per_second']:>10,.0f} "
            f"{spread:<18} {milliseconds(figures['p50_ms']):>9} {milliseconds(figures['p99_ms']):>9} "
            f"{figures['errors']:>7}  {shown_ratio:>9}"
        )
    return "\n".join(lines)


def milliseconds(value):
    if value is None:
        return "—"
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def burst_lines(burst, label="yours"):
    names, width = shown_names(label), name_width(label)
    lines = ["", f"Burst: {next(iter(burst.values()))['connections']} clients connect at the same moment"]
    for name, figures in burst.items():
        failed = sum(figures["errors"].values())
        lines.append(
            f"  {names.get(name, name):<{width}} {figures['answered']} answered, slowest after {milliseconds(figures['slowest_ms'])}"
            + (f"; {failed} failed ({', '.join(f'{k}: {v}' for k, v in figures['errors'].items())})" if failed else "")
        )
    return "\n".join(lines)
