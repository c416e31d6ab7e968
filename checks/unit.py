"""Calling a learner's functions directly, for checks of code that does no I/O (a parser, a router).

``learner_module(name)`` imports one of the learner's modules from the folder of
the file being graded. ``call(function, *args)`` runs it with a time limit and
turns what can go wrong (a TODO, an exception, a hang) into a ``CheckFailed``
that names the learner's file and line.
"""

import importlib.util
import hmac
import re
import secrets
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest

from .learner_server import todo_number
from .report import CheckFailed, caret_diff, visible

# Seconds a single call gets. A parser call takes microseconds; this only bounds a hang.
CALL_LIMIT_SECONDS = 2.0


@pytest.fixture
def learner_module(learner_file):
    """``learner_module("request")`` imports request.py from beside the graded file."""
    folder = Path(learner_file).parent
    loaded = {}
    saved_path = list(sys.path)
    saved_modules = dict(sys.modules)

    def load(name):
        if name not in loaded:
            sys.path.insert(0, str(folder))
            already = sys.modules.get(name)
            if already is not None and Path(getattr(already, "__file__", "") or "").parent == folder:
                loaded[name] = already  # imported already by a sibling: use that same module
                return already
            sys.modules.pop(name, None)  # another step's module of the same name must not stand in
            spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                with time_limit(f"importing {name}.py"):
                    spec.loader.exec_module(module)
            except CheckFailed:
                raise
            except BaseException as error:
                raise CheckFailed(
                    f"Your {name}.py could not be imported{where(error, folder)}.",
                    received="".join(traceback.format_exception_only(error)).strip(),
                    raised_at=syntax_place(error) + learner_places(error),
                ) from None
            loaded[name] = module
        return loaded[name]

    yield load
    sys.path[:] = saved_path
    for name in set(sys.modules) - set(saved_modules):
        del sys.modules[name]
    sys.modules.update(saved_modules)


def call(function, *args, shown=None, **kwargs):
    """``function(*args, **kwargs)``, or a ``CheckFailed`` saying how it went wrong.

    ``shown`` is how the call reads in messages, e.g. ``parse_request(b"GET / ...")``.
    Exceptions the check expects (such as ``HTTPError``) are for the caller: pass
    them in ``expected_errors``.
    """
    expected_errors = kwargs.pop("expected_errors", ())
    shown = shown or describe_call(function, args)
    try:
        with time_limit(shown):
            return function(*args, **kwargs)
    except CheckFailed:
        raise
    except expected_errors:
        raise
    except NotImplementedError as todo:
        raise CheckFailed(
            f"{shown} is not written yet{where(todo)}.",
            received=str(todo),
            meaning="The starter's TODOs raise NotImplementedError until you replace them with code.",
            raised_at=learner_places(todo),
            todo=todo_number(str(todo)),
        ) from None
    except Exception as error:
        raise CheckFailed(
            f"{shown} raised {type(error).__name__}{where(error)}.",
            sent=input_bytes(args),
            received="".join(traceback.format_exception_only(error)).strip(),
            raised_at=learner_places(error),
        ) from None


def input_bytes(args):
    """The bytes a call was given, for showing: a bytes argument, or lines joined with CRLF."""
    if args and isinstance(args[0], (bytes, bytearray)):
        return bytes(args[0])
    if args and isinstance(args[0], list) and all(isinstance(line, bytes) for line in args[0]):
        return b"\r\n".join(args[0])
    return None


def describe_call(function, args):
    shown_args = ", ".join(short(arg) for arg in args)
    return f"{getattr(function, '__name__', 'the function')}({shown_args})"


def short(value, limit=70):
    if isinstance(value, (bytes, bytearray)) and not value:
        return 'b""'
    text = f'b"{visible(value, limit)}"'.replace("\n", "") if isinstance(value, (bytes, bytearray)) else repr(value)
    return text if len(text) <= limit + 4 else text[:limit] + "…"


def is_learner_frame(filename):
    path = Path(filename)
    a_check = path.parent.name == "tests" and (path.name.startswith("test_") or path.name == "conftest.py")
    return ("checks" not in path.parts and "site-packages" not in filename and not a_check
            and not filename.startswith(sys.base_prefix))


def learner_places(error):
    """(file, line) of each frame of the error's traceback in a learner file, innermost first."""
    frames = traceback.extract_tb(error.__traceback__)
    return [(frame.filename, frame.lineno) for frame in reversed(frames) if is_learner_frame(frame.filename)]


