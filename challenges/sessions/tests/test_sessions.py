"""sessions — the SessionStore (sessions.py), called directly on a clock the checks move by hand."""

import os
import random
import threading
from collections import OrderedDict

import pytest

from checks.report import CheckFailed
from checks.unit import call, short

LIFETIME = 100


def new_store(sessions_module, clock, **options):
    return sessions_module.SessionStore(lifetime=LIFETIME, clock=clock, **options)


def created(store, data=None, shown="store.create()"):
    session = call(store.create, data, shown=shown) if data is not None else call(store.create, shown=shown)
    if session is None or not isinstance(getattr(session, "id", None), str):
        raise CheckFailed(f"{shown} did not return a Session.", expected="a Session with an id (a str)",
                          received=short(session, 200), meaning="create() returns the Session it made and stored.")
    return session


def found(store, session_id, shown=None):
    return call(store.get, session_id, shown=shown or f"store.get({short(session_id, 20)})")


COOKIE_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def plural(count, word):
    return f"{count} {word}" + ("" if count == 1 else "s")


def count_random_bytes(monkeypatch):
    """A list that grows by the size of each draw from the operating system's randomness: os.urandom, which
    uuid4() calls, and the same function as the random module holds it for SystemRandom, which secrets uses."""
    drawn = []

    def counting(real):
        def urandom(size):
            drawn.append(size)
            return real(size)
        return urandom

    monkeypatch.setattr(os, "urandom", counting(os.urandom))
    monkeypatch.setattr(random, "_urandom", counting(random._urandom))
    return drawn


@pytest.mark.task(4)
@pytest.mark.hint("session_id = secrets.token_urlsafe(32), and another for the CSRF token: 32 random bytes from "
                  "the operating system, in 43 URL-safe characters. Then store the Session under its id.",
                  docs="#the-store")
def test_new_sessions_get_unguessable_ids(sessions_module, clock, monkeypatch):
    """create() makes sessions with ids and CSRF tokens from secrets, stores them, and get() finds them"""
    store = new_store(sessions_module, clock)
    drawn = count_random_bytes(monkeypatch)
    made = []
    for number in range(2):
        random.seed(1234)  # ids from the random module would now come out the same in both rounds
        made += [created(store) for _ in range(100)]
    monkeypatch.undo()
    ids = [session.id for session in made]
    tokens = [session.csrf_token for session in made]
    if len(set(tokens)) < len(tokens) and len(set(ids)) == len(ids):
        raise CheckFailed(
            "Sessions share a CSRF token.",
            expected="200 different CSRF tokens, one made for each session",
            received=f"200 different ids, but {len(set(tokens))} different CSRF tokens",
            meaning="Each session needs a token of its own, made when the session is: a token made once (a "
                    "default argument, a module constant) is the same for every visitor, so one visitor's page "
                    "gives away everyone's.",
        )
    if set(ids) & set(tokens):
        raise CheckFailed(
            "A session's CSRF token is the same as a session id.",
            expected="a CSRF token of its own for each session, from secrets, unrelated to the id",
            received=f"{len(set(ids) & set(tokens))} of 200 tokens equal to ids",
            meaning="The CSRF token is written into every form of the page, where a browser extension, a cache "
                    "or a copy-and-paste can see it; the id must never be. Two separate secrets.token_urlsafe(32).",
        )
    if len(set(ids) | set(tokens)) != 400:
        raise CheckFailed(
            "Of 200 new sessions, some share an id or a CSRF token.",
            expected="200 different ids and 200 different CSRF tokens, none equal to an id",
            received=f"{len(set(ids))} different ids, {len(set(tokens))} different CSRF tokens, "
                     f"{len(set(ids) & set(tokens))} tokens equal to ids",
            meaning="random.seed() was called before each 100: ids from the random module repeat, because it is a "
                    "predictable generator. The secrets module reads the operating system's randomness, which "
                    "no seed and no earlier output predicts.",
        )
    if sum(drawn) < 32 * len(made):
        raise CheckFailed(
            "The ids and CSRF tokens do not come from the operating system's randomness.",
            expected=f"at least {32 * len(made)} random bytes drawn through secrets (or os.urandom) for "
                     f"{len(made)} sessions: 32 a session",
            received=f"{sum(drawn)} bytes drawn",
            meaning="An id made from the time, a counter, id() or a hash of them can be worked out by whoever "
                    "knows roughly when a session was made; one from the random module, by whoever has seen "
                    "enough of its output. secrets.token_urlsafe(32) reads 32 bytes that nothing predicts.",
        )
    weak = [value for value in ids + tokens if len(value) < 32 or not set(value) <= COOKIE_SAFE]
    if weak:
        raise CheckFailed(
            "A session id or CSRF token is too short, or holds characters a cookie cannot.",
            expected="secrets.token_urlsafe(32): 43 characters of A-Z, a-z, 0-9, - and _",
            received=repr(weak[0]),
            meaning="The id is the only thing a visitor shows to be who they are: it must be too long to guess "
                    "(32 random bytes: 2**256 possibilities) and fit in a cookie unchanged.",
        )
    with_data = created(store, {"user": "ada"}, shown="store.create({'user': 'ada'})")
    for session in (made[0], made[-1], with_data):
        got = found(store, session.id)
        if got is not session or (session is with_data and got.data != {"user": "ada"}):
            raise CheckFailed(
                f"store.get() of a session just created did not return it.",
                expected=f"the same Session, {session!r}",
                received=short(got, 200),
                meaning="create() keeps each session in self.sessions under its id, and get() looks it up there. "
                        "create(data) starts the session with that data.",
            )


