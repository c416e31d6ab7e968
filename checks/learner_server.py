"""The checks' side of a learner's server running in a child process (see ``launch``).

``LearnerServer.start()`` returns once the child says which port it listens
on, so no check ever sleeps to wait for a server. Every way that can go wrong
(a crash at import, a TODO still raising, a hang before listening) becomes a
``CheckFailed`` with the learner's file and line.
"""

import json
import queue
import re
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from . import launch
from .course import ROOT
from .report import CheckFailed

# Seconds the learner's file gets to import and start listening.
START_TIMEOUT = 5.0
# Seconds the child gets to print its stacks or report on shutdown.
CONTROL_TIMEOUT = 5.0


@dataclass
class StuckFrame:
    """Where one of the learner's threads was, in the learner's own file."""

    thread: str
    file: str
    line: int
    function: str
    code: str


class LearnerServer:
    """A learner's ``HTTPServer`` listening on 127.0.0.1 in a child process."""

    def __init__(self, learner_file, options=None, mode="serve", step_key=None):
        self.learner_file = Path(learner_file).resolve()
        self.step_key = step_key  # shown in the commands a learner can paste
        self.options = options or {}
        self.mode = mode
        self.port = None
        self.listening = {}  # what launch.listening_socket() saw: bound_host, reuse_address
        self.crash = None  # set when serve_forever() dies with an error
        self.thread_errors = []  # errors that ended other threads, handle_client's included
        self._news = threading.Condition()  # notified when a crash or thread error is reported
        self._events = queue.Queue()
        self._stderr = tempfile.TemporaryFile()
        self._process = None

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    def start(self):
        self._process = subprocess.Popen(
            [sys.executable, "-m", "checks.launch", str(self.learner_file), json.dumps(self.options), self.mode],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self._reader = threading.Thread(target=self._read_control, name="learner-server-output", daemon=True)
        self._reader.start()
        event = self._next_event(START_TIMEOUT)
        if event is None:
            stuck = self.where_stuck()
            raise CheckFailed(
                f"Your server did not start listening within {START_TIMEOUT:.0f} s.",
                stuck=stuck,
                meaning="Importing your file or calling start() never finished. Does start() "
                "call serve_forever(), or does the file run a loop when it is imported? "
                "Code under `if __name__ == \"__main__\":` does not run when the checks import it.",
                server_output=self.output(),
            )
        if event.get("event") == "failed":
            raise self._start_failure(event)
        if event.get("event") != "listening":
            raise CheckFailed("Your server's process stopped before it started listening.", server_output=self.output())
        self.port = event["port"]
        self.listening = event
        return self

    def _start_failure(self, event):
        where = self._where(event)
        stage = event.get("stage")
        error = event.get("error", "")
        if "NotImplementedError" in error:
            todo = error.split(":", 1)[1].strip() if ":" in error else error
            return CheckFailed(
                f"Your server could not start: a TODO is not done yet{where}.",
                received=todo,
                meaning="The starter's TODOs raise NotImplementedError until you replace them with code.",
                todo=todo_number(todo),
            )
        summary = {
            "import": f"Your file could not be imported{where}.",
            "start": f"Your server's start() raised an error{where}.",
            "port": "Your server is not listening on the port it reports.",
        }.get(stage, f"Your server failed to start{where}.")
        if stage == "port":  # the port start() reported: start() is where to look
            start = (self.learner_file, function_line(self.learner_file, "start"))
            return CheckFailed(summary, received=error, raised_at=[start])
        raised_at = [(event["file"], event["line"])] if event.get("line") else []
        return CheckFailed(summary, received=error, server_output=self.output(), raised_at=raised_at)

    def wait_for_crash(self, seconds, thread_errors_before=None):
        """True if serve_forever() died, or dies within ``seconds`` (its report may lag its effects).

        With ``thread_errors_before``, a thread error reported after that many ends the wait early:
        the server is alive, and that error is what went wrong.
        """
        def news():
            if self.crash is not None:
                return True
            return thread_errors_before is not None and len(self.thread_errors) > thread_errors_before

        with self._news:
            self._news.wait_for(news, seconds)
            return self.crash is not None

    def wait_for_thread_error(self, since, seconds):
        """The index of a thread error reported after the first ``since`` ones, waiting up to ``seconds``."""
        with self._news:
            if self._news.wait_for(lambda: len(self.thread_errors) > since, seconds):
                return since
        return None

    def crash_text(self):
        """serve_forever()'s error in one line, with the learner's file and line, or None."""
        if self.crash is None:
            return None
        return f"serve_forever() stopped with an error{self._where(self.crash)}: {self.crash.get('error')}"

    def thread_error_text(self, index):
        event = self.thread_errors[index]
        return f"a thread of your server stopped with an error{self._where(event)}: {event.get('error')}"

    def _where(self, event):
        if not event.get("line"):
            return ""
        return f" ({shown_path(event['file'])}, line {event['line']})"

    def _read_control(self):
        dump = None
        for raw in self._process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if line == launch.DUMP_BEGIN:
                dump = []
            elif line == launch.DUMP_END:
                self._events.put({"event": "dump", "text": "\n".join(dump or [])})
                dump = None
            elif dump is not None:
                dump.append(line)
            else:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") in ("thread-error", "crashed"):
                    with self._news:
                        if event["event"] == "crashed":
                            self.crash = event
                        else:
                            self.thread_errors.append(event)
                        self._news.notify_all()
                else:
                    self._events.put(event)
        self._events.put({"event": "exited"})

    def _next_event(self, timeout):
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            return None

    def _send(self, command):
        try:
            self._process.stdin.write(command.encode() + b"\n")
            self._process.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def where_stuck(self):
        """The innermost line of the learner's file in each thread, right now."""
        if self._process is None or self._process.poll() is not None or not self._send("dump"):
            return []
        event = self._answer_to("dump")
        if event is None:
            return []
        return learner_frames(event["text"], self.learner_file)

    def stop_gracefully(self):
        """Ask the learner's server to shut down from another thread; returns the child's report."""
        if not self._send("stop"):
            return None
        event = self._next_event(launch.SHUTDOWN_GRACE_SECONDS + CONTROL_TIMEOUT)
        return event if event and event.get("event") == "stopped" else None

    def stats(self):
        """The child's thread count and memory (see ``launch.process_stats``), or None if it can't answer."""
        if not self._send("stats"):
            return None
        return self._answer_to("stats")

    def memory(self):
        """{name: bytes} of the server's process: resident now, and the peak since it started.

        Linux says both in /proc/<pid>/status (VmRSS, VmHWM); elsewhere the child reports what it
        can (``stats()``: its peak there may include its parent's, from before it started).
        """
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
                figures = {line.split(":")[0]: int(line.split()[1]) * 1024
                           for line in status if line.startswith(("VmRSS:", "VmHWM:"))}
            return {"resident memory": figures["VmRSS"], "peak memory": figures["VmHWM"]}
        except (OSError, ValueError, KeyError, IndexError):
            stats = self.stats() or {}
            names = {"rss": "resident memory", "peak_rss": "peak memory"}
            return {names[key]: stats[key] for key in names if stats.get(key) is not None}

    def _answer_to(self, command):
        """The child's ``command`` event, skipping any other event before it; None if it never comes."""
        event = self._next_event(CONTROL_TIMEOUT)
        while event is not None and event.get("event") != command:
            event = self._next_event(CONTROL_TIMEOUT)
        return event

    def wait_for_exit(self, seconds):
        """The child's exit code if it ends within ``seconds`` (a crash's exit can trail its reset), else None."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return None

    @property
    def pid(self):
        """The child's process id (for reading /proc/<pid>/status), or None before it starts."""
        return None if self._process is None else self._process.pid

    @property
    def exit_code(self):
        """The child's exit code once it has ended, else None."""
        return None if self._process is None else self._process.poll()

    def output(self):
        """What the learner's server printed (stdout and stderr), as text."""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace")

    def close(self):
        """End the child, whatever state it is in, and release everything."""
        if self._process is not None:
            try:
                self._process.stdin.close()
            except OSError:
                pass
            try:
                self._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._reader.join(timeout=2)  # ends at once: the child's output is closed
            self._process.stdout.close()
        self._stderr.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.close()


# A faulthandler dump looks like:
#   Thread 0x00007f... (most recent call first):
#     File "/path/server.py", line 42 in read_head
FRAME = re.compile(r'^\s+File "(?P<file>.+)", line (?P<line>\d+) in (?P<function>\S+)')
THREAD = re.compile(r"^(Current thread|Thread) (?P<id>0x[0-9a-f]+)")


def learner_frames(dump, learner_file):
    """From a faulthandler dump, the innermost frame in ``learner_file`` of each thread."""
    frames = []
    thread, found = None, False
    for line in dump.splitlines():
        header = THREAD.match(line)
        if header:
            thread, found = header["id"], False
            continue
        frame = FRAME.match(line)
        if frame and not found and Path(frame["file"]).resolve() == learner_file:
            number = int(frame["line"])
            code = _source_line(learner_file, number)
            frames.append(StuckFrame(thread, learner_file.name, number, frame["function"], code))
            found = True  # most recent call first: the first one is the innermost
    return frames


def function_line(path, name):
    """The line of ``def name(`` in the file at ``path`` (0 if there is none)."""
    found = re.search(rf"^[ \t]*def {name}\(", Path(path).read_text(encoding="utf-8"), re.M)
    return found.string.count("\n", 0, found.start()) + 1 if found else 0


def todo_number(text):
    """n from the text of a starter's ``NotImplementedError("TODO n: ...")``, or None."""
    found = re.search(r"\bTODO (\d+)\b", text)
    return int(found[1]) if found else None


def shown_path(path):
    """A path as a learner knows it: relative to the course folder when inside it."""
    try:
        return Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def _source_line(path, number):
    try:
        return path.read_text(encoding="utf-8").splitlines()[number - 1].strip()
    except (OSError, IndexError):
        return ""
