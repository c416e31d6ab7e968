"""Run a learner's server in a child process, so the checks can watch it from outside.

The checks never run learner code in their own process: a learner's server
may hang, spin, or never close, and a child process can always be stopped.

    python -m checks.launch <learner file> <options as JSON> <mode>

``mode`` is ``serve`` (start, then ``serve_forever`` in a thread) or
``listen`` (start only: the socket listens, nobody accepts).

The child talks to the checks over its original stdout, one JSON object a
line (the learner's own prints go to stderr instead, so they can't mix in):

    {"event": "listening", "port": 41234}
    {"event": "failed", "stage": "import", "error": "...", "file": "...", "line": 12}

and obeys commands read from stdin, one a line:

    dump   write every thread's stack (faulthandler) between two marker lines
    stop   call server.shutdown() from a new thread and report how it went
    stats  report the process's thread count and memory (for ``make attack``)
    (end of input)  exit at once

One option is the lab's, not the server's: ``"slow_path": "/x"`` makes
requests for /x wait ``SLOW_SECONDS`` before the learner's handler answers
them, to show whether one slow request holds up the others.
"""

import faulthandler
import importlib.util
import json
import os
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

HOST = "127.0.0.1"

# How long shutdown() and serve_forever() get to finish once asked to stop.
SHUTDOWN_GRACE_SECONDS = 3.0

DUMP_BEGIN = "--- stacks begin ---"
DUMP_END = "--- stacks end ---"

# How long a request for the lab's slow_path waits before it is answered.
SLOW_SECONDS = 2.0

# The main thread and the control thread both write to the checks; one at a time.
_writing = threading.Lock()


def main(argv):
    learner_file, options_json, mode = argv
    control = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1, encoding="utf-8")
    # From here on, anything the learner prints (even from C code) lands on stderr.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    faulthandler.enable(file=sys.stderr)

    def tell(event, **details):
        with _writing:
            control.write(json.dumps({"event": event, **details}) + "\n")
            control.flush()

    def fail(stage, error):
        traceback.print_exception(error, file=sys.stderr)
        tell("failed", stage=stage, **describe(error, learner_file))
        control.close()
        os._exit(3)

    def report_thread_error(args):
        """A thread died with an error (say, handle_client raised): print it and tell the checks."""
        if args.exc_type is SystemExit:
            return
        print(f"Exception in thread {args.thread.name if args.thread else '?'}:", file=sys.stderr)
        traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback, file=sys.stderr)
        tell("thread-error", **describe(args.exc_value, learner_file))

    threading.excepthook = report_thread_error

    # Commands are read on their own thread from the start, so that stacks can
    # be dumped even while the learner's file is still importing (or stuck there).
    running = {}
    threading.Thread(target=obey, args=(control, running), name="checks-control", daemon=True).start()

    try:
        module = load(learner_file)
    except BaseException as error:  # SyntaxError, ImportError, SystemExit...: all are the learner's to fix
        fail("import", error)

    server_class = getattr(module, "HTTPServer", None)
    if server_class is None:
        tell("failed", stage="import", error="the file defines no HTTPServer class", file=learner_file, line=None)
        os._exit(3)

    options = json.loads(options_json)
    slow_path = options.pop("slow_path", None)
    spare_files = options.pop("spare_files", None)
    if spare_files is not None:
        limit_open_files(spare_files)
    try:
        server = server_class(HOST, 0, **options)
        server.start()
    except BaseException as error:
        fail("start", error)
    if slow_path and callable(getattr(server, "handler", None)):
        server.handler = slowed(server.handler, slow_path)

    problem = check_port(server, module)
    if problem:
        tell("failed", stage="port", error=problem, file=learner_file, line=None)
        os._exit(3)

    running["server"] = server
    if mode == "serve":
        # Not a daemon, like a real program's main thread: the threads serve_forever() starts
        # inherit daemon=False unless the learner's code says otherwise. Every exit is os._exit().
        running["serving"] = threading.Thread(
            target=serve, args=(server, tell, learner_file), name="serve_forever", daemon=False
        )
        running["serving"].start()
    tell("listening", port=server.port, **listening_socket(server))
    threading.Event().wait()  # the control thread ends the process