@pytest.mark.task(4)
@pytest.mark.hint("get(): a session whose expires is at or before now is deleted and None returned; a live one "
                  "gets expires = now + self.lifetime and self.sessions.move_to_end(session_id).",
                  docs="#the-store")
def test_a_session_lives_while_it_is_used_and_ends_when_idle(sessions_module, clock):
    """A session lives lifetime seconds after its last use: get() renews it, and forgets it once it has expired"""
    store = new_store(sessions_module, clock)
    session = created(store)
    steps = [(60, True, "used 60 s after it was made"),
             (150, True, "used 90 s after its last use (150 s after it was made)"),
             (260, False, "asked for 110 s after its last use: idle longer than its lifetime of 100 s")]
    for at, alive, when in steps:
        clock.now = 1000 + at
        got = found(store, session.id)
        if (got is session) != alive:
            raise CheckFailed(
                f"store.get() of a session {when} is not right.",
                expected="the session" if alive else "None",
                received=short(got, 200),
                meaning="Each use moves the session's end to lifetime seconds later (sliding expiry): a visitor "
                        "who keeps clicking stays logged in, one who walks away is logged out after lifetime "
                        "seconds. Compare with self.clock(), never time.time(): the check moves this clock.",
            )
    if len(store) != 0:
        raise CheckFailed("An expired session is still in the store after get() found it expired.",
                          expected="len(store) == 0", received=f"len(store) == {len(store)}",
                          meaning="An expired session is deleted when it is found, so memory is given back.")
    if found(store, "no-such-id") is not None:
        raise CheckFailed("store.get('no-such-id') did not return None.", expected="None",
                          meaning="An id the store does not know finds no session.")


@pytest.mark.task(4)
@pytest.mark.hint("In create(), under the lock: while the first session in self.sessions has expired, or the store "
                  "holds max_sessions, delete it; then add the new one. get() keeps the order with move_to_end().",
                  docs="#the-store")
