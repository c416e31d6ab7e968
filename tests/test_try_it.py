"""The "Try it" line under a failure: pasted into a shell, it sends exactly the bytes the check sent."""

import shlex
import subprocess

import pytest

from checks import wire

BINARY_BODY = bytes(range(256)) * 4  # every byte value, control bytes and ' % \ included


def sent_by(command, cwd):
    """The bytes the part of ``command`` before ``| nc`` writes, run by sh as a learner's shell would."""
    writer = command.splitlines()[0].split(" | nc ")[0]
    return subprocess.run(["sh", "-c", writer], cwd=cwd, capture_output=True, check=True, timeout=30).stdout


@pytest.fixture
def try_it_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(wire, "TRY_IT_DIR", tmp_path / "try-it")
    return tmp_path / "try-it"


@pytest.mark.parametrize("sent", [
    b"GET /a?b=1&c='2' HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nContent-Length: 7\r\n\r\n100% \\n",
    b"POST /echo HTTP/1.1\r\nContent-Length: 1024\r\n\r\n" + BINARY_BODY,
])
def test_the_command_sends_the_same_bytes(sent, try_it_dir):
    command = wire.reproduce(sent, step_key=2)
    assert sent_by(command, wire.ROOT) == sent
    assert "\x1b" not in command and "\x07" not in command, "a raw control byte would act on the terminal"


def test_a_long_request_is_saved_and_sent_from_the_file(try_it_dir):
    sent = b"POST /echo HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + BINARY_BODY * 98
    command = wire.reproduce(sent, step_key=2)
    assert len(command) < 300 and "cat " in command
    assert sent_by(command, wire.ROOT) == sent
    assert [path.read_bytes() for path in try_it_dir.iterdir()] == [sent]


def test_pieces_are_sent_as_cut(try_it_dir):
    sent = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    command = wire.reproduce(sent, step_key=1, cuts=[len(sent) - 1])
    assert "sleep 1" in command and command.count("printf") == 2
    assert sent_by(command, wire.ROOT) == sent


def test_a_curl_line_quotes_its_url_for_the_shell():
    command = wire.curl_command("GET", "/search?q=a&page=2")
    assert shlex.split(command) == ["curl", "-v", "http://127.0.0.1:8080/search?q=a&page=2"]


def test_a_plain_get_is_tried_with_curl_on_the_same_path():
    command = wire.reproduce(b"GET /user/a%2Fb?x=1&y=2 HTTP/1.1\r\nHost: x\r\n\r\n", step_key=3)
    assert shlex.split(command.splitlines()[0]) == ["curl", "-v", "http://127.0.0.1:8080/user/a%2Fb?x=1&y=2"]
