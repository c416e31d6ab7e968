"""rate-limit — the token bucket and the table of buckets (ratelimit.py), called directly.

Time is whatever the check says: each bucket gets the times it is asked at, and no check sleeps.
A policy of 4 tokens over 8 seconds refills half a token a second, a number floats hold exactly.
"""

import sys
import threading

import pytest

from checks.report import CheckFailed
from checks.unit import call, expect_equal

START = 1000.0  # any start will do: only the differences between times matter


def set_tokens(bucket, tokens):
    """Give a bucket ``tokens`` by hand, as the given __init__ keeps them: a plain attribute."""
    try:
        bucket.tokens = tokens
    except AttributeError as problem:
        raise CheckFailed(
            "The check could not set bucket.tokens.",
            received=f"AttributeError: {problem}",
            meaning="The checks build buckets in a given state by setting bucket.tokens (and rely on "
                    "bucket.updated): keep both plain attributes, as TokenBucket.__init__ makes them.",
        ) from None


def drained(ratelimit_module, policy, capacity=4, window=8):
    """A bucket of ``capacity`` over ``window`` s made at START, with every token taken at START."""
    bucket = ratelimit_module.TokenBucket(policy("api", capacity, window), START)
    for number in range(capacity):
        if not call(bucket.take, START, shown=f"take({START}), token {number + 1} of a full bucket of {capacity}"):
            raise CheckFailed(
                f"take() refused token {number + 1} of a bucket that started with {capacity}.",
                expected=f"True for each of the first {capacity} takes: a new client may burst its whole quota",
                received="False",
                meaning="A new bucket starts full (tokens = capacity); each take() removes one whole token. "
                        "Count the tokens down (tokens - 1 is exact); a sum of 1/rate steps, as some buckets "
                        "keep, drifts by a hair and can lose the last token of a burst.",
            )
    return bucket


@pytest.mark.task(1)
@pytest.mark.hint("level(now): min(capacity, self.tokens + elapsed * rate) with elapsed = max(0, now - self.updated). "
                  "take(now): self.tokens = self.level(now); self.updated = now; then take one if tokens >= 1.",
                  docs="#the-bucket")
def test_a_bucket_lets_a_burst_through_then_refuses(ratelimit_module, policy):
    """take() allows a full bucket's worth at once, then refuses without going below zero"""
    bucket = drained(ratelimit_module, policy)
    sent = f"a bucket of 4 tokens over 8 s, made at {START:g}; take({START:g}) four times, then once more"
    got = call(bucket.take, START, shown=f"take({START}) on an empty bucket")
    expect_equal("take() on an empty bucket", got, False, sent=sent,
                 meaning="All 4 tokens were taken at this very time: there is nothing left to give.")
    level = call(bucket.level, START, shown=f"level({START})")
    expect_equal(f"level({START}) after the burst and a refusal", level, 0, sent=sent,
                 meaning="A refusal takes nothing: the bucket holds 0 tokens, not -1. A bucket that goes "
                         "below zero punishes a client for the requests it was refused.")
    for capacity, window in [(6, 8), (3, 10), (7, 60)]:  # a token every 4/3, 10/3 and 60/7 s: no float holds those
        drained(ratelimit_module, policy, capacity, window)


@pytest.mark.task(1)
@pytest.mark.hint("The refill is (now - self.updated) * self.policy.rate, added to self.tokens and capped at "
                  "capacity; take() must move self.updated to now, or the same seconds are counted twice.",
                  docs="#the-bucket")
