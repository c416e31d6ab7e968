"""Small, blunt HTTP clients for ``make attack``: raw sockets, so a probe can send exactly the bytes it wants.

Every call has a deadline: a probe never waits on a server for longer than it says.
"""

import re
import select
import socket
import time
from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass
class Answer:
    raw: bytes
    seconds: float
    closed: bool  # the server closed the connection (rather than our deadline passing)
    error: str = ""  # "reset" if the server reset the connection

    @property
    def status(self):
        match = re.match(rb"HTTP/1\.[01] (\d{3})", self.raw)
        return int(match[1]) if match else None

    @property
    def body(self):
        return self.raw.partition(b"\r\n\r\n")[2]

    def describe(self):
        """The answer in a few words for the table: "404", "connection reset", "nothing, closed"."""
        if self.status is not None:
            return str(self.status)
        if self.error:
            return f"connection {self.error}"
        if self.raw:
            return f"not HTTP: {self.raw[:20]!r}"
        return "nothing, closed" if self.closed else "nothing yet"


def exchange(port, pieces, pause=0.0, deadline=5.0):
    """Send ``pieces`` (with ``pause`` seconds between them), then read until the server closes or ``deadline``."""
    began = time.monotonic()
    with socket.create_connection((HOST, port), timeout=deadline) as client:
        try:
            for index, piece in enumerate(pieces):
                if index and pause:
                    time.sleep(pause)  # the client's own pacing: this is what a slow client does
                client.settimeout(deadline)
                client.sendall(piece)
        except TimeoutError:
            return Answer(b"", time.monotonic() - began, False)
        except (ConnectionResetError, BrokenPipeError):
            return Answer(b"", time.monotonic() - began, True, "reset")
        return read_answer(client, began, deadline)


def trickle(port, data, gap, deadline=5.0, first=b""):
    """Send ``first``, then ``data`` a byte every ``gap`` seconds until the server answers or ``deadline``."""
    began = time.monotonic()
    with socket.create_connection((HOST, port), timeout=deadline) as client:
        try:
            client.sendall(first)
            for byte in data:
                client.sendall(bytes([byte]))
                # Waiting for the answer paces the trickle: select() returns at once when one comes.
                if select.select([client], [], [], gap)[0] or time.monotonic() - began > deadline:
                    break
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server hung up; what it said before that may still be there to read
        return read_answer(client, began, max(deadline, time.monotonic() - began + 0.1))


def read_answer(client, began, deadline):
    """What the server sends on ``client`` until it closes, or ``deadline`` seconds after ``began``."""
    received, closed, error = bytearray(), False, ""
    try:
        while (left := deadline - (time.monotonic() - began)) > 0:
            client.settimeout(left)
            chunk = client.recv(65536)
            if not chunk:
                closed = True
                break
            received += chunk
    except TimeoutError:
        pass
    except (ConnectionResetError, BrokenPipeError):
        error, closed = "reset", True
    return Answer(bytes(received), time.monotonic() - began, closed, error)


def get(port, path="/", deadline=5.0):
    return exchange(port, [f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()],
                    deadline=deadline)


def download(port, path, deadline):
    """GET ``path``, counting the body's bytes without keeping them; returns (status, body bytes)."""
    with socket.create_connection((HOST, port), timeout=deadline) as client:
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
        head = bytearray()
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                break
            head += chunk
        before, _, rest = bytes(head).partition(b"\r\n\r\n")
        match = re.match(rb"HTTP/1\.[01] (\d{3})", before)
        total = len(rest)
        while chunk:
            chunk = client.recv(1024 * 1024)
            total += len(chunk)
    return (int(match[1]) if match else None), total
