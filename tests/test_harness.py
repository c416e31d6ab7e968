"""The harness itself, against deliberately broken learner files (tests/broken/).

Whatever a learner's file does (crash at import, hang, spin, lie about its
port), each check must fail with a message that says what happened and where,
within seconds, and leave no process or port behind.
"""

import os
from pathlib import Path

import pytest

from checks.course import find_step

from .grading import grade

BROKEN = Path(__file__).parent / "broken"
STEP_1 = find_step("1")

# A check against a hanging server gives up after a few seconds (its answer
# timeout, then a stack dump). This bounds a harness that itself hangs.
SECONDS_PER_CHECK = 20

CASES = {
    # file: (check to run, words the failure message must contain)
    "crash_at_import.py": ("test_get_root_returns_the_page", [
        "could not be imported", "crash_at_import.py, line 3", "No module named 'socket_helpers_that_do_not_exist'",
    ]),
    "syntax_error.py": ("test_get_root_returns_the_page", [
        "could not be imported", "syntax_error.py, line 5", "SyntaxError",
    ]),
    "hangs_at_import.py": ("test_get_root_returns_the_page", [
        "did not start listening", "hangs_at_import.py, line 3", "if __name__",
    ]),
    "hangs_in_handle_client.py": ("test_get_root_returns_the_page", [
        "nothing arrived within 3 s", "hangs_in_handle_client.py, line 11, in handle_client:  client.recv(4096)",
        "waiting in recv()", "Sent:", "GET / HTTP/1.1\\r\\n",
    ]),
    "spins_in_handle_client.py": ("test_get_root_returns_the_page", [
        "nothing arrived within 3 s", "spins_in_handle_client.py, line 1", "in handle_client", "check that it can end",
    ]),
    "serve_forever_never_returns.py": ("test_port_zero_and_shutdown", [
        "did not stop the server", "in serve_forever:  client, address = self.socket.accept()",
    ]),
    "reports_wrong_port.py": ("test_get_root_returns_the_page", [
        "not listening on the port it reports", "server.port says",
    ]),
    "answers_without_a_head.py": ("test_get_root_returns_the_page", [
        "not valid HTTP/1.1, says h11", "Received:  Hello, World!", "^ first difference, at byte 1",
    ]),
    "conflicting_content_lengths.py": ("test_get_root_returns_the_page", [
        "not valid HTTP/1.1, says h11", "h11 says: conflicting Content-Length headers",
    ]),
    "never_listens.py": ("test_get_root_returns_the_page", [
        "stopped accepting connections", "Invalid argument", "did start() call listen()",
    ]),
}


def processes_running(path):
    """PIDs of processes whose command line mentions ``path`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("broken_file", sorted(CASES))
def test_broken_learner_file_fails_clearly_and_cleanly(broken_file, tmp_path):
    check, must_say = CASES[broken_file]
    learner_file = BROKEN / broken_file
    outcome = grade(STEP_1, "--file", tmp_path, learner_file, only=[check])

    assert outcome.returncode == 1, outcome.output
    [result] = [test for test in outcome.tests if test["id"] == check]
    assert result["status"] == "fail", outcome.output
    missing = [words for words in must_say if words not in result["message"]]
    assert not missing, f"the message lacks {missing}:\n{result['message']}"
    assert "Traceback (most recent call last)" not in outcome.output.replace(
        "Your server printed this error:\n    Traceback", ""
    ), "the harness itself crashed:\n" + outcome.output
    assert outcome.seconds < SECONDS_PER_CHECK, f"took {outcome.seconds:.1f} s"
    if os.path.isdir("/proc"):
        assert processes_running(learner_file) == [], "a learner server process outlived the run"


def test_a_hanging_server_leaves_no_thread_or_process_behind():
    """In-process: start a server that hangs, give up on it, and find nothing left running."""
    import threading

    from checks.learner_server import LearnerServer
    from checks.wire import exchange, get_request

    threads_before = set(threading.enumerate())
    server = LearnerServer(BROKEN / "hangs_in_handle_client.py").start()
    process = server._process
    try:
        result = exchange(server, get_request("/"), timeout=0.5)
        assert result.timed_out and result.stuck, "the hang was not noticed"
    finally:
        server.close()
    assert process.poll() is not None, "the learner's server process is still running"
    leftover = [thread for thread in set(threading.enumerate()) - threads_before if thread.is_alive()]
    assert not leftover, f"threads left running: {leftover}"


def test_a_unit_check_on_a_looping_function_stops_and_says_where(tmp_path):
    """A learner function that never returns is stopped within seconds, at its own line."""
    from checks import starters

    step = find_step("2")

    def loop_forever(name, text):
        if name != "request.py":
            return text
        return text.replace('    head_end = data.find(END_OF_HEAD)\n', '    head_end = data.find(END_OF_HEAD)\n'
                            '    while END_OF_HEAD not in data:\n        pass\n', 1)

    learner_file = starters.write_variant(step, tmp_path, solved=starters.step_tasks(step), edit=loop_forever)
    outcome = grade(step, "--file", tmp_path, learner_file, only=["test_request_parses_whole_piecewise"])

    [result] = outcome.tests
    assert result["status"] == "fail", outcome.output
    for words in ("did not finish within 2 s", "request.py, line", "while END_OF_HEAD not in data"):
        assert words in result["message"], result["message"]
    assert outcome.seconds < SECONDS_PER_CHECK