def test_a_bucket_refills_with_time_but_never_past_capacity(ratelimit_module, policy):
    """level() grows by rate each second, up to capacity; take() needs a whole token and counts each second once"""
    bucket = drained(ratelimit_module, policy)
    steps = [
        ("level", START + 1, 0.5, "one second at 4 tokens per 8 s refills half a token"),
        ("take", START + 1, False, "half a token is not a whole one: refuse, and take nothing"),
        ("level", START + 1, 0.5, "the refused take() brought the bucket up to 1001 (0.5 tokens, updated at "
                                  "1001) and took nothing, so there is no more refill to add"),
        ("take", START + 2, True, "two seconds refill a whole token"),
        ("level", START + 2, 0, "that token was just taken"),
        ("level", START + 4, 1, "two more seconds since the last take(): one token (the seconds before it were "
                                "already counted, so counting from an older time gives too many)"),
        ("level", START + 500, 4, "a bucket left alone fills up to capacity (4), never past it: that cap is the burst"),
        ("take", START - 50, False, "a clock that goes back gives no tokens (and the bucket has none)"),
        ("level", START - 50, 0, "a clock that goes back gives no tokens and takes none: not even in take()"),
    ]
    for number, (method, when, expected, why) in enumerate(steps):
        sent = (f"a bucket of 4 tokens over 8 s, emptied at {START:g}; then, in order: "
                + ", ".join(f"{m}({w:g})" for m, w, _, _ in steps[:number + 1]))
        got = call(getattr(bucket, method), when, shown=f"{method}({when})")
        expect_equal(f"{method}({when}), {when - START:+g} s after the burst", got, expected, sent=sent,
                     meaning=f"Expected {expected!r}: {why}.")
        if number == 1:  # the refused take: it must still have brought the bucket up to date
            state = (getattr(bucket, "tokens", None), getattr(bucket, "updated", None))
            expect_equal("(bucket.tokens, bucket.updated) after the refused take(1001)", state, (0.5, START + 1),
                         sent=sent,
                         meaning="take() brings the bucket up to now first, refused or not: the half token is kept "
                                 "in tokens, and updated moves to 1001. Left at (0, 1000), the bucket would tell "
                                 "the next take() and seconds_until() the wrong story.")


@pytest.mark.task(2, needs=(1,))
@pytest.mark.hint("missing = wanted - self.tokens; 0 when missing <= 0; else math.ceil(missing / self.policy.rate): "
                  "round up, or the client comes back a moment early and is refused again.",
                  docs="#when-to-come-back")
def test_seconds_until_rounds_up_to_whole_seconds(ratelimit_module, policy):
    """seconds_until(n) is the time the missing tokens take at the policy's rate, rounded up"""
    cases = [
        # (capacity, window, tokens left, wanted, seconds, why)
        (4, 8, 0.0, 1, 2, "one token at half a token a second"),
        (4, 8, 0.0, 4, 8, "a whole bucket takes the whole window"),
        (4, 8, 0.5, 1, 1, "half a token is missing: one second"),
        (4, 8, 3.0, 4, 2, "one token missing of four"),
        (4, 8, 4.0, 4, 0, "nothing is missing"),
        (4, 8, 2.0, 1, 0, "there is a token now: no waiting"),
        (3, 10, 0.0, 1, 4, "10/3 = 3.33 s for one token: rounded up to 4, never down to 3"),
        (100, 60, 0.0, 1, 1, "0.6 s for one token rounds up to a whole second"),
    ]
    for capacity, window, tokens, wanted, expected, why in cases:
        bucket = ratelimit_module.TokenBucket(policy("api", capacity, window), START)
        set_tokens(bucket, tokens)
        shown = f"seconds_until({wanted})"
        got = call(bucket.seconds_until, wanted, shown=shown)
        expect_equal(f"{shown} with {tokens:g} tokens left of {capacity} over {window} s", got, expected,
                     meaning=f"Expected {expected}: {why}. Retry-After and RateLimit's t= are whole seconds.")
        if not isinstance(got, int):
            raise CheckFailed(f"{shown} returned {got!r}, a {type(got).__name__}.", expected="an int",
                              received=repr(got), meaning="HTTP fields carry whole seconds: return an int.")


def plural(count, noun):
    return f"{count} {noun}{'' if count == 1 else 's'}"


def held_elsewhere(lock):
    """Whether some thread holds ``lock``: another thread tries to take it without waiting (any kind of lock)."""
    free = []

    def probe():
        if lock.acquire(blocking=False):
            lock.release()
            free.append(True)

    prober = threading.Thread(target=probe)
    prober.start()
    prober.join()
    return not free


def watch_evict(buckets):
    """Replace ``buckets.evict`` with a recorder: the time, the table, each bucket's tokens and the lock, at each call."""
    calls = []

    def evict(now):
        calls.append({"now": now, "keys": list(buckets.buckets), "locked": held_elsewhere(buckets.lock),
                      "tokens": {key: bucket.tokens for key, bucket in buckets.buckets.items()}})

    buckets.evict = evict
    return calls


@pytest.mark.task(4, needs=(1, 2))
@pytest.mark.hint("Under self.lock: bucket = self.buckets.get(key); make TokenBucket(policy, now) and store it when "
                  "missing, else self.buckets.move_to_end(key); allowed = bucket.take(now); self.evict(now); "
                  "remaining = int(bucket.tokens); return Verdict(allowed, remaining, "
                  "bucket.seconds_until(remaining + 1)).", docs="#one-lock-many-threads")