def test_the_store_never_holds_more_than_max_sessions(sessions_module, clock):
    """create() drops expired sessions, then the least recently used beyond max_sessions"""
    store = new_store(sessions_module, clock, max_sessions=5)
    first, *others = [created(store) for _ in range(5)]
    clock.now += 1
    found(store, first.id)  # now the most recently used
    clock.now += 1
    later = [created(store) for _ in range(3)]
    kept = [session for session in [first, *others, *later] if session.id in store.sessions]
    expected = [first, *others[3:], *later]
    if len(store) != 5 or set(map(id, kept)) != set(map(id, expected)):
        names = {id(session): name for name, session in
                 [("first", first), *[(f"other {n + 1}", s) for n, s in enumerate(others)],
                  *[(f"later {n + 1}", s) for n, s in enumerate(later)]]}
        raise CheckFailed(
            "With max_sessions=5, after 5 sessions, a use of the first, and 3 more, the store kept the wrong ones.",
            expected="first, other 4, later 1, later 2, later 3: the least recently used go first",
            received=", ".join(names[id(session)] for session in kept) + f" (len(store) == {len(store)})",
            meaning="Memory stays bounded however many visitors come: past max_sessions, the session unused the "
                    "longest is dropped. The one just used is the last to go.",
        )
    clock.now += LIFETIME + 1
    created(store)
    if len(store) != 1:
        raise CheckFailed(
            "After every session expired, create() left them in the store.",
            expected="len(store) == 1: the new session alone",
            received=f"len(store) == {len(store)}",
            meaning="Sessions nobody asks for again are never found expired by get(): create() drops them from "
                    "the front of self.sessions, where the least recently used (so the first to expire) are.",
        )


class Watched(OrderedDict):
    """The store's dict, which asks another thread whether the store's lock is held each time it is changed."""

    def __init__(self, lock, sessions=()):
        super().__init__()
        self.lock = lock
        self.unlocked = []
        for key, value in dict(sessions).items():
            OrderedDict.__setitem__(self, key, value)  # the sessions already there, without asking about the lock

    def held(self):
        answer = []
        probe = threading.Thread(target=lambda: answer.append(not self.lock.acquire(blocking=False)
                                                              or self.lock.release()))
        probe.start()
        probe.join()
        return answer[0] is True

    def note(self, what):
        if not self.held():
            self.unlocked.append(what)

    def __setitem__(self, key, value):
        self.note("adding a session")
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.note("deleting a session")
        super().__delitem__(key)

    def pop(self, *args):
        self.note("deleting a session")
        return super().pop(*args)

    def popitem(self, last=True):
        self.note("deleting a session")
        return super().popitem(last)

    def move_to_end(self, key, last=True):
        self.note("marking a session used")
        super().move_to_end(key, last)


@pytest.mark.task(4)
@pytest.mark.hint("Every thread shares one store: wrap each read-and-change of self.sessions in create() and get() "
                  "in \"with self.lock:\".", docs="#the-store")
def test_the_store_is_changed_only_under_its_lock(sessions_module, clock):
    """create() and get() change the sessions only while holding the store's lock"""
    store = new_store(sessions_module, clock, max_sessions=3)
    store.sessions = watched = Watched(store.lock)
    sessions = [created(store) for _ in range(4)]
    clock.now += 10
    found(store, sessions[-1].id)
    clock.now += LIFETIME + 1
    found(store, sessions[-1].id)
    if watched.unlocked:
        raise CheckFailed(
            f"The store's sessions were changed without the lock held: {', '.join(sorted(set(watched.unlocked)))}.",
            expected="every change of self.sessions made inside \"with self.lock:\"",
            received=plural(len(watched.unlocked), "change") + " made without it",
            meaning="Each connection has its own thread, and all share one store. Two threads that both see a "
                    "store one short of full both add a session; two that both find one expired both delete it, "
                    "and the second fails with KeyError. The lock makes each check-and-change one step.",
        )


@pytest.mark.task(5)
@pytest.mark.hint("rotate(): self.delete(session.id), then return self.create(session.data): a new id and a new "
                  "CSRF token, the same data.", docs="#a-fresh-id-at-login")
