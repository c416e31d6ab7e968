"""make bench and make attack: short, bounded runs that prove the tools measure and judge what they say.

No test here asserts a speed: these machines are shared. They assert that
the figures are there and add up, that errors are counted as errors, that
the reference solution passes every probe, and that each kind of broken
server fails the probe written for it.
"""

import json
import re
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler

import pytest

from checks import bootstrap
from checks.course import ROOT, find_step
from checks.starters import write_variant
from lab import attack, bench, load, stdlib_server
from lab.bench import StdlibServer

STEP5 = find_step("5")
# (python, version) when waitress is installed (make test installs it): make bench then measures it too.
WAITRESS = bench.find_waitress()
MEASURED = ("yours", "stdlib", "waitress") if WAITRESS else ("yours", "stdlib")


def course(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "checks", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def short_bench(tmp_path, *extra):
    finished = course("bench", "5", "--solution", "--seconds", "0.5", "--rounds", "2", "--connections", "1,4",
                      "--burst", "20", "--out", str(tmp_path), *extra)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    stem = "step5-solution-keep-alive" if "--keep-alive" in extra else "step5-solution"
    return finished.stdout, json.loads((tmp_path / f"{stem}.json").read_text())


def check_figures(results, output):
    assert [level["connections"] for level in results["levels"]] == [1, 4]
    for level in results["levels"]:
        assert [name for name in bench.SERVERS if name in level] == list(MEASURED)
        for name in MEASURED:
            figures = level[name]
            assert len(figures["rounds"]) == 2, "each server is measured once per round"
            assert figures["lowest"] <= figures["requests_per_second"] <= figures["highest"]
            assert figures["requests_per_second"] > 0 and figures["errors"] == 0, figures
            assert 0 < figures["p50_ms"] <= figures["p99_ms"]
        for key, yardstick in (("ratio", "stdlib"), ("ratio_waitress", "waitress")):
            if yardstick in MEASURED:
                assert level[key] == pytest.approx(
                    level["yours"]["requests_per_second"] / level[yardstick]["requests_per_second"])
                assert f"{level[key]:.2f}×" in output
    assert {name: burst["answered"] for name, burst in results["burst"].items()}["yours"] == 20
    assert list(results["burst"]) == list(MEASURED)
    assert results["answer"]["status"] == 200 and results["answer"]["bytes"] > 0
    assert results["waitress"] == (WAITRESS and WAITRESS[1])
    assert max(len(line) for line in output.splitlines() if line.startswith(" ")) <= 100, "the table fits"


def test_bench_measures_both_servers_with_the_bundled_generator(tmp_path):
    output, results = short_bench(tmp_path, "--load", "bundled")
    check_figures(results, output)
    assert results["load"] == "bundled" and results["request"] == "GET / (Connection: close)"
    chart = ElementTree.parse(tmp_path / "step5-solution.svg").getroot()
    bars = [rect for rect in chart.iter("{http://www.w3.org/2000/svg}rect") if rect.find("{*}title") is not None]
    assert len(bars) == 2 * 2 * len(MEASURED), "two panels, two levels, a bar per server"
    assert "ThreadingHTTPServer" in output and "Burst: 20 clients" in output
    assert re.search(r"^ +1  reference ", output, re.M) and " yours " not in output, "IMPL=solution is the reference"
    for level in results["levels"]:
        for run in level["yours"]["rounds"] + level["stdlib"]["rounds"]:
            assert run["connections"] >= run["requests"], "Connection: close: a connection per request"


@pytest.mark.skipif(not WAITRESS, reason="waitress is not installed (make test installs the bench extra)")
def test_bench_measures_waitress_as_a_third_column(tmp_path):
    output, results = short_bench(tmp_path, "--load", "bundled", "--keep-alive")
    check_figures(results, output)
    assert f"and waitress {WAITRESS[1]}" in output and "vs waitress" in output
    assert re.search(r"^ +waitress +[\d,]+ ", output, re.M)
    chart = (tmp_path / "step5-solution-keep-alive.svg").read_text()
    assert "and waitress" in chart and chart.count("<title>waitress: ") == 2 * 2


def test_bench_without_waitress_measures_two_servers_and_says_how_to_add_it(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "find_waitress", lambda: None)
    said = []
    results = bench.run(STEP5, STEP5.solution_dir / STEP5.main_file.name, "solution", seconds=0.3, rounds=1,
                        levels=(2,), burst=0, generator="bundled", out_dir=tmp_path, say=said.append)
    assert "waitress" not in results["levels"][0] and "ratio_waitress" not in results["levels"][0]
    output = "\n".join(said)
    assert "vs waitress" not in output and results["waitress"] is None
    install = f"{bootstrap.venv_python().relative_to(ROOT)} -m pip install waitress=="
    hints = [line for line in output.splitlines() if install in line]
    assert len(hints) == 1 and hints[0].endswith(bootstrap.requirements(("bench",))[0])


@pytest.mark.skipif(load.wrk_path() is None, reason="wrk is not installed (.ci/run installs Debian's wrk)")
def test_bench_measures_both_servers_with_wrk(tmp_path):
    output, results = short_bench(tmp_path, "--load", "wrk")
    check_figures(results, output)
    assert results["levels"][0]["yours"]["rounds"][0]["tool"] == "wrk"


def test_keep_alive_bench_reuses_connections_and_reconnects_to_a_server_that_closes(tmp_path):
    """The reference solution closes after every answer and says so: reconnecting to it is not an error."""
    output, results = short_bench(tmp_path, "--load", "bundled", "--keep-alive")
    check_figures(results, output)
    assert results["request"] == "GET / (keep-alive)" and "keep-alive" in output and "TCP_NODELAY" in output
    for level in results["levels"]:
        for run in level["yours"]["rounds"]:
            assert run["errors"] == 0 and run["connections"] >= run["requests"] > 0
        for run in level["stdlib"]["rounds"]:
            assert run["connections"] == level["connections"] and run["requests"] > 10 * run["connections"]


@pytest.mark.skipif(load.wrk_path() is None, reason="wrk is not installed (.ci/run installs Debian's wrk)")
def test_keep_alive_bench_with_wrk_counts_no_errors_for_a_server_that_closes(tmp_path):
    output, results = short_bench(tmp_path, "--load", "wrk", "--keep-alive")
    check_figures(results, output)
    assert results["levels"][0]["yours"]["rounds"][0]["tool"] == "wrk"


def answering(framing):
    """A handler that answers "hello world" with a Content-Length, chunked, or with Connection: close."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            self.send_response(200)
            if framing == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"5\r\nhello\r\n6;note=x\r\n world\r\n0\r\n\r\n")
                return
            self.send_header("Content-Length", "11")
            if framing == "close":
                self.send_header("Connection", "close")  # and BaseHTTPRequestHandler closes after it
            self.end_headers()
            self.wfile.write(b"hello world")

        def log_message(self, format, *args):
            pass

    return Handler


class CountingServer(stdlib_server.QuietServer):
    """Counts the connections it accepts: the server's side of how many the load generator opened."""

    accepted = 0

    def get_request(self):
        pair = super().get_request()
        self.accepted += 1  # only serve_forever's thread calls this
        return pair


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_the_bundled_generator_keeps_connections_alive_unless_the_server_closes(framing):
    server = CountingServer(("127.0.0.1", 0), answering(framing))
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        result = load.run_bundled(server.server_address[1], "/", connections=4, seconds=0.5, keep_alive=True)
    finally:
        server.shutdown()
        serving.join()
        server.server_close()
    assert result.errors == 0 and result.requests > 0, result.error_kinds
    if framing == "close":
        # One connection per answer, seen by the server; the generator may have opened a few more at the end
        # that the server had not accepted yet when time was up.
        assert result.requests <= server.accepted <= result.connections
    else:
        assert server.accepted == result.connections == 4 and result.requests > 10 * 4




def test_the_bundled_generator_counts_refusals_and_error_statuses():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        closed_port = placeholder.getsockname()[1]  # nothing listens here once it is closed
    refused = load.run_bundled(closed_port, "/", connections=2, seconds=0.2)
    assert refused.requests == 0 and refused.errors > 0 and set(refused.error_kinds) <= {"connect", "reset"}

    failing = StdlibServer(500, "text/plain", b"broken on purpose")
    try:
        answered = load.run_bundled(failing.port, "/", connections=2, seconds=0.2)
    finally:
        failing.close()
    assert answered.requests == 0 and answered.errors > 0 and set(answered.error_kinds) == {"status 500"}


def test_wrk_output_is_read_with_its_errors():
    output = """Running 2s test @ http://127.0.0.1:33591/
  2 threads and 300 connections
  Latency Distribution
     50%    1.61ms
     75%    1.75ms
     90%    1.94ms
     99%    1.20s
  7179 requests in 2.02s, 7.40MB read
  Socket errors: connect 0, read 3, write 0, timeout 12
  Non-2xx or 3xx responses: 5
Requests/sec:   3561.07
"""
    result = load.parse_wrk(output)
    assert (result.requests, result.errors, result.seconds) == (7174, 20, 2.02)
    assert (result.p50_ms, result.p99_ms) == (pytest.approx(1.61), pytest.approx(1200.0))
    assert result.error_kinds == {"read": 3, "timeout": 12, "status": 5}


def test_bench_and_attack_explain_a_server_that_cannot_start(tmp_path):
    starter = write_variant(STEP5, tmp_path)  # the pristine starter: its TODOs raise NotImplementedError
    for command in ("bench", "attack"):
        finished = course(command, "5", "--file", str(starter), "--out", str(tmp_path / "results"))
        assert finished.returncode == 1
        assert "a TODO is not done yet" in finished.stderr and "make check STEP=5" in finished.stderr
        assert "Traceback" not in finished.stderr + finished.stdout


def test_bench_refuses_a_path_it_cannot_measure(tmp_path):
    malformed = course("bench", "5", "--solution", "--path", "about")
    assert malformed.returncode == 2 and "--path must start with /" in malformed.stderr
    refused = course("bench", "5", "--solution", "--path", "/api/private", "--out", str(tmp_path))
    assert refused.returncode == 1 and "answers GET /api/private with 401" in refused.stderr
    assert "Traceback" not in refused.stderr and not list(tmp_path.iterdir())


def test_attack_on_the_reference_solution_passes_every_probe(tmp_path):
    finished = course("attack", "5", "--solution", "--quick", "--out", str(tmp_path))
    verdicts = json.loads((tmp_path / "step5-solution.json").read_text())
    failed = [verdict for verdict in verdicts if verdict["passed"] is not True]
    assert not failed and finished.returncode == 0, finished.stdout + finished.stderr
    assert len(verdicts) == len(attack.PROBES) == 37


def test_attack_skips_what_a_step_has_not_taught_yet(tmp_path):
    finished = course("attack", "1", "--solution", "--quick", "--only", "GARBAGE", "--only", "pipelined",
                      "--out", str(tmp_path))
    verdicts = {verdict["probe"]: verdict for verdict in json.loads((tmp_path / "step1-solution.json").read_text())}
    assert verdicts["GARBAGE"]["passed"] is None and "step 2 teaches this" in verdicts["GARBAGE"]["got"]
    assert verdicts["two requests in one write (pipelined)"]["passed"] is True
    assert finished.returncode == 0


# (what is broken, the edit that breaks it in step 5's solution, the probe that must catch it)
BROKEN = {
    "decodes each recv() as UTF-8": (
        "server.py", "        received += chunk\n", '        received += chunk.decode("utf-8").encode("utf-8")\n',
        "UTF-8 character split"),
    "has no idle timeout": (
        "server.py", "self.client.settimeout(min(self.idle_timeout, left))", "self.client.settimeout(None)",
        "never arrives"),
    "handles each client on the accept loop's thread": (
        "server.py", "daemon=True).start()", "daemon=True).run()", "2-second handler"),
    "has no deadline for the whole head": (
        "server.py", "self.deadline = time.monotonic() + head_timeout", "self.deadline = time.monotonic() + 3600",
        "head that trickles"),
    "never says 100 Continue": (
        "server.py", "            self.client.sendall(CONTINUE)\n", "", "100-continue, the body"),
    "closes at once after refusing": (
        "server.py", "            close_gracefully(client, linger=unread)\n", "", "1 GB body"),
    "has no connection cap": (
        "server.py", "room = self._connections < self.max_connections", "room = True", "connection cap"),
    "lets running out of file descriptors end serve_forever()": (
        "server.py", "                    if not out_of_resources(error):\n", "                    if True:\n",
        "file descriptors"),
    "never looks at Host": (
        "request.py", "    target = check_host(target, version, headers)\n", "", "Hosts"),
    "waits for a CRLF after a lone LF": (
        "request.py", "if lone_cr_or_lf(data, head_end):", "if False:",
        "lone LF"),
    "reads a whole file into memory": (
        "static.py", "response.chunks = read_in_chunks(path)", "response.chunks = [path.read_bytes()]", "50 MB"),
    "compares paths as strings": (
        "static.py", "if not candidate.is_relative_to(root):", "if not str(candidate).startswith(str(root)):",
        "sibling folder"),
    "strips any whitespace around Content-Length": (
        "request.py", 'values = {value.strip(" \\t") for value in ",".join(fields).split(",")}',
        'values = {value.strip() for value in ",".join(fields).split(",")}', "not one number"),
    "does not resolve symlinks": (
        "static.py", "candidate = (root / relative).resolve()", "candidate = (root / relative).absolute()",
        "symlink inside the folder"),
}


# What the server raises inside, for the breakages that raise.
RAISES = {"decodes each recv() as UTF-8": "UnicodeDecodeError"}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_attack_catches_a_server_that(broken, tmp_path):
    file_name, old, new, probe_words = BROKEN[broken]

    def break_it(name, text):
        if name != file_name:
            return text
        assert text.count(old) == 1, f"the edit for {broken!r} no longer fits {file_name}"
        return text.replace(old, new)

    server_file = write_variant(STEP5, tmp_path, solved=range(1, 100), edit=break_it)
    finished = course("attack", "5", "--file", str(server_file), "--quick", "--only", probe_words,
                      "--out", str(tmp_path / "results"))
    verdicts = json.loads((tmp_path / "results" / "step5-server.json").read_text())
    assert len(verdicts) == 1 and verdicts[0]["passed"] is False, finished.stdout + finished.stderr
    assert finished.returncode == 1 and "FAIL" in finished.stdout
    if broken in RAISES:  # the learner sees the error their server raised, with its line
        assert RAISES[broken] in verdicts[0]["server_said"] and "server.py, line" in verdicts[0]["server_said"]


def test_attack_stops_probing_a_server_whose_process_exited(tmp_path):
    def exit_on_first_request(name, text):
        old = "                response = self.respond(request)\n"
        return text.replace(old, "                import os; os._exit(1)\n") if name == "server.py" else text

    server_file = write_variant(STEP5, tmp_path, solved=range(1, 100), edit=exit_on_first_request)
    finished = course("attack", "5", "--file", str(server_file), "--quick", "--out", str(tmp_path / "results"))
    verdicts = json.loads((tmp_path / "results" / "step5-server.json").read_text())
    assert verdicts[0]["passed"] is False and "the server's process exited (code 1)" in verdicts[0]["got"]
    assert all(v["passed"] is None and v["got"] == "not tried: the server had stopped" for v in verdicts[1:])
    assert finished.returncode == 1 and "Traceback" not in finished.stdout + finished.stderr


def test_make_targets_default_to_step_5():
    def planned(*args):
        return subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True).stdout

    assert "-m checks bench 5" in planned("bench")
    assert "-m checks bench 3 --solution" in planned("bench", "STEP=3", "IMPL=solution")
    assert "-m checks attack 5 --solution" in planned("attack", "IMPL=solution")
    assert "-m checks bench 5 --solution --keep-alive" in planned("bench", "IMPL=solution", "KEEPALIVE=1")
    assert "--keep-alive" not in planned("bench")