def test_buckets_keep_one_bucket_per_client(ratelimit_module, policy, monkeypatch):
    """Buckets.take() keeps a bucket for each key and says what the request got, what is left, and when more comes"""
    api = policy("api", 2, 8)  # a token every 4 s
    buckets = ratelimit_module.Buckets()
    evictions = watch_evict(buckets)  # evict() is TODO 5's: here we only watch that take() calls it
    unlocked_reads = []
    seconds_until = ratelimit_module.TokenBucket.seconds_until

    def watched_seconds_until(bucket, wanted):
        if not held_elsewhere(buckets.lock):
            unlocked_reads.append(wanted)
        return seconds_until(bucket, wanted)

    monkeypatch.setattr(ratelimit_module.TokenBucket, "seconds_until", watched_seconds_until)
    steps = [
        ("alice", START, (True, 1, 4), "a new key gets a full bucket: one taken, one left, another in 4 s"),
        ("alice", START, (True, 0, 4), "the last token: none left, the next in 4 s"),
        ("alice", START + 1, (False, 0, 3), "refused; a quarter of a token refilled: the next in 3 s"),
        ("bob", START + 1, (True, 1, 4), "another key, another bucket: bob's was full"),
        ("bob", START + 4, (True, 0, 1), "bob had 1.75 tokens: one taken, 0.75 left, which is no whole token (int(), "
                                         "not round()), and the next whole one a second away"),
        ("alice", START + 4, (True, 0, 4), "four seconds after the burst, alice has a token again"),
    ]
    for number, (key, when, expected, why) in enumerate(steps):
        shown = f"take({key!r}, api, {when:g})"
        got = call(buckets.take, key, api, when, shown=shown)
        got = tuple(got) if isinstance(got, tuple) else got
        expect_equal(f"{shown} (allowed, remaining, reset)", got, expected,
                     sent="a policy of 2 tokens over 8 s; in order: "
                          + ", ".join(f"take({k!r}, {w:g})" for k, w, _, _ in steps[:number + 1]),
                     meaning=f"Expected {expected}: {why}.")
        last = evictions[-1] if evictions else None
        taken = buckets.buckets[key].tokens if key in buckets.buckets else None
        if (len(evictions) != number + 1 or last["now"] != when or key not in last["keys"] or not last["locked"]
                or last["tokens"].get(key) != taken):
            raise CheckFailed(
                f"{shown} did not tidy the table as it should.",
                expected=f"one call of self.evict({when:g}) for each take, with the lock held, once the bucket is "
                         "in the table and the token taken",
                received=f"{plural(len(evictions), 'call')} of evict() for {plural(number + 1, 'take')}"
                         + ("" if last is None else
                            f"; the last was evict({last['now']:g}), with the lock {'held' if last['locked'] else 'free'}"
                            f", the table holding {last['keys']}"
                            + (f", and {key}'s bucket at {last['tokens'][key]:g} tokens, "
                               f"{taken:g} after take()" if len(evictions) == number + 1 and key in last["tokens"]
                               and taken is not None and last["tokens"][key] != taken else "")),
                meaning="take() is the one place the table grows, so it is the place to keep it small: once the "
                        "bucket is in and its token taken, call self.evict(now) while still holding the lock. "
                        "Called before the take, evict() may drop the very bucket about to be used.",
            )
    if unlocked_reads:
        raise CheckFailed(
            "take() read the Verdict after releasing the lock.",
            expected="seconds_until() called inside the with self.lock: block, like everything else in take()",
            received=f"seconds_until() called {plural(len(unlocked_reads), 'time')} with the lock free",
            meaning="Between the release and the read, another thread may take from the same bucket: the "
                    "verdict would tell this request what is left after someone else's request.",
        )
    expect_equal("the keys of buckets.buckets, least recently used first", list(buckets.buckets), ["bob", "alice"],
                 sent="alice, alice, alice, bob, bob, alice",
                 meaning="alice came first but asked last: she is the most recent, and goes after bob. evict() drops "
                         "from the front, so take() must move the key it used to the end "
                         "(self.buckets.move_to_end(key)), or a busy client is the first forgotten.")