def obey(control, running):
    """Carry out the commands read from stdin; exit the process at end of input."""
    for command in sys.stdin:
        command = command.strip()
        if command == "dump":
            with _writing:
                control.write(DUMP_BEGIN + "\n")
                control.flush()
                faulthandler.dump_traceback(file=control, all_threads=True)
                control.write(DUMP_END + "\n")
                control.flush()
        elif command == "stats":
            with _writing:
                control.write(json.dumps({"event": "stats", **process_stats()}) + "\n")
                control.flush()
        elif command == "stop" and "server" in running:
            report = stop(running["server"], running.get("serving"))
            with _writing:
                control.write(json.dumps({"event": "stopped", **report}) + "\n")
                control.flush()
    os._exit(0)


def limit_open_files(spare):
    """Let this process open only ``spare`` more files (and sockets) than it has open now.

    Running out of file descriptors is how a server under a flood of connections first breaks: then
    accept() raises EMFILE. A low limit lets a check see that without opening a thousand connections.
    """
    import resource  # not on Windows

    open_now = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 16
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(open_now + spare, hard), hard))


def slowed(handler, slow_path):
    """``handler``, but a request for ``slow_path`` first waits SLOW_SECONDS (a slow database, say)."""

    def handle(request):
        if getattr(request, "path", None) == slow_path:
            time.sleep(SLOW_SECONDS)
        return handler(request)

    return handle


def process_stats():
    """Threads alive now, and memory: resident now (Linux) and the peak so far, in bytes (None if unknown)."""
    stats = {"threads": threading.active_count(), "rss": None, "peak_rss": None}
    try:
        import resource  # not on Windows

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stats["peak_rss"] = peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB
    except ImportError:
        pass
    try:
        with open("/proc/self/statm") as statm:
            stats["rss"] = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        pass
    return stats


def load(path):
    # As when running `python server.py`: the file's own folder comes first on the import path.
    sys.path.insert(0, str(Path(path).resolve().parent))
    spec = importlib.util.spec_from_file_location("learner_server", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def serve(server, tell, learner_file):
    """Run the accept loop; if it dies, say so at once, so no check waits for it in vain."""
    try:
        server.serve_forever()
    except BaseException as error:
        traceback.print_exc()
        tell("crashed", **describe(error, learner_file))


def check_port(server, module):
    """Explain, in a sentence, why the port the server reports can't be trusted, or return None."""
    port = getattr(server, "port", None)
    if not isinstance(port, int) or port <= 0:
        return (
            f"after start(), server.port is {port!r}. It was asked for port 0 (any free port), "
            "so start() must read back the real port: self.port = self.socket.getsockname()[1]"
        )
    listener = getattr(server, "socket", None)
    if hasattr(listener, "getsockname"):
        bound = listener.getsockname()[1]
        if bound != port:
            return f"server.port says {port}, but server.socket is bound to port {bound}"
    if port == getattr(module, "PORT", None):
        return (
            f"it was asked for port 0 (any free port) but listens on {port}, the default: "
            "does start() bind to self.port, the port it was given?"
        )
    return None


def listening_socket(server):
    """What the checks cannot see from outside: the address bound, and whether SO_REUSEADDR is on."""
    listener = getattr(server, "socket", None)
    try:
        return {
            "bound_host": listener.getsockname()[0],
            "reuse_address": bool(listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)),
        }
    except (AttributeError, OSError, TypeError):
        return {}


def lingering_threads():
    """Names of the threads started by the learner's code that would keep Python from exiting."""
    ours = {threading.main_thread(), threading.current_thread()}
    return [
        thread.name for thread in threading.enumerate()
        if not thread.daemon and thread not in ours and thread.name != "serve_forever"
    ]


def stop(server, serving):
    """Call shutdown() from a new thread, as a real program would, and time it."""
    began = time.monotonic()
    stopper = threading.Thread(target=server.shutdown, name="shutdown", daemon=True)
    stopper.start()
    stopper.join(SHUTDOWN_GRACE_SECONDS)
    if serving is not None:
        serving.join(max(0.0, SHUTDOWN_GRACE_SECONDS - (time.monotonic() - began)))
    return {
        "shutdown_returned": not stopper.is_alive(),
        "serve_forever_returned": serving is None or not serving.is_alive(),
        "seconds": round(time.monotonic() - began, 3),
        "lingering_threads": lingering_threads(),
    }


def describe(error, learner_file):
    """The error as text, with the deepest line of the learner's file it passed through."""
    where_file, where_line = None, None
    if isinstance(error, SyntaxError) and error.filename:
        where_file, where_line = error.filename, error.lineno
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename).resolve() == Path(learner_file).resolve():
            where_file, where_line = frame.filename, frame.lineno
    text = "".join(traceback.format_exception_only(error)).strip()
    return {"error": text, "file": where_file, "line": where_line}


if __name__ == "__main__":
    main(sys.argv[1:])
