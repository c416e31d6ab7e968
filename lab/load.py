"""Load generators for ``make bench``: wrk when it is installed, else a small one of our own.

Both keep ``connections`` requests in flight against one URL on 127.0.0.1
for ``seconds``, each request on a new connection with ``Connection: close``,
and return a ``LoadResult``. Every run is bounded in time and in requests.
With ``keep_alive``, each connection carries request after request, one at
a time, and is replaced by a new one only when the server closes it (or
says it will, with ``Connection: close``), as wrk and browsers do.

The bundled generator runs in several processes (one Python process can't
keep 200 connections busy) and times each request from connect() to the
last byte of the answer: what a browser would wait, queueing in the
server's listen backlog included; a request on a connection kept alive,
from the moment it is sent. A request still unanswered when time is
up counts in the latencies with the time it waited. wrk starts its clock
after connecting and leaves unfinished requests out, so a server that
leaves clients waiting to connect looks better under wrk.
"""

import multiprocessing
import os
import re
import selectors
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field

# A request gets this long to be answered before it counts as an error.
REQUEST_TIMEOUT = 5.0
# No run sends more than this many requests, however fast the server.
MAX_REQUESTS = 500_000


@dataclass
class LoadResult:
    requests: int  # answered with a 2xx or 3xx status
    errors: int  # refused, reset, timed out, or answered with another status
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    tool: str
    error_kinds: dict = field(default_factory=dict)
    connections: int | None = None  # opened during the run (the bundled generator counts them; wrk does not say)

    @property
    def per_second(self):
        return self.requests / self.seconds if self.seconds else 0.0


def request_bytes(path, port, keep_alive=False):
    close = "" if keep_alive else "Connection: close\r\n"  # HTTP/1.1 keeps a connection open unless told
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{close}\r\n".encode("ascii")


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


# ---------------------------------------------------------------- the bundled generator


