"""Failure messages written for learners: what was sent, expected, received, and why.

A check raises ``CheckFailed`` with the facts it has; ``str()`` lays them out::

    Nothing came back within 3 s; the connection is still open.
      Sent:      GET / HTTP/1.1\\r\\n
                 Host: 127.0.0.1\\r\\n
                 \\r\\n
      Expected:  a response starting with HTTP/1.1 200 OK
      Received:  (nothing)
      Your server was here:
                 server.py, line 147, in read_head:  chunk = client.recv(RECV_SIZE)
      What it usually means: ...

The pytest plugin adds the check's hint and docs link, and a command to try.
"""

import re
import sysconfig

MAX_SHOWN_BYTES = 600
LABEL_WIDTH = 11


class CheckFailed(AssertionError):
    """A failed check, carrying everything a learner needs to see why."""

    def __init__(self, summary, *, sent=None, expected=None, received=None, stuck=None,
                 meaning=None, server_output=None, reproduce=None, detail=None, todo=None, raised_at=()):
        super().__init__(summary)
        self.summary = summary
        self.sent = sent
        self.expected = expected
        self.received = received
        self.stuck = stuck or []
        self.meaning = meaning
        self.server_output = server_output
        self.reproduce = reproduce
        self.detail = detail
        # Where the failure comes from, when the check knows better than its task marker:
        # ``todo``, the TODO it points at; ``raised_at``, (file, line) of the learner's frames, innermost first.
        self.todo = todo
        self.raised_at = tuple(raised_at)

    def __str__(self):
        lines = [self.summary]
        for label, value in (("Sent", self.sent), ("Expected", self.expected), ("Received", self.received)):
            if value is not None:
                lines += field(label, value if isinstance(value, str) else visible(value))
        if self.detail:
            lines += ["  " + line for line in self.detail.splitlines()]
        if self.stuck:
            lines.append("  Your server was here when the check gave up:")
            places = {}
            for frame in self.stuck:
                place = f"{frame.file}, line {frame.line}, in {frame.function}:  {frame.code}"
                places[place] = places.get(place, 0) + 1
            for place, threads in places.items():
                lines.append(f"    {place}" + (f"   ({threads} threads)" if threads > 1 else ""))
            meaning = self.meaning or explain_stuck(self.stuck)
            if meaning:
                lines += field("Meaning", meaning)
        elif self.meaning:
            lines += field("Meaning", self.meaning)
        error = last_traceback(self.server_output or "")
        if error:
            lines.append("  Your server printed this error:")
            lines += ["    " + line for line in error.splitlines()]
        if self.reproduce:
            lines += field("Try it", self.reproduce)
        return "\n".join(lines)


def field(label, text):
    """``  Label:    first line`` with the following lines indented to match."""
    prefix = f"  {label + ':':<{LABEL_WIDTH}}"
    rows = str(text).splitlines() or [""]
    return [prefix + rows[0]] + [" " * len(prefix) + row for row in rows[1:]]


def visible(data, limit=MAX_SHOWN_BYTES):
    """Bytes as readable text: ``\\r`` and ``\\n`` shown, a new line after each ``\\n``."""
    if not data:
        return "(nothing)"
    shown = data[:limit]
    text = "".join(_visible_byte(byte) for byte in shown).replace("\\n", "\\n\n")
    text = text.rstrip("\n")
    if len(data) > limit:
        text += f"\n… and {len(data) - limit} more bytes ({len(data)} in all)"
    return text


def _visible_byte(byte):
    if byte == 0x0D:
        return "\\r"
    if byte == 0x0A:
        return "\\n"
    if byte == 0x09:
        return "\\t"
    if 0x20 <= byte < 0x7F:
        return chr(byte)
    return f"\\x{byte:02x}"


def first_difference(expected, received):
    """Index of the first byte where ``received`` departs from ``expected``, or None."""
    for index, byte in enumerate(expected):
        if index >= len(received) or received[index] != byte:
            return index
    return None


def caret_diff(expected, received):
    """Expected and received on one line each, with a caret under the first difference."""
    index = first_difference(expected, received)
    if index is None:
        return None
    start = max(0, index - 40)
    exp = "".join(_visible_byte(b) for b in expected[start:index + 30])
    got = "".join(_visible_byte(b) for b in received[start:index + 30]) or "(nothing)"
    offset = len("".join(_visible_byte(b) for b in received[start:index]))
    lead = "…" if start else ""
    return (
        f"expected: {lead}{exp}\n"
        f"received: {lead}{got}\n"
        f"          {' ' * (len(lead) + offset)}^ first difference, at byte {index}"
    )


STUCK_MEANINGS = [
    ("recv", "It is waiting in recv() for more bytes, but the client already sent everything it "
             "will send. Is the loop checking for the blank line (\\r\\n\\r\\n) that ends the head?"),
    ("accept", "It is waiting in accept() for a new connection. Is the client that connected being "
               "served by someone, for example a thread of its own?"),
    (".join(", "It is waiting for a thread to finish. Joining each client's thread means every "
               "client waits for the one before it."),
    ("send", "It is stuck sending. Is the client still reading?"),
    ("sleep", "It is sleeping."),
]


def explain_stuck(frames):
    for frame in frames:
        for needle, meaning in STUCK_MEANINGS:
            if needle in frame.code:
                return meaning
    return ("It is still running this code. If it is a loop, check that it can end: "
            "what makes the condition false, or where is the break?")


TRACEBACK_START = re.compile(r"^(Traceback \(most recent call last\):|Exception in thread .*:)$", re.M)


# Frames of the checks' own code and of Python's standard library: not the learner's business.
NOT_LEARNER_FRAME = re.compile(
    r'^\s+File "(.*[\\/]checks[\\/]\w+\.py|' + re.escape(sysconfig.get_paths()["stdlib"]) + r'[\\/].*)", line \d+'
)


def last_traceback(output, max_lines=16):
    """The last Python traceback the learner's server printed, shortened."""
    starts = [match.start() for match in TRACEBACK_START.finditer(output)]
    if not starts:
        return None
    lines = []
    skipping = False
    for line in output[starts[-1]:].strip().splitlines():
        if NOT_LEARNER_FRAME.match(line):
            skipping = True  # this frame, and its code and caret lines below
            continue
        if skipping and line.startswith("    "):
            continue
        skipping = False
        lines.append(line)
    if len(lines) > max_lines:
        lines = lines[:2] + ["  …"] + lines[-(max_lines - 3):]
    return "\n".join(lines)