def test_the_lab_page_shows_every_probe_as_the_tool_names_it():
    """docs/lab.md's attack table lists each probe with the expectation make attack prints, so the page can't drift."""
    from lab.attack import PROBES

    page = (ROOT / "docs" / "lab.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| ") and line.endswith(" |")]
    for name, expected, _step, _function in PROBES:
        assert any(row.startswith(f"| {name} | {expected} |") for row in rows), f"docs/lab.md has no row for {name!r}"
    assert f"All {len(PROBES)} passed." in page


def test_the_lab_page_shows_the_table_bench_prints():
    from lab.bench import heading

    header = heading(STEP5, STEP5.main_file, "/", 200, b"", "wrk", 3.0, 3).splitlines()[-1]
    page = (ROOT / "docs" / "lab.md").read_text(encoding="utf-8")
    assert page.count(header.rstrip()) >= 2, "the tables on docs/lab.md no longer match what make bench prints"
    with_waitress = heading(STEP5, STEP5.main_file, "/", 200, b"", "wrk", 3.0, 3, "solution", True, "3.0.2")
    assert with_waitress.splitlines()[-1] in page, "nor does the table with waitress"


def test_after_step_5_each_defence_is_tried_in_the_step_that_teaches_it(tmp_path):
    """make attack on a learner's step 5 also attacks their own step 4, where traversal is defended."""
    from checks import mistakes
    from checks.starters import step_tasks

    step4 = find_step("4")
    unguarded = next(mistake for mistake in mistakes.load(step4) if mistake.name == "no containment check at all")
    broken = write_variant(step4, tmp_path, solved=step_tasks(step4), edit=unguarded.edit)
    said = []
    by_step = attack.run_at_owning_steps([step4], quick=True, out_dir=tmp_path / "out", say=said.append,
                                         files={4: broken})
    traversals = [verdict for verdict in by_step[4] if verdict.probe in attack.TRAVERSALS]
    assert traversals and {verdict.defended_in for verdict in by_step[4]} == {"steps/4-static/static.py"}
    assert any(verdict.passed is False for verdict in traversals), "\n".join(said)
    final = [attack.Verdict(verdict.probe, verdict.expected, "kept", True, 4) for verdict in by_step[4]]
    summary = attack.defence_summary(final, by_step)
    assert "steps/4-static/static.py" in summary and "PASS in step 5, FAIL in step 4" in summary