def syntax_place(error):
    """[(file, line)] of a syntax error, which is in no frame of its traceback; else []."""
    if isinstance(error, SyntaxError) and error.filename and error.lineno:
        return [(error.filename, error.lineno)]
    return []


def where(error, folder=None):
    """`` (request.py, line 12)`` for the deepest frame of the error in a learner file, or ""."""
    frames = traceback.extract_tb(error.__traceback__)
    if isinstance(error, SyntaxError) and error.filename:
        return f" ({Path(error.filename).name}, line {error.lineno})"
    for frame in reversed(frames):
        if is_learner_frame(frame.filename):
            return f" ({Path(frame.filename).name}, line {frame.lineno})"
    return ""


# A line that waits for a lock: "with self.lock:", "lock.acquire()".
WAITS_FOR_A_LOCK = re.compile(r"\bwith\b.*lock|lock\w*\.acquire\(", re.IGNORECASE)


@contextmanager
def time_limit(what, seconds=CALL_LIMIT_SECONDS):
    """Stop the block after ``seconds`` with a ``CheckFailed`` that says where it was (POSIX, main thread)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield  # elsewhere pytest-timeout is the only guard
        return

    def give_up(signum, frame):
        stack = traceback.extract_stack(frame)
        inner = [f for f in stack if is_learner_frame(f.filename)]
        place = inner[-1] if inner else stack[-1]
        line = (place.line or "").strip()
        if WAITS_FOR_A_LOCK.search(line):
            advice = ("That line waits for a lock, and the only thread here holds it already: a threading.Lock "
                      "taken twice by one thread waits for ever. Does a function that holds the lock call another "
                      "that takes it again? Let go of it before that call, or take it in one of the two only.")
        else:
            advice = ("If that is a loop, check that it can end: what makes its condition false, or where is the "
                      "break? Called directly, a function is given all its input at once: a loop that waits for "
                      "more (more bytes, or time to pass) waits for ever.")
        raise CheckFailed(
            f"{what} did not finish within {seconds:g} s.",
            meaning=f"It was running {Path(place.filename).name}, line {place.lineno}, in {place.name}:  "
            f"{line}\n{advice}",
        ) from None  # not chained to what the learner's code was handling: it may be huge

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def expect_refusal(error_class, function, *args, status, why, **kwargs):
    """``function(*args)`` must raise ``error_class`` (the learner's HTTPError) with ``status``."""
    shown = describe_call(function, args)
    expected = f"HTTPError with status {int(status)} {status.phrase}, because {why}"
    try:
        returned = call(function, *args, shown=shown, expected_errors=(error_class,), **kwargs)
    except error_class as refusal:
        got = getattr(refusal, "status", None)
        if got != status:
            raise CheckFailed(
                f"{shown} refused, but with the wrong status.",
                sent=input_bytes(args),
                expected=expected,
                received=f"HTTPError with status {got!r}: {refusal}",
            ) from None
        return
    raise CheckFailed(
        f"{shown} should have refused this input.",
        sent=input_bytes(args),
        expected=expected,
        received=f"it returned {short(returned, 200)}",
    )


CODE_FIRST = re.compile(r"[a-z_][\w.]*\(")


def sentence_start(words):
    """``words`` with a capital first letter, unless they begin with code such as ``content_type(...)``."""
    return words if CODE_FIRST.match(words) else words[:1].upper() + words[1:]


def expect_equal(what, got, expected, sent=None, meaning=None):
    """A ``CheckFailed`` unless ``got == expected``; ``what`` names the value in plain words."""
    if got != expected:
        both_bytes = isinstance(got, (bytes, bytearray)) and isinstance(expected, bytes)
        raise CheckFailed(
            f"{sentence_start(what)} is not right.",
            sent=sent,
            expected=repr(expected),
            received=repr(got),
            detail=caret_diff(expected, bytes(got)) if both_bytes else None,
            meaning=meaning,
        )


class Clock:
    """Seconds that pass only when a check says so (``clock.now += 60``): a check given one never sleeps."""

    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


def compare_digest_calls(monkeypatch, *modules):
    """A list that records every call of hmac.compare_digest from now on: through hmac, secrets, and the name
    each of ``modules`` (a learner's, after ``from hmac import compare_digest``) holds it by."""
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    monkeypatch.setattr(secrets, "compare_digest", spy)
    for module in modules:
        if hasattr(module, "compare_digest"):
            monkeypatch.setattr(module, "compare_digest", spy)
    return compared
