"""The rate-limit extension: a token bucket per client, so that no one client can take the whole server.

A ``Policy`` gives each client a bucket of ``capacity`` tokens that refills
evenly, ``capacity`` tokens every ``window`` seconds. A request takes one
token; a client whose bucket is empty gets ``429 Too Many Requests`` with a
``Retry-After`` saying when the next token comes. A client that sends no faster
than the refill is never refused; one that bursts may send ``capacity``
requests at once, then waits.

Every limited answer says where the client stands, in the two fields of the
IETF httpapi draft "RateLimit header fields for HTTP"
(draft-ietf-httpapi-ratelimit-headers-10, September 2025)::

    RateLimit-Policy: "default";q=60;w=60    the policy: a quota of 60 requests, refilled over 60 seconds
    RateLimit: "default";r=57;t=1            where you stand: 57 left; one more comes in 1 s

The clock is passed in (``clock=``), so the checks move time by hand and never
sleep; the buckets are shared by every connection's thread, so one lock guards
them; and they are forgotten once full again (a full bucket is what a new
client gets anyway), so memory follows the clients of the last ``window``
seconds, never all the clients ever seen, with ``max_clients`` as a hard cap.
"""

import hmac
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus
from typing import NamedTuple

from middleware import Middleware, covers
from response import error_response

# How many clients' buckets the server keeps at most. Past it, the least recently seen client's bucket
# is dropped, as nginx's limit_req does when its zone is full: memory stays bounded whatever arrives.
MAX_CLIENTS = 10_000


@dataclass(frozen=True)
class Policy:
    """``capacity`` requests at most in a burst, refilled evenly over ``window`` seconds: a rate of capacity / window."""

    name: str
    capacity: int
    window: int

    def __post_init__(self):
        if self.capacity < 1 or self.window < 1:
            raise ValueError(f"a policy needs a capacity and a window of at least 1, not {self.capacity} and {self.window}")

    @property
    def rate(self):
        """Tokens added each second."""
        return self.capacity / self.window


class Verdict(NamedTuple):
    """What one request got: allowed or not, and the client's bucket right after it."""

    allowed: bool
    remaining: int  # whole tokens left
    reset: int  # seconds until one more whole token: the draft's t=, and the Retry-After of a refusal


class TokenBucket:
    """One client's tokens under one policy. Not thread-safe on its own: ``Buckets`` holds the lock."""

    __slots__ = ("policy", "tokens", "updated")  # one per client: keep each small

    def __init__(self, policy, now):
        self.policy = policy
        self.tokens = float(policy.capacity)  # a client never seen before starts with a full bucket
        self.updated = now

    # --8<-- [start:bucket]
    def level(self, now):
        """The tokens the bucket holds at ``now``: what was left, plus the refill since, never above capacity."""
        # >>> SOLUTION 1 #the-bucket: add rate tokens for each second since self.updated (none if the clock went back), capped at capacity
        elapsed = max(0.0, now - self.updated)  # a clock that steps back must not drain the bucket
        return min(float(self.policy.capacity), self.tokens + elapsed * self.policy.rate)
        # <<< SOLUTION

    def take(self, now):
        """Refill up to ``now``, then take one token: True, or False (and nothing taken) when there is not a whole one."""
        # >>> SOLUTION 1 #the-bucket: bring the bucket up to now (tokens and updated), then take one whole token if there is one
        self.tokens = self.level(now)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
        # <<< SOLUTION
    # --8<-- [end:bucket]

    # --8<-- [start:seconds-until]
    def seconds_until(self, wanted):
        """Whole seconds, rounded up, until the bucket holds ``wanted`` tokens, counted from its last update."""
        # >>> SOLUTION 2 #when-to-come-back: divide the missing tokens by the rate, rounded up to a whole second; 0 when none are missing
        missing = wanted - self.tokens
        if missing <= 0:
            return 0
        return math.ceil(missing / self.policy.rate)  # up: a client told to come back early is refused again
        # <<< SOLUTION
    # --8<-- [end:seconds-until]


