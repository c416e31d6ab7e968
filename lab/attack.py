"""``make attack``: hostile clients against your server, each followed by a health check.

Every probe sends something a real client might (or an attacker would), says
what a well-built server answers, and records what yours did. After each
probe, a plain GET / must still get 200 within a couple of seconds: a server
that answered the probe correctly but then stopped serving has failed it.

The server runs with a short idle timeout (``IDLE_TIMEOUT``), so the probes
that wait for it finish quickly, and on a temporary site of its own, with
secrets beside (and linked from) the static folder, for the traversal probes.
"""

import json
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from checks.course import ROOT
from checks.learner_server import LearnerServer, shown_path
from checks.report import CheckFailed

from .clients import HOST, download, exchange, get, read_answer, trickle
from .load import raise_file_limit

IDLE_TIMEOUT = 2.0  # seconds: the server is started with this idle_timeout
SLOW_PATH = "/lab/slow"  # the launcher makes this path wait 2 s (see checks.launch)
SECRET = b"lab-secret-7f3a"  # in every file a traversal must not reach
TOKEN = "lab-token"  # step 5's API token, sent with every POST (the echo route is private)
HEALTHY_WITHIN = 2.0
# Seconds to wait, once the health check failed, for a dying process's exit to be seen.
EXIT_REPORT_GRACE = 2.0
MIB = 1024 * 1024
DOCS = "docs/lab.md"


class AttackError(Exception):
    """Something that stops the attack before it starts, in words a learner can act on."""


@dataclass
class Verdict:
    probe: str
    expected: str
    got: str
    passed: bool | None  # None: not run for this step
    step: int  # the step whose code defends against this probe
    server_said: str = ""  # an error your server raised during the probe, with its file and line
    defended_in: str = ""  # the learner file of that step that holds the defence

    def __post_init__(self):
        if not self.defended_in and self.probe in DEFENDED_IN:
            self.defended_in = f"steps/{step_folder(self.step)}/{DEFENDED_IN[self.probe]}"


@dataclass
class Lab:
    """What a probe needs to know: where the server is, how big to go, what the step has."""

    server: LearnerServer
    step: int
    quick: bool
    symlinks: bool  # whether the traversal site could have its symlink
    big_file_size: int
    options: dict  # what the server was started with

    @property
    def port(self):
        return self.server.port

    @property
    def echo_path(self):
        # Step 5's demo site echoes a POST body; earlier steps answer a POST to / one way or another.
        return "/api/echo" if self.step >= 5 else "/"


PROBES = []
# The learner file of the defending step that holds each probe's defence: {probe name: file name}.
DEFENDED_IN = {}
# Where each step's defences are, unless a probe says otherwise.
DEFENCE_FILES = {1: "server.py", 2: "request.py", 4: "static.py"}


def probe(name, expected, step, defended_in=None):
    """Register a probe: ``name`` and ``expected`` are shown in the table; ``step`` is the step that
    defends, in its file ``defended_in``."""

    def register(function):
        PROBES.append((name, expected, step, function))
        DEFENDED_IN[name] = defended_in or DEFENCE_FILES[step]
        return function

    return register