@pytest.fixture
def frequent_thread_switches():
    """Python switches threads every 5 ms; here every microsecond, so that a race shows at once."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def in_threads(threads, work):
    """Run ``work(number, meet)`` in ``threads`` threads at once (``meet()`` waits until all are there); raise the first error."""
    barrier = threading.Barrier(threads)
    errors = []

    def run(number):
        try:
            work(number, barrier.wait)
        except threading.BrokenBarrierError:
            pass  # another thread failed: its error is raised below
        except Exception as error:
            errors.append(error)
            barrier.abort()  # let the others stop waiting for it

    workers = [threading.Thread(target=run, args=(number,)) for number in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]


def race_for_new_keys(buckets, policy, threads=8, keys=200):
    """``threads`` threads that take once from each of ``keys`` new keys, all together: how many keys gave more than one."""
    allowed = [[0] * keys for _ in range(threads)]

    def client(number, meet):
        for key in range(keys):
            meet()  # all threads meet each new key at the same moment
            allowed[number][key] += bool(buckets.take(f"new-{key}", policy, START)[0])

    in_threads(threads, client)
    return sum(1 for key in range(keys) if sum(row[key] for row in allowed) > 1)


def race(buckets, policy, threads=8, takes=40):
    """``threads`` threads that each take ``takes`` tokens from one new key at the same moment: how many got one."""
    allowed = [0] * threads
    remaining = []  # what each allowed take was told was left

    def client(number, meet):
        meet()
        for _ in range(takes):
            verdict = buckets.take("shared", policy, START)
            allowed[number] += bool(verdict[0])
            if verdict[0]:
                remaining.append(verdict[1])

    in_threads(threads, client)
    return sum(allowed), sorted(remaining)


@pytest.mark.task(4, needs=(1,))
@pytest.mark.hint("Every thread of the server shares one Buckets: hold self.lock (a threading.Lock) from "
                  "self.buckets.get(key) to reading the Verdict, so no other thread comes between the read "
                  "and the write of a bucket, nor makes a second bucket for the same key.",
                  docs="#one-lock-many-threads")
def test_many_threads_never_get_more_than_the_quota(ratelimit_module, policy, frequent_thread_switches):
    """8 threads taking from one new client's bucket at once get exactly its capacity, never more"""
    api = policy("api", 100, 3600)
    # A race shows in about one round in five without a lock: a hundred rounds (a third of a second)
    # leave a bucket without one no chance to pass.
    for attempt in range(100):
        buckets = ratelimit_module.Buckets()
        buckets.evict = lambda now: None  # TODO 5's part; this check is about take() alone
        got, told = call(race, buckets, api, shown="8 threads × 40 calls of take('shared', api, 1000) at once")
        if got == 100 and told != list(range(100)):
            repeated = sorted({left for left in told if told.count(left) > 1})
            raise CheckFailed(
                f"8 threads took exactly 100 tokens, but their verdicts did not count down 99, 98, ... 0 "
                f"(round {attempt + 1}).",
                expected="each of remaining = 99, 98, ..., 0 told to exactly one allowed take",
                received=f"some told twice: {repeated[:10]}" if repeated else f"{told[:10]} ...",
                meaning="The Verdict was read after the lock was released, when another thread had already "
                        "taken from the bucket: read remaining and reset inside the with block.",
            )
        if got != 100:
            raise CheckFailed(
                f"8 threads, 40 takes each at the same time, got {got} tokens from a bucket of 100 (round {attempt + 1}).",
                expected="exactly 100 allowed, 220 refused",
                received=f"{got} allowed, {320 - got} refused",
                meaning="Two threads read the same bucket, both take the same token, or both make a new bucket "
                        "for the same key: each thinks it is alone. The server runs a thread per connection, so "
                        "this is a client that gets past its quota by opening connections at once.",
            )
    # This race shows in about one round in two; thirty rounds leave it no chance.
    single = policy("api", 1, 3600)
    for attempt in range(30):
        buckets = ratelimit_module.Buckets()
        buckets.evict = lambda now: None
        doubled = call(race_for_new_keys, buckets, single,
                       shown="8 threads, each taking once from each of 200 new keys with a bucket of 1")
        if doubled:
            raise CheckFailed(
                f"{doubled} of 200 new clients, each with a bucket of one token, let more than one request through "
                f"(round {attempt + 1}).",
                sent="8 threads, meeting at each of new-0, new-1, ... new-199 (capacity 1) to take its token together",
                expected="each new client's single token given once",
                received=f"{doubled} clients gave it more than once",
                meaning="Two threads found no bucket for the same new key, and each made one: the client got two "
                        "bursts. Finding or making the bucket must happen under the lock too.",
            )


