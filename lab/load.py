"""Load generators for ``make bench``: wrk when it is installed, else a small one of our own.

Both keep ``connections`` requests in flight against one URL on 127.0.0.1
for ``seconds``, each request on a new connection with ``Connection: close``,
and return a ``LoadResult``. Every run is bounded in time and in requests.

The bundled generator runs in several processes (one Python process can't
keep 200 connections busy) and times each request from connect() to the
last byte of the answer: what a browser would wait, queueing in the
server's listen backlog included. A request still unanswered when time is
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

    @property
    def per_second(self):
        return self.requests / self.seconds if self.seconds else 0.0


def request_bytes(path, port):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode("ascii")


def percentile(sorted_values, fraction):
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


# ---------------------------------------------------------------- the bundled generator


def run_bundled(port, path, connections, seconds, processes=None):
    """Drive 127.0.0.1:``port`` with ``connections`` concurrent clients for ``seconds``."""
    processes = max(1, min(processes or os.cpu_count() or 1, connections))
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    budget = MAX_REQUESTS // processes
    if processes == 1:
        outcomes = [client_loop(port, path, shares[0], seconds, budget)]
    else:
        # spawn, not fork: the same on Linux, macOS and Windows, and no copied threads or sockets.
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            outcomes = pool.starmap(client_loop, [(port, path, share, seconds, budget) for share in shares])
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
    )


def _ms(seconds):
    return None if seconds is None else seconds * 1000


class Exchange:
    """One request on its own non-blocking connection, from connect() to the end of the answer."""

    def __init__(self, port, payload):
        self.started = time.perf_counter()
        self.payload = payload
        self.received = bytearray()
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setblocking(False)
        self.socket.connect_ex(("127.0.0.1", port))  # EINPROGRESS: writable once connected

    def outcome(self):
        """'ok', the kind of error, or None while the answer is still incomplete."""
        head_end = self.received.find(b"\r\n\r\n")
        if head_end == -1:
            return None
        match = re.match(rb"HTTP/1\.[01] (\d{3})", self.received)
        if not match:
            return "not HTTP"
        length = re.search(rb"\r\ncontent-length:\s*(\d+)", self.received[:head_end], re.IGNORECASE)
        if length and len(self.received) - head_end - 4 < int(length[1]):
            return None
        return "ok" if 200 <= int(match[1]) < 400 else f"status {match[1].decode()}"


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
        result = exchange.outcome()
        if result is not None:
            finish(exchange, result)
        elif not chunk:
            finish(exchange, "closed early")


def client_loop(port, path, connections, seconds, budget):
    """Keep ``connections`` exchanges in flight until ``seconds`` pass or ``budget`` requests are made."""
    payload = request_bytes(path, port)
    selector = selectors.DefaultSelector()
    latencies, errors = [], {}
    began = time.perf_counter()
    deadline = began + seconds
    started = 0

    def start():
        nonlocal started
        started += 1
        exchange = Exchange(port, payload)
        selector.register(exchange.socket, selectors.EVENT_WRITE, exchange)

    def finish(exchange, result):
        selector.unregister(exchange.socket)
        exchange.socket.close()
        if result == "ok":
            latencies.append(time.perf_counter() - exchange.started)
        else:
            errors[result] = errors.get(result, 0) + 1
        if time.perf_counter() < deadline and started < budget:
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
    return {"latencies": latencies, "waited": waited, "errors": errors, "seconds": ended - began}


# ---------------------------------------------------------------- wrk

def wrk_path():
    return shutil.which("wrk")


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def run_wrk(port, path, connections, seconds, threads=None):
    """The same load with wrk (https://github.com/wg/wrk), parsed into a ``LoadResult``."""
    threads = max(1, min(threads or os.cpu_count() or 1, connections))
    command = [
        wrk_path(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        f"--timeout={REQUEST_TIMEOUT:.0f}s", "-H", "Connection: close", f"http://127.0.0.1:{port}{path}",
    ]
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