def test_rotating_moves_the_data_to_a_fresh_id(sessions_module, clock):
    """rotate() gives the session's data a new id and CSRF token, and the old id finds nothing"""
    store = new_store(sessions_module, clock)
    old = created(store, {"cart": 3}, shown="store.create({'cart': 3})")
    old_id, old_token = old.id, old.csrf_token
    new = call(store.rotate, old, shown="store.rotate(session)")
    problems = []
    if getattr(new, "id", old_id) == old_id:
        problems.append("the new session has the old id")
    if getattr(new, "csrf_token", old_token) == old_token:
        problems.append("the new session has the old CSRF token")
    if getattr(new, "data", None) != {"cart": 3}:
        problems.append(f"the new session's data is {short(getattr(new, 'data', None))}")
    if found(store, old_id, "store.get(the old id)") is not None:
        problems.append("the old id still finds a session")
    if new is not None and found(store, getattr(new, "id", None), "store.get(the new id)") is not new:
        problems.append("the new id does not find the new session")
    again = call(store.rotate, old, shown="store.rotate(session) a second time, its old id already gone (a login "
                                          "form sent twice)")
    if getattr(again, "data", None) != {"cart": 3}:
        problems.append("rotating it a second time did not give a session with its data")
    full = new_store(sessions_module, clock, max_sessions=2)
    mine, other = created(full), created(full)
    found(full, mine.id)  # the visitor logging in is the most recent; the other is the least
    call(full.rotate, mine, shown="store.rotate(session) in a full store")
    if found(full, other.id, "store.get(another visitor's id)") is not other:
        problems.append("rotating a session in a full store (max_sessions=2) pushed out another visitor's session")
    if problems:
        raise CheckFailed(
            "rotate() did not move the session to a fresh id: " + "; ".join(problems) + ".",
            expected="a Session with a new id and CSRF token and the same data; get(old id) is None; the old "
                     "session deleted before the new one is made, so a full store has room for it",
            meaning="Session fixation: an attacker who gets a victim to use an id the attacker knows (a planted "
                    "cookie, a shared computer) is logged in too once the victim logs in, unless login moves the "
                    "session to an id nobody has seen.",
        )


@pytest.mark.task(5)
@pytest.mark.hint("delete(): under the lock, self.sessions.pop(session_id, None), which does nothing for an id "
                  "the store does not know.", docs="#a-fresh-id-at-login")
def test_a_deleted_session_is_gone(sessions_module, clock):
    """delete() forgets a session at once, under the lock, and deleting an unknown id is no error"""
    store = new_store(sessions_module, clock)
    kept, gone = created(store), created(store)
    store.sessions = watched = Watched(store.lock, store.sessions)
    call(store.delete, gone.id, shown="store.delete(session.id)")
    call(store.delete, gone.id, shown="store.delete(session.id) a second time")
    call(store.delete, "no-such-id", shown="store.delete('no-such-id')")
    unlocked = list(watched.unlocked)  # delete()'s alone: get() below is another check's
    if found(store, gone.id) is not None or found(store, kept.id) is not kept or len(store) != 1:
        raise CheckFailed(
            "delete() did not forget the session it was given, and only it.",
            expected="get(deleted id) is None, the other session still found, len(store) == 1",
            received=f"len(store) == {len(store)}",
            meaning="Logging out deletes the session on the server: a copy of the cookie kept anywhere (a "
                    "shared computer, a log) is then worth nothing.",
        )
    if unlocked:
        raise CheckFailed(
            "delete() changed the store's sessions without the lock held.",
            expected="self.sessions.pop(session_id, None) inside \"with self.lock:\"",
            received=plural(len(unlocked), "change") + " made without it",
            meaning="Another thread may be in create() or get() at that moment, in the middle of its own change.",
        )