def table_of(ratelimit_module, buckets, rows):
    """Put buckets in ``buckets.buckets`` by hand, least recently used first: ``rows`` of (key, policy, tokens, updated)."""
    for key, row_policy, tokens, updated in rows:
        bucket = ratelimit_module.TokenBucket(row_policy, updated)
        set_tokens(bucket, tokens)
        buckets.buckets[key] = bucket


def evict(buckets, now, shown):
    with buckets.lock:  # as take() calls it
        call(buckets.evict, now, shown=shown)
    return list(buckets.buckets)


@pytest.mark.task(5, needs=(1,))
@pytest.mark.hint("In evict(now): while self.buckets is not empty, look at the first (least recently used) "
                  "bucket: delete it if len(self.buckets) > self.max_clients or oldest.level(now) >= its "
                  "capacity; else stop.", docs="#forgetting-clients")
def test_buckets_full_again_are_forgotten(ratelimit_module, policy):
    """evict() drops the buckets that have refilled, so the table holds the clients of the last window, not every one"""
    api = policy("api", 4, 8)  # half a token a second
    buckets = ratelimit_module.Buckets()
    rows = [(f"198.51.100.{number}", api, 3.0, START) for number in range(500)]  # full again at 1002
    rows += [("busy", api, 0.0, START), ("newcomer", api, 3.0, START + 3)]  # full at 1008 and 1005
    table_of(ratelimit_module, buckets, rows)
    kept = evict(buckets, START + 1, f"evict({START + 1:g})")
    expect_equal(f"the number of buckets after evict({START + 1:g})", len(kept), 502,
                 sent="500 clients with 3 tokens of 4 at 1000, then busy (0 at 1000), then newcomer (3 at 1003)",
                 meaning="At 1001 the 500 hold 3.5 tokens: none is full yet, so none may be forgotten.")
    kept = evict(buckets, START + 3, f"evict({START + 3:g})")
    if kept != ["busy", "newcomer"]:
        shown = repr(kept) if len(kept) <= 4 else f"{len(kept)} keys: {kept[0]!r}, {kept[1]!r}, ..., {kept[-1]!r}"
        raise CheckFailed(
            f"The table after evict({START + 3:g}) is not right.",
            sent="500 clients with 3 tokens of 4 at 1000, then busy (0 at 1000), then newcomer (3 at 1003)",
            expected="['busy', 'newcomer']",
            received=shown,
            meaning="At 1003 the 500 are full again: forget them (a full bucket is what a new client gets "
                    "anyway). Keep busy, still refilling (1.5 tokens), and newcomer. A table that only grows "
                    "is memory any client can exhaust by sending from many addresses.",
        )


@pytest.mark.task(5, needs=(1,))
@pytest.mark.hint("When len(self.buckets) > self.max_clients, drop the first (least recently used) bucket even if "
                  "it is not full, as nginx's limit_req does when its zone is full; stop as soon as the table is "
                  "within max_clients and the first bucket is not full.", docs="#forgetting-clients")
def test_the_table_never_holds_more_than_max_clients(ratelimit_module, policy):
    """evict() on Buckets(max_clients=100) keeps the 100 most recently used clients, no more and no fewer"""
    api = policy("api", 4, 3600)  # nothing refills during this check
    buckets = ratelimit_module.Buckets(max_clients=100)
    keys = [f"203.0.113.{number}" for number in range(150)]
    table_of(ratelimit_module, buckets, [(key, api, 1.0, START) for key in keys])
    kept = evict(buckets, START, f"evict({START:g}) with 150 clients in a table of at most 100")
    if kept != keys[50:]:
        raise CheckFailed(
            "evict() did not keep the 100 most recently used clients.",
            sent="Buckets(max_clients=100) holding 150 buckets, none full, least recently used first",
            expected=f"the last 100 keys, {keys[50]} to {keys[-1]}",
            received=f"{len(kept)} keys" + (f", {kept[0]} to {kept[-1]}" if kept else ""),
            meaning="Each bucket is memory; a client that sends from a million addresses (an IPv6 /64 has far "
                    "more) must not be able to make a million. Past max_clients, drop from the front, the least "
                    "recently used, and only until the table fits: a bucket dropped while there is room forgets a "
                    "client that is still spending its quota.",
        )
