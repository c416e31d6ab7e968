"""``make replay STEP=n CHECK=k``: run one check again and show every byte it exchanged.

The check is the k-th failure of the last report (results/<step>.json), or a check
named by (part of) its name. It runs exactly as it does under ``make check``: the
same server start, the same bytes, pieces and pauses. While it runs, every TCP
connection the check opens is written out as it happens: what was sent, what came
back, the pauses between, and how the connection ended. Then the check's verdict.
"""

import json
import socket
import sys
import threading
import time

from .report import visible

# Bytes shown for one send or receive; the rest is counted, not shown.
SHOWN_BYTES = 300
# A wait longer than this between two events on a connection is shown as a pause.
SHOWN_PAUSE_SECONDS = 0.2


def find_check(step, which, results_file):
    """The results entry of check ``which``: a number in the last report, or part of a check's name."""
    from .attribution import arrange

    if not which.strip():
        raise LookupError(f"Say which check to replay: make replay STEP={step.key} CHECK=1 replays failure "
                          "number 1 of your last report (CHECK= also takes part of a check's name).")
    try:
        tests = json.loads(results_file.read_text(encoding="utf-8"))["tests"]
    except (OSError, ValueError, KeyError):
        tests = []
    if which.isdigit():
        failed = [test for test in tests if test["status"] != "pass"]
        if not failed:
            raise LookupError(f"The last report of {step.title} has no failing check. Run the checks "
                              f"first (make check STEP={step.key}), or name a check: CHECK=<part of its name>.")
        arranged = [test for test, _ in arrange(failed)]
        if not 1 <= int(which) <= len(arranged):
            raise LookupError(f"The last report of {step.title} numbers its failures 1 to {len(arranged)}.")
        return arranged[int(which) - 1]
    found = [test for test in tests if which.lower() in (test["name"] + " " + test["id"]).lower()]
    if not found:
        raise LookupError(f"No check of {step.title} has {which!r} in its name "
                          f"(the names are in {results_file.name}, and in the report of make check).")
    return found[0]


class Transcript:
    """Writes out each TCP connection a check makes, as it happens (sockets of other families are left alone)."""

    PATCHED = ("connect", "sendall", "send", "recv", "recv_into", "shutdown", "close")

    def __init__(self, out=sys.stdout):
        self.out = out
        self.lock = threading.Lock()
        self.numbers = {}
        self.last_event = {}
        self.originals = {}

    def __enter__(self):
        for name in self.PATCHED:
            self.originals[name] = getattr(socket.socket, name)
            setattr(socket.socket, name, self._wrap(name, self.originals[name]))
        return self

    def __exit__(self, *exc):
        for name, original in self.originals.items():
            setattr(socket.socket, name, original)

    def _wrap(self, name, original):
        transcript = self

        def logged(sock, *args, **kwargs):
            if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
                return original(sock, *args, **kwargs)
            try:
                result = original(sock, *args, **kwargs)
            except (TimeoutError, BlockingIOError):
                raise  # a poll that found nothing: the pause shows when something happens
            except OSError as error:
                transcript.note(sock, f"✕ {name}() raised {type(error).__name__}: {error}")
                raise
            transcript.record(sock, name, args, result)
            return result

        return logged

    def record(self, sock, name, args, result):
        if name == "connect":
            self.numbers[id(sock)] = len(self.numbers) + 1
            self.note(sock, f"connected to {args[0][0]}:{args[0][1]}", opening=True)
        elif name in ("sendall", "send"):
            data = bytes(args[0])[: result if isinstance(result, int) else None]
            self.note(sock, f"→ sent {len(data)} bytes:", data)
        elif name == "recv":
            self.note(sock, f"← received {len(result)} bytes:", result) if result else \
                self.note(sock, "← end of stream: the server closed the connection")
        elif name == "recv_into":
            buffer = memoryview(args[0])[:result]
            self.note(sock, f"← received {result} bytes:", bytes(buffer)) if result else \
                self.note(sock, "← end of stream: the server closed the connection")
        elif name == "shutdown":
            self.note(sock, "→ the check closed its sending side (the server reads end of stream)")
        elif name == "close" and id(sock) in self.numbers:
            self.note(sock, "the check closed the connection")
            self.numbers.pop(id(sock), None)

    def note(self, sock, text, data=None, opening=False):
        number = self.numbers.get(id(sock))
        if number is None:
            return
        now = time.monotonic()
        with self.lock:
            lines = []
            last = self.last_event.get(number)
            if last is not None and now - last >= SHOWN_PAUSE_SECONDS:
                lines.append(f"      … {now - last:.1f} s pass")
            self.last_event[number] = now
            prefix = f"\n[{number}] " if opening else f"[{number}]   "
            lines.append(prefix + text)
            if data:
                shown = visible(data, SHOWN_BYTES)
                lines += ["        " + line for line in shown.splitlines()]
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()
