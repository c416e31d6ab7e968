"""The reference servers keep serving when clients and the machine turn hostile.

What is tested here is code the starters give, not a learner's TODO: the accept
loop that survives running out of file descriptors or threads, the connection
cap, the request deadlines, ``Expect: 100-continue``, the graceful close after
an early answer, and the drain on SIGTERM. Each step's reference carries it on
from the step that introduces it; ``make attack`` shows a learner the same
defences from the outside.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h11
import pytest

from checks.course import everything, find_step
from checks.learner_server import LearnerServer
from lab import clients

STEPS = everything()  # the steps, then the extensions, which keep all of step 5's defences
PARSING_STEPS = [step for step in STEPS if step.level >= 2]  # their server.py reads whole requests
TOKEN = "let-me-in"  # step 5's demo token, as these tests set it
# Every step's demo answers it 200. It asks to close, so that the keep-alive server, too, hangs up
# after answering instead of idling for KEEPALIVE_TIMEOUT: these tests read until the server closes.
GET = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


def ids(steps):
    return [step.name for step in steps]


def post_head(step, length, extra=b""):
    path = b"/api/echo" if step.level >= 5 else b"/echo" if step.level == 2 else b"/"
    auth = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n" if step.level >= 5 else b""
    return (b"POST " + path + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + auth
            + b"Content-Length: %d\r\n" % length + extra + b"\r\n")


def server_options(step, **options):
    if step.level >= 5:
        options["app"] = {"token": TOKEN}
    return options


def connect(server):
    return socket.create_connection(server.address, timeout=5)


def ask(server, data, deadline=5.0):
    """Send ``data`` whole and read the answer until the server closes (lab.clients.exchange)."""
    return clients.exchange(server.port, [data], deadline=deadline)


def events_of(data):
    """h11's reading of a server's bytes: the informational and final responses, in order."""
    connection = h11.Connection(our_role=h11.CLIENT)
    connection.send(h11.Request(method="POST", target="/", headers=[("Host", "x"), ("Content-Length", "1")]))
    connection.receive_data(data)
    found = []
    while (event := connection.next_event()) not in (h11.NEED_DATA, h11.PAUSED):
        if isinstance(event, (h11.InformationalResponse, h11.Response)):
            found.append(event.status_code)
        if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    return found


@pytest.mark.parametrize("step", STEPS, ids=ids(STEPS))
def test_running_out_of_file_descriptors_does_not_stop_the_server(step):
    """accept() raising EMFILE is waited out: the process lives, and serves once connections close."""
    with LearnerServer(step.solution_dir / "server.py", options={"spare_files": 12}) as server:
        server.start()
        flood = [connect(server) for _ in range(40)]  # more than the server can hold open
        try:
            out_of_files = "Too many open files"
            deadline = time.monotonic() + 5
            while out_of_files not in server.output() and time.monotonic() < deadline:
                assert server.crash is None, f"the server stopped: {server.crash_text()}"
                time.sleep(0.05)  # polling the server's log for the moment accept() fails
            assert out_of_files in server.output(), "accept() never ran out of file descriptors"
        finally:
            for client in flood:
                client.close()
        answer = ask(server, GET)
        assert answer.status == 200, answer.raw[:200]
        assert server.crash is None


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_past_the_connection_cap_a_client_gets_503_with_retry_after(step):
    with LearnerServer(step.solution_dir / "server.py", options=server_options(step, max_connections=2)) as server:
        server.start()
        holders = [connect(server), connect(server)]
        try:
            answer = ask(server, GET)
            assert answer.status == 503, answer.raw[:200]
            assert re.search(rb"\r\nRetry-After: \d+\r\n", answer.raw), answer.raw[:300]
        finally:
            for client in holders:
                client.close()
        # The two connections just closed free their places as soon as their threads see it.
        deadline, status = time.monotonic() + 5, None
        while status != 200 and time.monotonic() < deadline:
            status = ask(server, GET).status
        assert status == 200


THREAD_START_FAILS = textwrap.dedent('''
    import socket, sys, threading
    sys.path.insert(0, ".")
    import server as module

    server = module.HTTPServer("127.0.0.1", 0, **OPTIONS)
    server.start()
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    real_start, failures = threading.Thread.start, [1]

    def start(thread):
        if failures:
            failures.pop()
            raise RuntimeError("can't start new thread")
        real_start(thread)

    threading.Thread.start = start
    first = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    first.sendall(GET)
    second = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    second.sendall(GET)
    for client in (first, second):
        received = b""
        try:
            while chunk := client.recv(65536):
                received += chunk
        except ConnectionResetError:
            received = b""  # dropped with our request unread
        print(received.split(b"\\r\\n", 1)[0].decode() or "closed")
    server.shutdown()
''')


@pytest.mark.parametrize("step", STEPS, ids=ids(STEPS))
def test_a_thread_that_cannot_start_costs_one_connection_not_the_server(step):
    options = server_options(step)
    script = THREAD_START_FAILS.replace("OPTIONS", repr(options)).replace("GET)", f"{GET!r})")
    finished = subprocess.run([sys.executable, "-c", script], cwd=step.solution_dir, capture_output=True,
                              text=True, timeout=30)
    assert finished.returncode == 0, finished.stderr
    first, second = [line for line in finished.stdout.splitlines() if line == "closed" or line.startswith("HTTP/")]
    assert first == ("closed" if step.level == 1 else "HTTP/1.1 503 Service Unavailable")
    assert second == "HTTP/1.1 200 OK"


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_a_head_that_trickles_in_is_cut_off_at_the_head_timeout(step):
    options = server_options(step, idle_timeout=5.0, head_timeout=0.5)
    with LearnerServer(step.solution_dir / "server.py", options=options) as server:
        server.start()
        endless = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 1000
        answer = clients.trickle(server.port, endless, gap=0.05, deadline=4.0)
    assert answer.status == 408, answer.raw[:200]
    assert answer.seconds < 4.0  # bytes kept coming, so only the head's deadline (0.5 s) can have ended it


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_a_body_slower_than_the_minimum_rate_is_cut_off(step):
    options = server_options(step, idle_timeout=0.5, min_body_rate=100, max_body=100_000)
    with LearnerServer(step.solution_dir / "server.py", options=options) as server:
        server.start()
        answer = clients.trickle(server.port, b"b" * 10_000, gap=0.05, deadline=4.0, first=post_head(step, 10_000))
    assert answer.status == 408, answer.raw[:200]
    assert answer.seconds < 4.0  # 20 bytes a second never leaves the client idle for 0.5 s: the rate did it


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_expect_100_continue_is_answered_before_the_body_is_read(step):
    with LearnerServer(step.solution_dir / "server.py", options=server_options(step)) as server:
        server.start()
        with connect(server) as client:
            client.sendall(post_head(step, 5, b"Expect: 100-continue\r\n"))
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                chunk = client.recv(1)  # without the 100, this waits until the idle timeout: a 408
                assert chunk, "the server closed without a 100 Continue"
                interim += chunk
            assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
            client.sendall(b"hello")
            final = clients.read_answer(client, time.monotonic(), 5.0).raw
    statuses = events_of(interim + final)
    assert statuses[0] == 100 and statuses[1] != 408, statuses


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_an_expectation_the_server_cannot_meet_gets_417(step):
    with LearnerServer(step.solution_dir / "server.py", options=server_options(step)) as server:
        server.start()
        answer = ask(server, b"GET / HTTP/1.1\r\nHost: localhost\r\nExpect: the-moon\r\n\r\n")
    assert answer.status == 417, answer.raw[:200]


CONTINUE_RULES = textwrap.dedent('''
    import sys
    sys.path.insert(0, ".")
    from server import wants_continue
    for head in (b"POST / HTTP/1.1\\r\\nHost: x\\r\\nExpect: 100-continue\\r\\n\\r\\n",
                 b"POST / HTTP/1.1\\r\\nHost: x\\r\\nexpect:  100-Continue \\r\\n\\r\\n",
                 b"POST / HTTP/1.0\\r\\nExpect: 100-continue\\r\\n\\r\\n",
                 b"POST / HTTP/1.1\\r\\nX-Expect: 100-continue\\r\\n\\r\\n"):
        print(wants_continue(head))
''')


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_100_continue_is_for_http_1_1_clients_that_ask(step):
    """An HTTP/1.0 client never gets a 100 (RFC 9110, section 10.1.1); the field name must match whole."""
    finished = subprocess.run([sys.executable, "-c", CONTINUE_RULES], cwd=step.solution_dir, capture_output=True,
                              text=True, timeout=30)
    assert finished.stdout.split() == ["True", "True", "False", "False"], finished.stderr


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_an_early_413_survives_a_client_that_is_still_sending(step):
    """The server drains what the client still sends, so its 413 is read, not destroyed by a reset."""
    with LearnerServer(step.solution_dir / "server.py", options=server_options(step, max_body=1000)) as server:
        server.start()
        # Far more than the kernel buffers hold, so sending ends only if the server reads it.
        answer = ask(server, post_head(step, 10**9) + b"x" * (4 * 1024 * 1024), deadline=10)
    assert answer.status == 413 and not answer.error, (answer.error, answer.raw[:200])
    assert events_of(answer.raw) == [413]


ECHOING_STEPS = [step for step in STEPS if step.level >= 5]  # their demo has POST /api/echo
FORM = (b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"bytes.bin\"\r\n"
        b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256)) * 64 + b"\r\n--XyZ--\r\n")
FORM_TYPE = b"Content-Type: multipart/form-data; boundary=XyZ\r\n"


@pytest.mark.parametrize("step", ECHOING_STEPS, ids=ids(ECHOING_STEPS))
def test_the_echo_route_echoes_a_form_body_too(step):
    """Whatever its type, /api/echo sends the body back byte for byte (uploads streams a form's body to the handler)."""
    with LearnerServer(step.solution_dir / "server.py", options=server_options(step)) as server:
        server.start()
        answer = ask(server, post_head(step, len(FORM), FORM_TYPE) + FORM)
    assert answer.status == 200 and not answer.error, (answer.error, answer.raw[:200])
    assert answer.raw.partition(b"\r\n\r\n")[2] == FORM


@pytest.mark.parametrize("step", ECHOING_STEPS, ids=ids(ECHOING_STEPS))
def test_a_form_body_over_the_body_limit_gets_413_from_the_echo_route(step):
    """A form no route streams is held to the body limit of any other body: 413, and the answer survives."""
    with LearnerServer(step.solution_dir / "server.py", options=server_options(step)) as server:
        server.start()
        length = 2 * 1024 * 1024  # over MAX_BODY_BYTES (1 MiB), far under the 100 MiB that uploads lets a form stream
        answer = ask(server, post_head(step, length, FORM_TYPE) + b"x" * length, deadline=10)
    assert answer.status == 413 and not answer.error, (answer.error, answer.raw[:200])
    assert events_of(answer.raw) == [413]


def test_a_streamed_body_reads_like_a_file():
    """The uploads server's BodyStream: read(-1) and read(None) give the rest, read(0) gives b"", as a file's do."""
    script = textwrap.dedent("""
        from server import BodyStream

        class Connection:
            def __init__(self, pieces):
                self.pieces = list(pieces)

            def recv(self, size):
                return self.pieces.pop(0)[:size]

        stream = BodyStream(Connection([b"def", b"ghi"]), b"abc", 9)  # "abc" came with the head
        assert stream.read(0) == b"", "read(0) with bytes waiting"
        assert stream.read(2) == b"ab", "read(2)"
        assert stream.read(-1) == b"cdefghi", "read(-1) after read(2)"
        assert stream.read() == b"" and stream.read(None) == b"", "read() at the end"
        stream = BodyStream(Connection([b"xyz"]), b"", 3)
        assert stream.read(0) == b"", "read(0) with nothing waiting"
        assert stream.read(None) == b"xyz", "read(None)"
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=find_step("uploads").solution_dir,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def start_main(step):
    """``python server.py --port 0`` in the step's solution folder, and the port it says it serves on."""
    process = subprocess.Popen([sys.executable, "-u", "server.py", "--port", "0"], cwd=step.solution_dir,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert match, f"no address in {line!r}"
    return process, int(match[1])


def stop(process):
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    process.stdout.close()


def in_flight(port):
    """A connection whose request is half sent, and certainly accepted by the server.

    The server accepts connections in the order they came, so once a later one has been answered,
    this one has been accepted too, and its thread is waiting for the rest of the head.
    """
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(GET[:-2])
    assert clients.exchange(port, [GET]).status == 200
    return client


def still_listening(process, port):
    """Whether ``process`` still holds a socket listening on ``port``.

    Where Linux shows it, ask the kernel which sockets listen on the port and whether the process holds one.
    Trying to connect cannot tell: the moment the server lets its port go, another test's server
    (which also asks for any free port) may be given the same number.
    """
    try:
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        listening = {row[9] for row in rows if row[1].endswith(f":{port:04X}") and row[3] == "0A"}  # 0A: LISTEN
        held = {os.readlink(f"/proc/{process.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{process.pid}/fd")}
    except OSError:  # not Linux
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        except ConnectionRefusedError:
            return False
        return True
    return any(f"socket:[{inode}]" in held for inode in listening)


def wait_for_line(process, text):
    lines = []
    while line := process.stdout.readline():
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError(f"the server ended without saying {text!r}: {lines}")


@pytest.mark.parametrize("step", STEPS, ids=ids(STEPS))
def test_sigterm_stops_accepting_and_lets_the_request_in_flight_finish(step):
    process, port = start_main(step)
    try:
        with in_flight(port) as client:
            assert still_listening(process, port)  # so that the check below can see a socket left open
            process.send_signal(signal.SIGTERM)
            wait_for_line(process, "Stopping")
            assert not still_listening(process, port)
            client.sendall(GET[-2:])
            answer = clients.read_answer(client, time.monotonic(), 5.0)
        assert answer.status == 200, answer.raw[:200]
        assert process.wait(timeout=15) == 0
        assert "Stopped: the port is free again." in process.stdout.read()
    finally:
        stop(process)


@pytest.mark.parametrize("step", STEPS, ids=ids(STEPS))
def test_a_second_signal_stops_at_once(step):
    process, port = start_main(step)
    try:
        with in_flight(port) as client:
            process.send_signal(signal.SIGINT)
            wait_for_line(process, "Stopping")
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=5) == 1
            assert "Stopped before every request had finished." in process.stdout.read()
            assert clients.read_answer(client, time.monotonic(), 5.0).raw == b""  # cut off: the process is gone
    finally:
        stop(process)



PARSE_COUNT = textwrap.dedent('''
    import socket, sys, threading
    sys.path.insert(0, ".")
    import server as module

    calls = [0]
    parse = module.parse_request

    def counting(data, max_body=module.MAX_BODY_BYTES):
        calls[0] += 1
        return parse(data, max_body)

    module.parse_request = counting
    server = module.HTTPServer("127.0.0.1", 0, **OPTIONS)
    server.start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for byte in HEAD + b"b" * 5000:
        client.send(bytes([byte]))
    answer = b""
    while chunk := client.recv(65536):
        answer += chunk
    print(answer.split(b" ", 2)[1].decode(), calls[0])
''')


@pytest.mark.parametrize("step", PARSING_STEPS, ids=ids(PARSING_STEPS))
def test_a_request_sent_a_byte_at_a_time_is_parsed_a_few_times_not_once_per_byte(step):
    """About 20,000 single-byte sends (a 15 KB head, a 5,000-byte body) cost a handful of parse_request calls."""
    filler = b"".join(b"X-Filler-%02d: %s\r\n" % (n, b"f" * 200) for n in range(60))
    head = post_head(step, 5000, filler)
    script = PARSE_COUNT.replace("OPTIONS", repr(server_options(step))).replace("HEAD +", f"{head!r} +")
    finished = subprocess.run([sys.executable, "-c", script], cwd=step.solution_dir, capture_output=True,
                              text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr
    status, calls = finished.stdout.split()
    assert status not in ("400", "408", "413", "431", "500"), finished.stdout
    # After its first 100 pieces, the head is shown to the parser every 4 KiB and when it ends, the body once.
    assert int(calls) <= 100 + 12, f"parse_request was called {calls} times for {len(head) + 5000} bytes"


IDLE_AT_SHUTDOWN = textwrap.dedent('''
    import socket, sys, threading
    sys.path.insert(0, ".")
    import server as module

    server = module.HTTPServer("127.0.0.1", 0, keepalive_timeout=600)
    server.start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    client.sendall(b"GET / HTTP/1.1\\r\\nHost: localhost\\r\\n\\r\\n")
    answer = b""
    # Until the whole page has come: the connection stays open for the next request.
    while b"</html>" not in answer and (chunk := client.recv(65536)):
        answer += chunk
    server.shutdown()
    print(server.wait_until_idle(60), client.recv(1) == b"")
''')


def test_a_connection_kept_open_between_requests_ends_when_the_server_stops():
    """Stopping does not wait out the keep-alive timeout: nobody is owed an answer on an idle connection."""
    keep_alive = find_step("keep-alive")
    finished = subprocess.run([sys.executable, "-c", IDLE_AT_SHUTDOWN], cwd=keep_alive.solution_dir,
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.split() == ["True", "True"], finished.stdout