def request(lines, body=b""):
    if lines[0].startswith("POST"):
        lines = [*lines, f"Authorization: Bearer {TOKEN}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def refused(answer, statuses):
    """(got, passed) for a probe that a server should refuse with one of ``statuses``."""
    return answer.describe(), answer.status in statuses


# ---------------------------------------------------------------- how requests arrive

@probe("two requests in one write (pipelined)", "first answered with 200", 1)
def pipelined(lab):
    one = request(["GET / HTTP/1.1", f"Host: {HOST}"])
    answer = exchange(lab.port, [one + one])
    return answer.describe() + (", then closed" if answer.closed and answer.status else ""), answer.status == 200


@probe("request sent 3 bytes at a time", "200", 1)
def split_writes(lab):
    whole = request(["GET / HTTP/1.1", f"Host: {HOST}", "Connection: close"])
    answer = exchange(lab.port, [whole[i:i + 3] for i in range(0, len(whole), 3)], pause=0.002)
    return answer.describe(), answer.status == 200


@probe("a UTF-8 character split across two writes", "answered, é intact", 2)
def split_character(lab):
    body = "Zoë".encode("utf-8")  # b"Zo\xc3\xab": the split falls inside ë
    head = request(["POST " + lab.echo_path + " HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
                    "Content-Type: text/plain; charset=utf-8", "Connection: close"])
    answer = exchange(lab.port, [head + body[:3], body[3:]], pause=0.05)
    intact = answer.body == body if lab.step >= 5 else True
    got = answer.describe() + ("" if intact else f", echoed {answer.body[:20]!r}")
    return got, answer.status is not None and answer.status not in (400, 500) and intact


# ---------------------------------------------------------------- malformed requests

@probe("GARBAGE", "400", 2)
def garbage(lab):
    return refused(exchange(lab.port, [b"GARBAGE\r\n\r\n"]), {400})


@probe("a request line without a version", "400", 2)
def no_version(lab):
    return refused(exchange(lab.port, [b"GET /\r\n\r\n"]), {400})


@probe("non-UTF-8 bytes in the path", "400", 2)
def raw_bytes_in_path(lab):
    return refused(exchange(lab.port, [b"GET /caf\xe9\xff HTTP/1.1\r\nHost: x\r\n\r\n"]), {400})


@probe("a header line without a colon", "400", 2)
def header_without_colon(lab):
    return refused(exchange(lab.port, [request(["GET / HTTP/1.1", f"Host: {HOST}", "Just some words"])]), {400})


@probe("a 64 KB header", "431 (or 400)", 2)
def huge_header(lab):
    lines = ["GET / HTTP/1.1", f"Host: {HOST}", "X-Big: " + "a" * 64 * 1024]
    return refused(exchange(lab.port, [request(lines)]), {431, 400})


@probe("1,000 headers", "431 (or 400)", 2)
def many_headers(lab):
    lines = ["GET / HTTP/1.1", f"Host: {HOST}"] + [f"X-Field-{n}: {n}" for n in range(1000)]
    return refused(exchange(lab.port, [request(lines)]), {431, 400})


def all_refused(lab, heads, statuses):
    """(got, passed) for several requests that must each be refused with one of ``statuses``."""
    answers = [exchange(lab.port, [request(lines) + body]) for lines, body in heads]
    got = sorted({answer.describe() for answer in answers})
    return ", ".join(got), all(answer.status in statuses for answer in answers)


@probe("a Content-Length that is not one number: empty, '5,', '\\xa05', '+5'", "400", 2)
def odd_content_lengths(lab):
    post = [f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}"]
    heads = [([*post, f"Content-Length: {value}"], b"hello") for value in ("", "5,", "\xa05", "+5")]
    return all_refused(lab, heads, {400})


@probe("a Content-Length of 5,000 digits", "400 or 413", 2)
def endless_content_length(lab):
    post = [f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}", "Content-Length: " + "9" * 5000]
    return all_refused(lab, [(post, b"hello")], {400, 413})


@probe("a LF, CR or NUL inside a header value", "400", 2)
def control_in_value(lab):
    get = ["GET / HTTP/1.1", f"Host: {HOST}"]
    heads = [([*get, f"X-Note: a{character}Content-Length: 5"], b"") for character in ("\n", "\r", "\x00")]
    return all_refused(lab, heads, {400})


@probe("no Host, two Hosts, 'Host: a b', 'Host: u@evil/x' in HTTP/1.1", "400", 2)
def bad_hosts(lab):
    get = ["GET / HTTP/1.1"]
    heads = [(get, b""), ([*get, "Host: a", "Host: b"], b""), ([*get, "Host: a b"], b""), ([*get, "Host: u@evil/x"], b"")]
    return all_refused(lab, heads, {400})


@probe("lines ended by a lone LF or a lone CR", "400 at once", 2)
def lone_line_ends(lab):
    answers = [exchange(lab.port, [f"GET / HTTP/1.1{end}Host: {HOST}{end}{end}".encode()]) for end in ("\n", "\r")]
    got = ", ".join(f"{answer.describe()} in {answer.seconds:.1f} s" for answer in answers)
    return got, all(answer.status == 400 and answer.seconds < IDLE_TIMEOUT / 2 for answer in answers)


@probe("a full URL as the target (GET http://host/ HTTP/1.1)", "200", 2)
def absolute_form(lab):
    answer = exchange(lab.port, [request([f"GET http://{HOST}:{lab.port}/ HTTP/1.1", f"Host: {HOST}"])])
    return answer.describe(), answer.status == 200


# ---------------------------------------------------------------- bodies

@probe("a 100 KB body", "answered, whole body read", 2, "server.py")
def big_body(lab):
    body = bytes(range(256)) * 400  # 102,400 bytes
    head = request([f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
                    "Connection: close"])
    answer = exchange(lab.port, [head + body])
    whole = answer.body == body if lab.step >= 5 else True
    got = answer.describe() + ("" if whole else f", echoed {len(answer.body):,} of {len(body):,} bytes")
    return got, answer.status is not None and answer.status not in (400, 408, 413, 500) and whole


@probe("a body that arrives a second late", "answered, body read", 2, "server.py")
def late_body(lab):
    body = b"late but whole"
    head = request([f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
                    "Connection: close"])
    answer = exchange(lab.port, [head, body], pause=0.5 if lab.quick else 1.0)
    whole = answer.body == body if lab.step >= 5 else True
    return answer.describe(), answer.status is not None and answer.status not in (400, 408, 500) and whole


@probe("a body that never arrives", f"408 after the idle timeout ({IDLE_TIMEOUT:g} s)", 2, "server.py")
def missing_body(lab):
    head = request([f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}", "Content-Length: 100"])
    answer = exchange(lab.port, [head], deadline=IDLE_TIMEOUT + 3)
    got = f"{answer.describe()} after {answer.seconds:.1f} s"
    return got, answer.status == 408


@probe("Expect: 100-continue, the body sent only after the go-ahead", "100 Continue, then the answer", 2,
       "server.py")
def expect_continue(lab):
    body = b"sent when asked"
    head = request([f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}",
                    "Expect: 100-continue"])
    with socket.create_connection((HOST, lab.port), timeout=IDLE_TIMEOUT + 2) as client:
        client.sendall(head)
        interim = bytearray()
        while not interim.endswith(b"\r\n\r\n") and (chunk := client.recv(1)):
            interim += chunk
        if not interim.startswith(b"HTTP/1.1 100 "):
            return f"{bytes(interim[:30])!r} instead of 100 Continue", False
        client.sendall(body)
        answer = read_answer(client, time.monotonic(), IDLE_TIMEOUT + 2)
    return f"100, then {answer.describe()}", answer.status is not None and answer.status not in (400, 408, 500)


@probe("Expect: something other than 100-continue", "417", 2, "server.py")
def unknown_expectation(lab):
    return refused(exchange(lab.port, [request(["GET / HTTP/1.1", f"Host: {HOST}", "Expect: the-moon"])]), {417})


@probe("a 1 GB body declared, 4 MB of it sent before reading", "413, read whole (no reset)", 2, "server.py")
def refused_while_sending(lab):
    head = request([f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {10 ** 9}"])
    answer = exchange(lab.port, [head + b"x" * (4 * MIB)], deadline=10)
    return answer.describe(), answer.status == 413 and not answer.error


@contextmanager
def own_server(lab, **settings):
    """A second server from the same file, with smaller limits, so that a probe of them is quick."""
    server = LearnerServer(lab.server.learner_file, {**lab.options, **settings}, step_key=lab.server.step_key)
    try:
        try:
            server.start()
        except CheckFailed:
            shown = ", ".join(f"{name}={value}" for name, value in settings.items())
            raise NotMeasured(f"not measured: the server would not start with {shown} "
                              "(does its HTTPServer take that setting? The starter's does)") from None
        yield server
    finally:
        server.close()


class NotMeasured(Exception):
    """A probe that could not be run against this server; its message says why."""


@probe("a head that trickles in for longer than the head timeout", "408 at the head timeout (set to 1 s)", 2,
       "server.py")
def trickled_head(lab):
    with own_server(lab, head_timeout=1.0) as server:
        answer = trickle(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200, gap=0.1,
                         deadline=IDLE_TIMEOUT + 4)
    got = f"{answer.describe()} after {answer.seconds:.1f} s"
    return got, answer.status == 408 and answer.seconds < IDLE_TIMEOUT + 1


@probe("a body that trickles in at 10 bytes a second", "408 once below the minimum rate (set to 100 B/s)", 2,
       "server.py")
def trickled_body(lab):
    with own_server(lab, min_body_rate=100) as server:
        head = request([f"POST {lab.echo_path} HTTP/1.1", f"Host: {HOST}", "Content-Length: 1000"])
        answer = trickle(server.port, b"b" * 1000, gap=0.1, deadline=IDLE_TIMEOUT + 6, first=head)
    got = f"{answer.describe()} after {answer.seconds:.1f} s"
    return got, answer.status == 408 and answer.seconds < IDLE_TIMEOUT + 4


@probe("more connections than the connection cap (set to 20)", "503 with Retry-After, then served again", 2,
       "server.py")
def over_the_cap(lab):
    with own_server(lab, max_connections=20) as server:
        holders = [socket.create_connection((HOST, server.port), timeout=5) for _ in range(20)]
        try:
            over = get(server.port)
        finally:
            for client in holders:
                client.close()
        retry_after = b"\r\nretry-after:" in over.raw.partition(b"\r\n\r\n")[0].lower()
        deadline, after = time.monotonic() + 5, None
        while (after is None or after.status != 200) and time.monotonic() < deadline:
            after = get(server.port)  # the held connections free their places as their threads notice
    got = f"{over.describe()}{' with Retry-After' if retry_after else ''}, then {after.describe()}"
    return got, over.status == 503 and retry_after and after.status == 200


@probe("more connections than the server has file descriptors", "still serving once they close", 1)
def out_of_files(lab):
    with own_server(lab, spare_files=16) as server:
        flood = [socket.create_connection((HOST, server.port), timeout=5) for _ in range(48)]
        try:
            deadline = time.monotonic() + 3
            while "Too many open files" not in server.output() and time.monotonic() < deadline:
                if server.exit_code is not None:
                    break
                time.sleep(0.05)  # polling the server's output for the moment accept() fails
        finally:
            for client in flood:
                client.close()
        if server.exit_code is not None or server.crash is not None:
            return f"the server stopped: {server.crash_text() or f'exit code {server.exit_code}'}", False
        after = get(server.port)
    return f"GET / afterwards: {after.describe()}", after.status == 200


# ---------------------------------------------------------------- escaping the static folder

# probe name: (request targets, whether it needs the symlink build_site makes)
TRAVERSALS = {
    "traversal: /static/../secret.txt": (["/static/../secret.txt", "/static/./../secret.txt"], False),
    "traversal, percent-encoded: %2e%2e and %2f": (
        ["/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt", "/static/%2e%2e%2f%2e%2e%2fsecret.txt"], False),
    "traversal into a sibling folder that shares the prefix": (
        ["/static/../static-private/secret.txt", "/static/%2e%2e/static-private/secret.txt"], False),
    "a symlink inside the folder that points out of it": (["/static/escape.txt"], True),
}


def traversal(targets, needs_symlink):
    def attempt(lab):
        if needs_symlink and not lab.symlinks:
            return "not tried: this system would not make a symlink", None
        answers = [exchange(lab.port, [request([f"GET {target} HTTP/1.1", f"Host: {HOST}"])]) for target in targets]
        leaked = [target for target, answer in zip(targets, answers) if SECRET in answer.raw]
        if leaked:
            return f"the secret was sent for {leaked[0]}", False
        statuses = sorted({answer.describe() for answer in answers})
        return ", ".join(statuses) + ", secret kept", all(answer.status in (400, 403, 404) for answer in answers)

    return attempt


for _name, (_targets, _needs_symlink) in TRAVERSALS.items():
    probe(_name, "403 or 404 (or 400), no secret", 4)(traversal(_targets, _needs_symlink))


def no_file(target, needs_symlink=False):
    def attempt(lab):
        if needs_symlink and not lab.symlinks:
            return "not tried: this system would not make a symlink", None
        answer = exchange(lab.port, [request([f"GET {target} HTTP/1.1", f"Host: {HOST}"])])
        return answer.describe(), answer.status == 404

    return attempt


probe("a 300-character file name", "404, not an error", 4)(no_file("/static/" + "a" * 300))
probe("a 5 KB path", "404, not an error", 4)(no_file("/static/" + "d/" * 2500 + "x"))
probe("a symlink loop in the static folder", "404, not an error", 4)(no_file("/static/loop-a/x", True))


@probe("If-Modified-Since in the year 99999999999", "200: a date that cannot be is ignored", 4)
def impossible_date(lab):
    answer = exchange(lab.port, [request(["GET /static/index.html HTTP/1.1", f"Host: {HOST}",
                                          "If-Modified-Since: Wed, 25 Nov 99999999999 16:40:36 GMT"])])
    return answer.describe(), answer.status == 200


# ---------------------------------------------------------------- many clients at once

@probe("100 slowloris clients, 1 byte a second", "others still answered within 1 s", 1)
def slowloris(lab):
    count = 30 if lab.quick else 100
    raise_file_limit(count + 64)
    trickle = b"GET / HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\nX-Slow: "
    clients = []
    try:
        clients += [socket.create_connection((HOST, lab.port), timeout=2) for _ in range(count)]
        for second in range(2):
            for client in clients:
                try:
                    client.sendall(trickle[second:second + 1])
                except OSError:
                    pass  # the server hung up on this one: that's allowed
            if second == 0:
                time.sleep(1.0)  # 1 byte a second is the whole point of this probe
        answer = get(lab.port, deadline=5)
    finally:
        for client in clients:
            client.close()
    got = f"{answer.describe()} in {answer.seconds * 1000:.0f} ms, with {count} trickling"
    return got, answer.status == 200 and answer.seconds < 1.0


@probe("200 idle connections", "threads back to normal after the idle timeout", 1)
def idle_connections(lab):
    count = 50 if lab.quick else 200
    before = lab.server.stats()
    if not before:
        return "not measured: the server's process did not report its threads", None
    raise_file_limit(count + 64)
    clients = []
    try:
        clients += [socket.create_connection((HOST, lab.port), timeout=2) for _ in range(count)]
        peak, settled, began = before["threads"], None, time.monotonic()
        while time.monotonic() - began < IDLE_TIMEOUT + 5:
            now = lab.server.stats()
            if now is None:
                return "the server's process stopped answering", False
            threads = now["threads"]
            peak = max(peak, threads)
            if peak > before["threads"] and threads <= before["threads"]:
                settled = time.monotonic() - began
                break
            time.sleep(0.1)  # polling the server's thread count, ten times a second
    finally:
        for client in clients:
            client.close()
    if settled is None:
        return f"threads: {before['threads']}, then {peak}, still {threads} after {IDLE_TIMEOUT + 5:g} s", False
    return f"threads: {before['threads']}, then {peak}, {threads} after {settled:.1f} s", True


@probe("a 2-second handler alongside 20 quick requests", "the quick ones answered within 1 s", 2, "server.py")
def slow_handler(lab):
    slow = {}

    def ask_slowly():
        try:
            slow["answer"] = get(lab.port, SLOW_PATH, deadline=10)
        except OSError:
            pass  # no answer: judged below as "not slow"

    worker = threading.Thread(target=ask_slowly)
    worker.start()
    try:
        time.sleep(0.2)  # let the slow request reach the handler first
        quick = [get(lab.port, deadline=5) for _ in range(20)]
    finally:
        worker.join()
    slowest = max(answer.seconds for answer in quick)
    answered = sum(answer.status == 200 for answer in quick)
    slow_answer = slow.get("answer")
    if slow_answer is None or slow_answer.seconds < 1.5:
        return "not measured: the slow request was not slow", None
    return f"{answered}/20 answered, slowest {slowest * 1000:.0f} ms", answered == 20 and slowest < 1.0


@probe("4 downloads of a 50 MB file at once", "memory grows by less than 10 MB", 4)
def big_downloads(lab):
    size = lab.big_file_size
    before = lab.server.stats()
    if not before or (before["rss"] is None and before["peak_rss"] is None):
        return "not measured: this system does not report the server's memory", None
    results, watching = [], threading.Event()
    samples = [before["rss"] or before["peak_rss"]]

    def watch():
        while not watching.is_set():
            stats = lab.server.stats()
            if stats:
                samples.append(stats["rss"] or stats["peak_rss"])
            watching.wait(0.05)

    def fetch():
        try:
            results.append(download(lab.port, "/static/big.bin", 60))
        except OSError:
            results.append((None, 0))  # refused, reset or timed out: an incomplete download

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        downloads = [threading.Thread(target=fetch) for _ in range(4)]
        for each in downloads:
            each.start()
        for each in downloads:
            each.join()
    finally:
        watching.set()
        watcher.join()
    after = lab.server.stats()
    if after:
        samples.append(after["rss"] or after["peak_rss"])
    growth = max(samples) - samples[0]
    complete = sum(status == 200 and length == size for status, length in results)
    got = f"{complete}/4 complete, memory +{growth / MIB:.1f} MB"
    return got, complete == 4 and growth < 10 * MIB


# ---------------------------------------------------------------- running them

def build_site(folder, big_file_size):
    """A static folder with secrets around it; returns (static root, whether a symlink could be made)."""
    static = folder / "static"
    static.mkdir()
    (static / "index.html").write_text("<h1>public</h1>\n", encoding="utf-8")
    (folder / "secret.txt").write_bytes(SECRET + b" (beside the static folder)\n")
    (folder / "static-private").mkdir()
    (folder / "static-private" / "secret.txt").write_bytes(SECRET + b" (a sibling that shares the prefix)\n")
    with open(static / "big.bin", "wb") as big:
        big.truncate(big_file_size)  # sparse: no disk space used, still read byte by byte
    try:
        (static / "escape.txt").symlink_to(folder / "secret.txt")
        (static / "loop-a").symlink_to(static / "loop-b")  # two links that point at each other
        (static / "loop-b").symlink_to(static / "loop-a")
        return static, True
    except OSError:
        return static, False  # Windows without developer mode


def healthy(lab):
    """(passed, what happened) for GET / after a probe."""
    try:
        answer = get(lab.port, deadline=HEALTHY_WITHIN)
    except OSError as problem:
        return False, f"the server no longer accepts connections ({problem.strerror or problem})"
    if answer.status != 200:
        return False, f"GET / then got {answer.describe()} (wanted 200 within {HEALTHY_WITHIN:g} s)"
    return True, ""


def run(step, learner_file, label, only=None, quick=False, out_dir=None, say=print, exact=None):
    """Every probe (or those whose name holds a word of ``only``, or is in ``exact``) against one server."""
    chosen = [entry for entry in PROBES if (not only or any(word.lower() in entry[0].lower() for word in only))
              and (exact is None or entry[0] in exact)]
    if not chosen:
        raise AttackError(f"No probe's name contains {' or '.join(only)}. The probes: "
                          + "; ".join(entry[0] for entry in PROBES))
    folder = Path(tempfile.mkdtemp(prefix="byo-attack-"))
    big_file_size = (20 if quick else 50) * MIB
    try:
        static_root, symlinks = build_site(folder, big_file_size)
        options = {"idle_timeout": IDLE_TIMEOUT}
        if step.level >= 2:
            options["slow_path"] = SLOW_PATH
        if step.level >= 4:
            options["app"] = {"static_root": str(static_root), **({"token": TOKEN} if step.level >= 5 else {})}
        server = LearnerServer(learner_file, options, step_key=step.key)
        try:
            try:
                server.start()
            except CheckFailed as failure:
                raise AttackError(f"{failure.summary}\nThe attack needs a working server: "
                                  f"run `make check STEP={step.key}` first.") from None
            lab = Lab(server, step.level, quick, symlinks, big_file_size, options)
            say(f"{step.title}: attacking {shown_path(learner_file)} on 127.0.0.1:{server.port} "
                f"(idle timeout {IDLE_TIMEOUT:g} s). Each probe is followed by GET /, which must get 200.\n")
            verdicts = []
            for name, expected, since, function in chosen:
                if server.exit_code is None:
                    verdicts.append(attempt(lab, name, expected, since, function, say=say))
                else:
                    verdicts.append(Verdict(name, expected, "not tried: the server had stopped", None, since))
                    say(row(verdicts[-1]))
        finally:
            server.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    say(table(verdicts))
    say(summary(verdicts))
    out_dir = Path(out_dir or ROOT / "results" / "attack")
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{step.short_name}-{label}.json"
    json_path.write_text(json.dumps([asdict(verdict) for verdict in verdicts], indent=2) + "\n", encoding="utf-8")
    say(f"Results: {shown_path(json_path)}. Which step's code stops each probe, and why: the "
        f"\"How fast, how safe?\" page of the course site ({DOCS}).")
    return verdicts


def attempt(lab, name, expected, since, function, say):
    if since > lab.step:
        verdict = Verdict(name, expected, f"not tried: step {since} teaches this", None, since)
    else:
        errors_before = len(lab.server.thread_errors)
        try:
            got, passed = function(lab)
        except NotMeasured as why:
            got, passed = str(why), None
        except OSError as problem:
            got, passed = f"the probe's client failed: {problem.strerror or problem}", False
        if passed is not None:
            alive, why = healthy(lab)
            if not alive:
                got, passed = f"{got}; then {why}", False
                lab.server.wait_for_exit(EXIT_REPORT_GRACE)  # was it the process that died?
        if lab.server.exit_code is not None:
            got, passed = f"{got}; the server's process exited (code {lab.server.exit_code})", False
        verdict = Verdict(name, expected, got, passed, since, server_said=server_errors(lab.server, errors_before))
    say(row(verdict))
    return verdict


def step_folder(number):
    from checks.course import all_steps

    return next((step.name for step in all_steps() if step.number == number), str(number))


def run_at_owning_steps(steps, quick=False, out_dir=None, say=print, files=None):
    """Each probe again, against the learner's own copy of the step that teaches its defence.

    Step 5 carries every earlier step's code in its own files; this shows whether the
    learner's step 1, 2 and 4 files hold up by themselves (``files`` may name others, by step
    number). Returns {step number: verdicts}.
    """
    found = {}
    for step in steps:
        names = [name for name, _, since, _ in PROBES if since == step.number]
        if not names:
            continue
        say(f"\n--- Step {step.number}'s own files, for the {len(names)} probes its code defends ---")
        try:
            chosen = (files or {}).get(step.number, step.main_file)
            found[step.number] = run(step, chosen, "yours", quick=quick, out_dir=out_dir, say=say, exact=set(names))
        except AttackError as problem:
            say(f"Step {step.number} skipped: {problem}".replace("\n", " "))
    return found


def defence_summary(final, by_step):
    """One line per probe: which file defends it, and how it did in step 5 and in its own step."""
    own = {verdict.probe: verdict for verdicts in by_step.values() for verdict in verdicts}
    lines = ["", "Who defends what (your files):"]
    for verdict in final:
        mine = own.get(verdict.probe)
        there = MARKS[mine.passed] if mine else "not run"
        lines.append(f"  {verdict.defended_in:<28} {MARKS[verdict.passed]} in step 5, {there} in step "
                     f"{verdict.step}: {verdict.probe}")
    return "\n".join(lines)


def server_errors(server, since):
    """What went wrong inside the server during a probe: a thread's error, or serve_forever()'s crash."""
    if server.crash is not None:
        return server.crash_text()
    index = server.wait_for_thread_error(since, 0.2)  # the child's report can trail the probe a little
    return server.thread_error_text(index) if index is not None else ""


MARKS = {True: "PASS", False: "FAIL", None: "skip"}


def row(verdict):
    line = f"  {MARKS[verdict.passed]}  {verdict.probe}: {verdict.got}"
    return line + (f"\n        why: {verdict.server_said}" if verdict.server_said else "")


def table(verdicts):
    columns = [("probe", [v.probe for v in verdicts]), ("expected", [v.expected for v in verdicts]),
               ("got", [v.got for v in verdicts]), ("verdict", [MARKS[v.passed] for v in verdicts])]
    widths = [max(len(title), *(len(cell) for cell in cells)) for title, cells in columns]
    lines = ["", "  ".join(title.ljust(width) for (title, _), width in zip(columns, widths)).rstrip(),
             "  ".join("-" * width for width in widths)]
    for index in range(len(verdicts)):
        lines.append("  ".join(cells[index].ljust(width) for (_, cells), width in zip(columns, widths)).rstrip())
    return "\n".join(lines)


def summary(verdicts):
    passed = sum(verdict.passed is True for verdict in verdicts)
    failed = [verdict for verdict in verdicts if verdict.passed is False]
    skipped = sum(verdict.passed is None for verdict in verdicts)
    lines = ["", f"{passed} passed, {len(failed)} failed, {skipped} not tried."]
    if failed:
        lines.append("Failed: " + "; ".join(f"{verdict.probe} (step {verdict.step})" for verdict in failed))
    return "\n".join(lines)