def run_bundled(port, path, connections, seconds, processes=None, keep_alive=False):
    """Drive 127.0.0.1:``port`` with ``connections`` concurrent clients for ``seconds``."""
    processes = max(1, min(processes or os.cpu_count() or 1, connections))
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    budget = MAX_REQUESTS // processes
    if processes == 1:
        outcomes = [client_loop(port, path, shares[0], seconds, budget, keep_alive)]
    else:
        # spawn, not fork: the same on Linux, macOS and Windows, and no copied threads or sockets.
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            outcomes = pool.starmap(client_loop, [(port, path, share, seconds, budget, keep_alive) for share in shares])
    answered = sum(len(outcome["latencies"]) for outcome in outcomes)
    latencies = sorted(value for outcome in outcomes for value in outcome["latencies"] + outcome["waited"])
    kinds = {}
    for outcome in outcomes:
        for kind, count in outcome["errors"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    return LoadResult(
        requests=answered,
        errors=sum(kinds.values()),
        seconds=max(outcome["seconds"] for outcome in outcomes),
        p50_ms=_ms(percentile(latencies, 0.50)),
        p99_ms=_ms(percentile(latencies, 0.99)),
        tool=f"bundled generator ({processes} process{'es' if processes > 1 else ''})",
        error_kinds=kinds,
        connections=sum(outcome["connections"] for outcome in outcomes),
    )


def _ms(seconds):
    return None if seconds is None else seconds * 1000


class Exchange:
    """A request on a non-blocking connection, from connect() to the end of the answer.

    ``again()`` sends the next request on the same connection, when the answer allowed it (``reusable``);
    that request's clock starts when it is sent.
    """

    def __init__(self, port, payload):
        self.started = time.perf_counter()
        self.payload = payload
        self.received = bytearray()
        self.head = None  # (status, body length, keep-alive) once the answer's head is in
        self.reusable = False
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setblocking(False)
        self.socket.connect_ex(("127.0.0.1", port))  # EINPROGRESS: writable once connected

    def again(self):
        self.started = time.perf_counter()
        self.received.clear()
        self.head, self.reusable = None, False
        self.socket.send(self.payload)  # a few dozen bytes: one send takes them all

    def outcome(self, closed=False):
        """'ok', the kind of error, or None while the answer is still incomplete (``closed``: the server hung up)."""
        head_end = self.received.find(b"\r\n\r\n")
        if head_end == -1:
            return "closed early" if closed else None
        if self.head is None:
            self.head = read_head(bytes(self.received[:head_end]))
            if self.head is None:
                return "not HTTP"
        status, length, keep_alive = self.head
        body = head_end + 4
        if length == "chunked":
            try:
                end = chunked_end(self.received, body)
            except ValueError:
                return "bad chunked body"
        elif length is None:
            end = len(self.received) if closed else None  # no length given: the body ends when the server closes
        else:
            end = body + length if len(self.received) >= body + length else None
        if end is None:
            return "closed early" if closed else None
        self.reusable = keep_alive and not closed and length is not None and end == len(self.received)
        return "ok" if 200 <= status < 400 else f"status {status}"


def read_head(head):
    """(status, body length, keep-alive?) from a response head; the length may be "chunked", or None for
    "until the server closes". None if it is not HTTP."""
    match = re.match(rb"HTTP/1\.([01]) (\d{3})", head)
    if not match:
        return None
    fields = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        fields[name.strip().lower()] = value.strip().lower()
    connection = {token.strip() for token in fields.get(b"connection", b"").split(b",")}
    # HTTP/1.1 keeps the connection unless the server says close; HTTP/1.0 only if it says keep-alive.
    keep_alive = b"keep-alive" in connection if match[1] == b"0" else b"close" not in connection
    status = int(match[2])
    if status in (204, 304):
        length = 0
    elif b"chunked" in fields.get(b"transfer-encoding", b""):
        length = "chunked"
    elif fields.get(b"content-length", b"").isdigit():
        length = int(fields[b"content-length"])
    else:
        length = None
    return status, length, keep_alive


def chunked_end(data, position):
    """Where a chunked body starting at ``position`` of ``data`` ends, or None while it is incomplete."""
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end == -1:
            return None
        size = int(bytes(data[position:line_end]).split(b";")[0], 16)  # ValueError if it is not a size
        position = line_end + 2
        if size == 0:
            blank = data.find(b"\r\n\r\n", position - 2)  # the empty line after the trailers, if any
            return None if blank == -1 else blank + 4
        position += size + 2
        if position > len(data):
            return None


def advance(selector, finish, timeout):
    """Move every exchange that is ready one step on: send its request, or read its answer.

    ``finish(exchange, result)`` is called for each that is over: "ok", or the kind of error.
    """
    for key, events in selector.select(timeout=timeout):
        exchange = key.data
        try:
            if events & selectors.EVENT_WRITE:
                if exchange.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    finish(exchange, "connect")
                    continue
                exchange.socket.send(exchange.payload)  # a few dozen bytes: one send takes them all
                selector.modify(exchange.socket, selectors.EVENT_READ, exchange)
                continue
            chunk = exchange.socket.recv(65536)
        except OSError:
            finish(exchange, "reset")
            continue
        exchange.received += chunk
        result = exchange.outcome(closed=not chunk)
        if result is not None:
            finish(exchange, result)


def client_loop(port, path, connections, seconds, budget, keep_alive=False):
    """Keep ``connections`` requests in flight until ``seconds`` pass or ``budget`` requests are made."""
    payload = request_bytes(path, port, keep_alive)
    selector = selectors.DefaultSelector()
    latencies, errors = [], {}
    began = time.perf_counter()
    deadline = began + seconds
    started = opened = 0

    def start():
        nonlocal started, opened
        started += 1
        opened += 1
        exchange = Exchange(port, payload)
        selector.register(exchange.socket, selectors.EVENT_WRITE, exchange)

    def finish(exchange, result):
        nonlocal started
        if result == "ok":
            latencies.append(time.perf_counter() - exchange.started)
        else:
            errors[result] = errors.get(result, 0) + 1
        more = time.perf_counter() < deadline and started < budget
        if more and keep_alive and result == "ok" and exchange.reusable:
            started += 1
            try:
                exchange.again()
                return
            except OSError:
                pass  # the server closed it meanwhile: counted, and replaced by a new connection, below
            errors["reset"] = errors.get("reset", 0) + 1
        selector.unregister(exchange.socket)
        exchange.socket.close()
        if more:
            start()

    for _ in range(connections):
        start()
    while selector.get_map() and time.perf_counter() < deadline:
        now = time.perf_counter()
        for key in list(selector.get_map().values()):
            if now - key.data.started > REQUEST_TIMEOUT:
                finish(key.data, "timeout")
        advance(selector, finish, timeout=min(0.1, max(0.0, deadline - now)))
    ended = time.perf_counter()
    # A request still waiting when time is up is not answered, but leaving it out of the latencies
    # would hide exactly the slowest ones (a client stuck retrying its connect): it counts with the
    # time it has waited so far, which its real latency can only exceed.
    waited = []
    for key in list(selector.get_map().values()):
        waited.append(ended - key.data.started)
        key.fileobj.close()
    selector.close()
    return {"latencies": latencies, "waited": waited, "errors": errors, "seconds": ended - began,
            "connections": opened}


# ---------------------------------------------------------------- wrk

def wrk_path():
    return shutil.which("wrk")


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(port, path, connections, seconds, threads=None, keep_alive=False):
    """The same load with wrk (https://github.com/wg/wrk), parsed into a ``LoadResult``."""
    threads = max(1, min(threads or os.cpu_count() or 1, connections))
    command = [
        wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        f"--timeout={REQUEST_TIMEOUT:.0f}s", f"http://127.0.0.1:{port}{path}",
    ]
    if not keep_alive:  # wrk keeps connections open by default, and reconnects when a server closes
        command[-1:-1] = ["-H", "Connection: close"]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if finished.returncode != 0:
        raise RuntimeError(f"wrk failed: {finished.stderr.strip() or finished.stdout.strip()}")
    return parse_wrk(finished.stdout)


def parse_wrk(output):
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    latency = {
        label: float(value) * UNITS[unit]
        for label, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    }
    kinds = {}
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        for kind, count in zip(("connect", "read", "write", "timeout"), socket_errors.groups()):
            if int(count):
                kinds[kind] = int(count)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        kinds["status"] = int(non_2xx[1])
    if not total:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    answered = int(total[1])
    return LoadResult(
        requests=answered - kinds.get("status", 0),
        errors=sum(kinds.values()),
        seconds=float(total[2]) * UNITS[total[3]] / 1000,
        p50_ms=latency.get("50"),
        p99_ms=latency.get("99"),
        tool="wrk",
        error_kinds=kinds,
    )


# ---------------------------------------------------------------- a burst of simultaneous connects

def run_burst(port, path, count, limit):
    """Open ``count`` connections at once, send a request on each; how many were answered, and how fast."""
    raise_file_limit(count + 64)
    payload = request_bytes(path, port)
    selector = selectors.DefaultSelector()
    exchanges = [Exchange(port, payload) for _ in range(count)]
    for exchange in exchanges:
        selector.register(exchange.socket, selectors.EVENT_WRITE, exchange)
    answered, slowest, errors = 0, 0.0, {}
    began = time.perf_counter()

    def finish(exchange, result):
        nonlocal answered, slowest
        selector.unregister(exchange.socket)
        exchange.socket.close()
        if result == "ok":
            answered += 1
            slowest = max(slowest, time.perf_counter() - exchange.started)
        else:
            errors[result] = errors.get(result, 0) + 1

    while selector.get_map() and time.perf_counter() - began < limit:
        advance(selector, finish, timeout=0.05)
    for key in list(selector.get_map().values()):
        finish(key.data, "unanswered")
    selector.close()
    return {"connections": count, "answered": answered, "slowest_ms": slowest * 1000, "errors": errors}


def raise_file_limit(wanted):
    """Let this process hold ``wanted`` sockets (macOS allows 256 by default)."""
    try:
        import resource
    except ImportError:
        return  # Windows: no such limit on sockets
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