class Buckets:
    """The buckets of the clients seen lately, least recently used first; safe to share between threads."""

    def __init__(self, max_clients=MAX_CLIENTS):
        self.max_clients = max_clients
        self.lock = threading.Lock()
        self.buckets = OrderedDict()  # key -> TokenBucket, in the order the keys were last used

    def __len__(self):
        return len(self.buckets)

    # --8<-- [start:take]
    def take(self, key, policy, now):
        """Take a token from ``key``'s bucket (a full one for a key not seen lately) and tell what came of it."""
        # >>> SOLUTION 4 #one-lock-many-threads: hold self.lock while you find or make the bucket, mark it the most recent, take, evict, and read the Verdict
        with self.lock:  # read, change and read again as one step: no other thread may come between
            bucket = self.buckets.get(key)
            if bucket is None:
                bucket = self.buckets[key] = TokenBucket(policy, now)
            else:
                self.buckets.move_to_end(key)  # the order is "least recently used first"
            allowed = bucket.take(now)
            self.evict(now)
            remaining = int(bucket.tokens)
            return Verdict(allowed, remaining, bucket.seconds_until(remaining + 1))
        # <<< SOLUTION
    # --8<-- [end:take]

    # --8<-- [start:evict]
    def evict(self, now):
        """Forget the least recently used buckets while they are full again, and any beyond max_clients. Call with the lock held."""
        # >>> SOLUTION 5 #forgetting-clients: drop buckets from the front (least recent) while there are too many or the front one is full at now
        while self.buckets:
            key, oldest = next(iter(self.buckets.items()))
            if len(self.buckets) <= self.max_clients and oldest.level(now) < oldest.policy.capacity:
                break  # the rest were used more recently: leave them for a later request to find full
            del self.buckets[key]
        # <<< SOLUTION
    # --8<-- [end:evict]


class RateLimitMiddleware(Middleware):
    """Gives each client a bucket per policy, and answers 429 when it is empty.

    ``limits`` lists (path pattern, Policy or None) pairs; the first whose
    pattern covers the path (as in AuthMiddleware: "/static/*" covers
    everything under /static/, "/health" that path alone, "*" every path)
    decides, and None means "never limited". A path no pattern covers is not
    limited either. ``tokens`` are the API tokens that count as a client of
    their own; ``clock`` returns seconds, and only its differences matter.
    """

    def __init__(self, limits, tokens=(), clock=time.monotonic, max_clients=MAX_CLIENTS):
        self.limits = list(limits)
        self.tokens = [token.encode("utf-8") for token in tokens]
        self.clock = clock
        self.buckets = Buckets(max_clients)

    def policy_for(self, path):
        """The Policy that limits ``path``, or None."""
        for pattern, policy in self.limits:
            if covers(pattern, path):
                return policy
        return None

    # --8<-- [start:client-key]
    def client_key(self, request):
        """Who is asking: ("token", the token) for a request with one of self.tokens, else ("address", its IP address)."""
        # >>> SOLUTION 3 #who-is-asking: name the client: a Bearer token that is one of self.tokens (compared in constant time), else the address
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and given.strip():
            given = given.strip().encode("utf-8")
            for token in self.tokens:
                if hmac.compare_digest(given, token):
                    return ("token", token)
        # A token we do not know is no identity: counting it apart would give a fresh bucket to every made-up one.
        return ("address", request.client)
        # <<< SOLUTION
    # --8<-- [end:client-key]

    # --8<-- [start:before]
    def before_request(self, request):
        # >>> SOLUTION 6 #too-many-requests: find the policy (none: let it through); take a token from the client's bucket; keep (policy, verdict) as request.rate_limit; 429 with Retry-After when refused
        policy = self.policy_for(request.path)
        if policy is None:
            return None
        verdict = self.buckets.take((policy.name, *self.client_key(request)), policy, self.clock())
        request.rate_limit = (policy, verdict)  # after_request tells the client where it stands
        if verdict.allowed:
            return None
        response = error_response(HTTPStatus.TOO_MANY_REQUESTS,
                                  f"Too many requests: you may send {policy.capacity} every {policy.window} s. "
                                  f"Try again in {verdict.reset} s.")
        response.headers["Retry-After"] = str(verdict.reset)  # a refused bucket holds less than a token: 1 s or more
        return response
        # <<< SOLUTION
    # --8<-- [end:before]

    # --8<-- [start:after]
    def after_request(self, request, response):
        # >>> SOLUTION 7 #telling-clients-where-they-stand: add RateLimit-Policy and RateLimit when the request has a rate_limit (policy, verdict), the 429 too; return the response
        limited = getattr(request, "rate_limit", None)
        if limited is not None:
            policy, verdict = limited
            response.headers["RateLimit-Policy"] = f'"{policy.name}";q={policy.capacity};w={policy.window}'
            response.headers["RateLimit"] = f'"{policy.name}";r={verdict.remaining};t={verdict.reset}'
        return response
        # <<< SOLUTION
    # --8<-- [end:after]
