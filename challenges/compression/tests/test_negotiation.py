"""compression — negotiation and coding, checked by calling your functions directly.

These call accepted_codings, choose_coding, worth_compressing and gzip_chunks (middleware.py),
CompressionMiddleware's two hooks, and create_app (app.py), without a network. Python's own gzip
and zlib modules undo what your code compresses; tracemalloc measures what it holds in memory.
"""

import gzip
import hashlib
import random
import re
import tracemalloc
import zlib
from http import HTTPStatus

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from checks.properties import course_settings
from checks.report import CheckFailed, visible
from checks.unit import call, expect_equal, short

GZIP_MAGIC = b"\x1f\x8b\x08"  # gzip's first bytes: its signature, then 8 for deflate (RFC 1952, section 2.3.1)


def weights_of(middleware_module, field):
    got = call(middleware_module.accepted_codings, field, shown=f"accepted_codings({field!r})")
    if not isinstance(got, dict) or not {"gzip", "identity"} <= set(got):
        raise CheckFailed(f"accepted_codings({field!r}) did not return the weights of both codings.",
                          expected='a dict such as {"gzip": 1.0, "identity": 0.001}', received=short(got, 200))
    return {coding: round(float(got[coding]), 3) for coding in ("gzip", "identity")}


RFC_ACCEPT_ENCODING = ("Accept-Encoding names codings, each with an optional weight ;q= from 0 to 1 (RFC 9110, "
                       "sections 12.4.2 and 12.5.3); q=0 means \"not acceptable\". \"*\" stands for every coding "
                       "the field does not name, identity included. identity that is not named (nor by \"*\") is "
                       "acceptable, after any coding the client does name.")


@pytest.mark.task(1)
@pytest.mark.hint("Split the field at commas, then each entry at ';'. The coding is lower-cased (x-gzip is gzip); "
                  "a q parameter gives its weight, none means 1. gzip not named: the weight of \"*\", else 0. "
                  "identity not named: the weight of \"*\", else UNNAMED_IDENTITY.", docs="#reading-accept-encoding")
def test_accept_encoding_is_read_into_weights(middleware_module):
    """accepted_codings reads the weights of gzip and identity: q-values, "*", any case, x-gzip, no field at all"""
    unnamed = middleware_module.UNNAMED_IDENTITY
    for field, gzip_weight, identity_weight, why in [
        ("gzip", 1.0, unnamed, "gzip named without a weight: 1; identity not named: acceptable, after gzip"),
        ("gzip, deflate, br, zstd", 1.0, unnamed, "what browsers send: the codings this server lacks do not matter"),
        ("GZip", 1.0, unnamed, "content codings are case-insensitive (RFC 9110, section 8.4.1)"),
        ("x-gzip", 1.0, unnamed, "x-gzip is the old name of gzip (RFC 9110, section 8.4.1.3)"),
        ("gzip;q=0.5", 0.5, unnamed, "a weight"),
        ("gzip ; Q=0.25", 0.25, unnamed, "spaces around the ';', and the parameter's name in any case"),
        ("gzip;q=0", 0.0, unnamed, "q=0 means not acceptable: 0, not 'no weight, so 1'"),
        ("gzip;q=0.000", 0.0, unnamed, "0.000 is 0 too"),
        ("gzip;q=1.000, identity;q=0.5", 1.0, 0.5, "identity named, with its weight"),
        ("identity;q=0", 0.0, 0.0, "identity refused; gzip not named, and no \"*\": not acceptable either"),
        ("*", 1.0, 1.0, "\"*\" stands for every coding not named: gzip and identity alike"),
        ("*;q=0", 0.0, 0.0, "\"*;q=0\": every coding not named is refused, identity included"),
        ("*;q=0, identity", 0.0, 1.0, "identity named: it is its own weight that counts, not \"*\"'s"),
        ("gzip;q=0, *", 0.0, 1.0, "gzip named with q=0: refused, whatever \"*\" says"),
        ("br;q=1, *;q=0.3", 0.3, 0.3, "gzip and identity both come under \"*\""),
        ("deflate, br", 0.0, unnamed, "gzip not named, and no \"*\": not acceptable"),
        (" , gzip;q=0.8 ,, ", 0.8, unnamed, "empty entries in a list are allowed, and skipped (RFC 9110, section 5.6.1)"),
        ("", 0.0, 1.0, "an empty field: the client wants no coding at all, only identity"),
        (None, 0.0, 1.0, "no field: any coding would be allowed, but a client that says nothing may not undo gzip"),
    ]:
        got = weights_of(middleware_module, field)
        expect_equal(f"the weights for Accept-Encoding: {field!r}" if field is not None else
                     "the weights for a request with no Accept-Encoding", got,
                     {"gzip": gzip_weight, "identity": round(identity_weight, 3)},
                     meaning=f"{why}. {RFC_ACCEPT_ENCODING}")


@pytest.mark.task(1)
@pytest.mark.hint("Check the weight against QVALUE (QVALUE.fullmatch(text)) before float(): an entry whose "
                  "weight is not a qvalue is skipped, as if the client had not sent it.",
                  docs="#reading-accept-encoding")
def test_a_weight_that_is_not_a_qvalue_is_ignored(middleware_module):
    """An entry whose weight is no qvalue (q=abc, q=2, q=0.0001, q=) is skipped: never an error, never a yes"""
    unnamed = middleware_module.UNNAMED_IDENTITY
    for field, expected, why in [
        ("gzip;q=abc", {"gzip": 0.0, "identity": unnamed}, "abc is not a number"),
        ("gzip;q=", {"gzip": 0.0, "identity": unnamed}, "an empty weight"),
        ("gzip;q=2", {"gzip": 0.0, "identity": unnamed}, "a weight is at most 1"),
        ("gzip;q=-1", {"gzip": 0.0, "identity": unnamed}, "a weight is at least 0"),
        ("gzip;q=0.0001", {"gzip": 0.0, "identity": unnamed}, "a weight has at most three decimals"),
        ("gzip;q=1.5", {"gzip": 0.0, "identity": unnamed}, "1.5 is more than 1"),
        ("gzip;q=nan", {"gzip": 0.0, "identity": unnamed}, "float() reads nan, but it is no weight"),
        ("gzip;q=inf", {"gzip": 0.0, "identity": unnamed}, "float() reads inf, but it is no weight"),
        ("gzip;q=1e-1", {"gzip": 0.0, "identity": unnamed}, "float() reads 1e-1, but a qvalue has no exponent"),
        ("gzip;q=0.5, identity;q=zero", {"gzip": 0.5, "identity": unnamed},
         "the bad entry is identity's: it is skipped, and identity is as if not named"),
        ("identity;q=0x1, *;q=0", {"gzip": 0.0, "identity": 0.0},
         "the bad identity entry is skipped, so \"*;q=0\" refuses identity"),
    ]:
        got = weights_of(middleware_module, field)
        expected = {coding: round(weight, 3) for coding, weight in expected.items()}
        expect_equal(f"the weights for Accept-Encoding: {field!r}", got, expected,
                     meaning=f"{why}. A qvalue is 0 to 1 with at most three decimals (RFC 9110, section 12.4.2): "
                     "an entry with any other weight says nothing we can trust, so it is skipped. Never a 500 "
                     "for a client's typo, and never gzip for a client that may not have meant yes.")


# The reference this property compares with: RFC 9110, sections 12.4.2 and 12.5.3, as the course reads them.
CODINGS = ["gzip", "x-gzip", "identity", "*", "deflate", "br", "compress", "zstd"]
GOOD_WEIGHTS = ["0", "0.", "0.5", "0.25", "0.001", "0.999", "1", "1.", "1.0", "1.000", "0.000"]
BAD_WEIGHTS = ["2", "abc", "", "0.0001", "-1", "1.1", ".5", "1.0000", "0.5.5", "5 5"]


@st.composite
def accept_encoding_fields(draw):
    """An Accept-Encoding field as a client may send it: any case, spaces, weights good and bad, each coding once."""
    chosen = draw(st.lists(st.sampled_from(CODINGS), max_size=6, unique_by=lambda c: "gzip" if c == "x-gzip" else c))
    entries, model = [], {}
    for coding in chosen:
        shown = "".join(draw(st.sampled_from([ch.lower(), ch.upper()])) for ch in coding)
        space = draw(st.sampled_from(["", " ", "\t"]))
        weight = draw(st.one_of(st.none(), st.sampled_from(GOOD_WEIGHTS), st.sampled_from(BAD_WEIGHTS)))
        if weight is None:
            entries.append(shown)
            value = 1.0
        else:
            entries.append(f"{shown}{space};{space}{draw(st.sampled_from(['q', 'Q']))}={weight}")
            value = float(weight) if weight in GOOD_WEIGHTS else None
        if value is not None:
            model["gzip" if coding == "x-gzip" else coding] = value
    separator = draw(st.sampled_from([",", ", ", " ,\t"]))
    return separator.join(entries), model


def rfc_weights(field, model, unnamed):
    if not field.strip(" \t"):
        return {"gzip": 0.0, "identity": 1.0}  # an empty field: identity only
    anything = model.get("*")
    return {"gzip": model.get("gzip", 0.0 if anything is None else anything),
            "identity": round(model.get("identity", unnamed if anything is None else anything), 3)}


@pytest.mark.task(1)
@pytest.mark.hint("Every entry counts on its own: its coding (any case, x-gzip as gzip), its weight (a qvalue, or "
                  "1), or nothing at all when the weight is no qvalue. Then \"*\" fills in gzip and identity when "
                  "they are not named.", docs="#reading-accept-encoding")
def test_weights_agree_with_the_rfc_on_fields_drawn_at_random(middleware_module):
    """Accept-Encoding fields drawn at random get the weights RFC 9110 gives them"""
    weights_agree(middleware_module)


@course_settings(max_examples=300)
@given(drawn=accept_encoding_fields())
@example(drawn=("Gzip;Q=0.5, *;q=0", {"gzip": 0.5, "*": 0.0}))
@example(drawn=("identity;q=1., X-GZIP;q=0.999", {"identity": 1.0, "gzip": 0.999}))
def weights_agree(middleware_module, drawn):
    field, model = drawn
    expected = rfc_weights(field, model, middleware_module.UNNAMED_IDENTITY)
    got = weights_of(middleware_module, field)
    expect_equal(f"the weights for Accept-Encoding: {field!r}", got, expected, meaning=RFC_ACCEPT_ENCODING)


@pytest.mark.task(2)
@pytest.mark.hint("gzip when its weight is above 0 and at least identity's; else identity when its weight is "
                  "above 0; else None.", docs="#choosing-a-coding")
def test_the_coding_with_the_highest_weight_is_chosen(middleware_module):
    """choose_coding picks the heavier coding, gzip on a tie, and None only when both weigh 0"""
    for gzip_weight, identity_weight, expected, why in [
        (1.0, 0.001, "gzip", "Accept-Encoding: gzip"),
        (0.001, 0.001, "gzip", "a tie: gzip, fewer bytes for the same page"),
        (1.0, 1.0, "gzip", "Accept-Encoding: * (a tie)"),
        (0.5, 1.0, "identity", "Accept-Encoding: gzip;q=0.5, identity: the client prefers the body as it is"),
        (0.8, 0.9, "identity", "identity weighs more"),
        (0.0, 1.0, "identity", "gzip refused (or not named)"),
        (0.0, 0.001, "identity", "Accept-Encoding: gzip;q=0: identity is still acceptable"),
        (1.0, 0.0, "gzip", "Accept-Encoding: gzip, identity;q=0: only gzip, and gzip we can send"),
        (0.3, 0.0, "gzip", "identity refused, gzip acceptable however lightly"),
        (0.0, 0.0, None, "Accept-Encoding: identity;q=0 (or *;q=0): nothing this server can send is acceptable"),
    ]:
        weights = {"gzip": gzip_weight, "identity": identity_weight}
        got = call(middleware_module.choose_coding, weights, shown=f"choose_coding({weights})")
        expect_equal(f"choose_coding({weights})", got, expected,
                     meaning=f"{why}. The acceptable coding with the highest weight is preferred (RFC 9110, "
                     "section 12.5.3), and a weight of 0 is never acceptable. None means 406 Not Acceptable, so "
                     "it is only for a client that refuses both codings this server has.")


def a_response(make_response, media_type, size=4096, status=200, streamed=False, length="size", headers=()):
    body = (b"<p>repeat me</p>\n" * (size // 17 + 1))[:size]
    fields = {"Content-Type": media_type, **dict(headers)} if media_type else dict(headers)
    if streamed:
        return make_response(status, b"", fields, chunks=iter([body]), length=size if length == "size" else length)
    return make_response(status, body, fields)


def judged(middleware_module, response, what):
    got = call(middleware_module.worth_compressing, response, shown=f"worth_compressing({what})")
    return bool(got)


@pytest.mark.task(3)
@pytest.mark.hint("Take the media type: Content-Type before any ';', stripped and lower-cased. In COMPRESSED_TYPES, "
                  "or starting with one of COMPRESSED_FAMILIES but not in TEXT_IMAGES: not worth it.",
                  docs="#worth-compressing")
def test_compressed_types_are_not_compressed_again(middleware_module, make_response):
    """worth_compressing says yes for text, JSON, JavaScript and SVG; no for PNG, JPEG, WebP, WOFF2, zip, gzip, MP4"""
    for media_type, expected in [
        ("text/html; charset=utf-8", True), ("text/css; charset=utf-8", True), ("text/javascript; charset=utf-8", True),
        ("application/json", True), ("image/svg+xml; charset=utf-8", True), ("application/octet-stream", True),
        ("image/png", False), ("image/jpeg", False), ("image/webp", False), ("image/gif", False),
        ("IMAGE/PNG", False), ("image/avif ; q=1", False), ("font/woff2", False), ("application/zip", False),
        ("application/gzip", False), ("video/mp4", False), ("audio/mpeg", False),
    ]:
        response = a_response(make_response, media_type)
        got = judged(middleware_module, response, f"a 200 of 4096 bytes of {media_type}")
        expect_equal(f"worth_compressing for 4096 bytes of {media_type}", got, expected,
                     meaning="Images (but SVG, which is XML: text), sound, video, fonts in WOFF and archives are "
                     "compressed already, by methods made for them: what is left looks random, and gzip only adds "
                     "its own bytes and spends time. Text of every kind compresses, often to a third or less. A "
                     "media type is case-insensitive, and its parameters (; charset=...) are not part of it.")


@pytest.mark.task(3)
@pytest.mark.hint("No body: status under 200, 204 or 304. Coded already: a Content-Encoding field. The size is "
                  "response.length for a stream (None: unknown, so worth it), len(response.body) otherwise; under "
                  "MIN_SIZE is not worth it.", docs="#worth-compressing")
def test_short_bodies_and_no_bodies_are_not_compressed(middleware_module, make_response):
    """worth_compressing says no under MIN_SIZE, for 204 and 304, and for a body coded already; a stream counts its length"""
    limit = middleware_module.MIN_SIZE
    for what, response, expected, why in [
        (f"{limit} bytes of HTML", a_response(make_response, "text/html", limit), True, "MIN_SIZE itself is enough"),
        (f"{limit - 1} bytes of HTML", a_response(make_response, "text/html", limit - 1), False,
         "a body under MIN_SIZE gains nothing worth the time"),
        ("20 bytes of JSON", a_response(make_response, "application/json", 20), False, "gzip's own 18 bytes"),
        ("an empty 200", a_response(make_response, "text/html", 0), False, "nothing to compress"),
        ("an empty 200 with no Content-Type at all", make_response(200, b""), False,
         "no type and no body: nothing to compress (a missing Content-Type is no error)"),
        ("a 204 (with a body a handler left in it)", a_response(make_response, "text/html", 4096, status=204),
         False, "a 204 never has a body: the server sends none"),
        ("a 304 (with a body a handler left in it)", a_response(make_response, "text/html", 4096, status=304),
         False, "a 304 never has a body"),
        ("HTML with Content-Encoding: br", a_response(make_response, "text/html", 4096,
                                                      headers={"Content-Encoding": "br"}), False,
         "coded already: coding it twice would make the client undo gzip and find brotli"),
        ("a file of 64 KiB, streamed", a_response(make_response, "text/css", 65536, streamed=True), True,
         "a stream's size is response.length: its body is empty"),
        ("a file of 100 bytes, streamed", a_response(make_response, "text/css", 100, streamed=True), False,
         "a stream under MIN_SIZE, by response.length"),
        ("a stream of unknown length", a_response(make_response, "text/plain", 4096, streamed=True, length=None),
         True, "length None: nobody knows, and it may be long"),
    ]:
        got = judged(middleware_module, response, what)
        expect_equal(f"worth_compressing for {what}", got, expected,
                     meaning=f"{why}. Compress only what has a body, is not coded yet, and is at least MIN_SIZE "
                     f"({limit}) bytes long, or of a length nobody knows yet.")


def text_pieces(count, size=64 * 1024, seed=7):
    """``count`` pieces of ``size`` bytes each, each a new bytes object (as a file's reads are): text that compresses."""
    rng = random.Random(seed)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(400)]
    block = b" ".join(rng.choice(words) for _ in range(size // 4))[:size]
    for number in range(count):
        yield b"%08d" % number + block[8:]


def compressed(middleware_module, pieces, level=None, shown="gzip_chunks(pieces)"):
    args = (iter(pieces),) if level is None else (iter(pieces), level)
    produced = call(middleware_module.gzip_chunks, *args, shown=shown)
    out = []
    iterator = call(iter, produced, shown=f"iter({shown})")
    while True:
        piece = call(next, iterator, None, shown=f"next({shown})")
        if piece is None:
            return out
        if not isinstance(piece, (bytes, bytearray)):
            raise CheckFailed(f"{shown} gave something that is not bytes.", received=short(piece),
                              expected="bytes: each is sent as it comes")
        out.append(bytes(piece))


def undo_gzip(data):
    """The bytes gzip.decompress finds in ``data``, or a reason it cannot."""
    if not data.startswith(GZIP_MAGIC):
        found = "the zlib format (78 ...)" if data[:1] == b"\x78" else f"bytes starting {visible(data[:3])}"
        return None, f"it does not start with gzip's signature 1f 8b 08: {found}"
    try:
        return gzip.decompress(data), None
    except (OSError, EOFError, zlib.error) as problem:
        return None, f"gzip.decompress says: {problem}"


@pytest.mark.task(4)
@pytest.mark.hint("compressor = zlib.compressobj(level, zlib.DEFLATED, GZIP_WBITS); for each piece, yield "
                  "compressor.compress(piece) when it is not empty; at the end, yield compressor.flush(): without "
                  "it, the last block and gzip's trailer are never sent.", docs="#compressing-as-it-is-sent")
def test_the_pieces_become_one_gzip_stream(middleware_module):
    """gzip_chunks turns pieces into gzip that gzip.decompress undoes, with the level asked for, empty pieces and all"""
    rng = random.Random(11)
    noise = rng.randbytes(50000)
    for what, pieces in [("two pieces of text", [b"hello, ", b"world\n" * 50]),
                         ("no pieces at all (an empty file)", []),
                         ("empty pieces around one", [b"", b"abc", b""]),
                         ("a file's pieces of 64 KiB", list(text_pieces(5))),
                         ("random bytes in pieces of many sizes", [noise[:1], noise[1:9000], noise[9000:]])]:
        data = b"".join(compressed(middleware_module, pieces))
        original = b"".join(pieces)
        undone, problem = undo_gzip(data)
        if problem or undone != original:
            raise CheckFailed(f"What gzip_chunks made of {what} is not the gzip coding of those bytes.",
                              expected=f"gzip that gzip.decompress turns back into the {len(original)} bytes given",
                              received=problem or f"gzip that decompresses to {short(undone)}",
                              meaning="zlib.compressobj with wbits GZIP_WBITS (31) writes gzip: a header, deflate "
                              "blocks, and a trailer with a CRC-32 and the length. flush() writes the last block and "
                              "the trailer: a stream without them ends too soon for any client.")
    text = b"".join(text_pieces(2))
    for level, flag in [(1, 4), (9, 2)]:
        data = b"".join(compressed(middleware_module, [text], level, shown=f"gzip_chunks(pieces, {level})"))
        if data[8:9] != bytes([flag]):
            raise CheckFailed(f"gzip_chunks(pieces, {level}) did not compress at level {level}.",
                              expected=f"gzip's header saying level {level}: its 9th byte (XFL) is {flag}",
                              received=f"the 9th byte is {visible(data[8:9])}",
                              meaning="The level is the caller's choice: zlib.compressobj(level, zlib.DEFLATED, "
                              "GZIP_WBITS). gzip notes the fastest (1) and the smallest (9) in its header.")


class Counted:
    """The pieces of a file, counting how many have been read."""

    def __init__(self, pieces):
        self.pieces = iter(pieces)
        self.read = 0

    def __iter__(self):
        return self

    def __next__(self):
        piece = next(self.pieces)
        self.read += 1
        return piece


# A file big enough that holding it whole shows, and what the checks let the compressing hold at once.
BIG_PIECES = 512  # of 64 KiB: 32 MiB
MEMORY_LIMIT = 4 * 1024 * 1024


@pytest.mark.task(4)
@pytest.mark.hint("Compress each piece as it comes, and yield what zlib gives back at once: never collect the "
                  "pieces (list, b\"\".join) before compressing them.", docs="#compressing-as-it-is-sent")
def test_a_long_stream_is_compressed_in_little_memory(middleware_module):
    """32 MiB compressed by gzip_chunks never takes more than 4 MiB of memory, and comes out before it is all read"""
    source = Counted(text_pieces(BIG_PIECES))
    total = BIG_PIECES * 64 * 1024
    undo = zlib.decompressobj(31)
    restored = hashlib.sha256()
    first_after = None
    tracemalloc.start()
    try:
        produced = call(middleware_module.gzip_chunks, source, shown="gzip_chunks(pieces of a 32 MiB file)")
        iterator = call(iter, produced, shown="iter(gzip_chunks(...))")
        while (piece := call(next, iterator, None, shown="next(gzip_chunks(...))")) is not None:
            if first_after is None:
                first_after = source.read
            data = undo.decompress(bytes(piece), 1 << 20)
            while data:
                restored.update(data)
                data = undo.decompress(undo.unconsumed_tail, 1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if peak > MEMORY_LIMIT:
        raise CheckFailed(f"Compressing a stream of 32 MiB took {peak / 2**20:.1f} MiB of memory at its peak.",
                          expected=f"at most {MEMORY_LIMIT / 2**20:g} MiB: a piece, zlib's own state, what it gives back",
                          received=f"{peak / 2**20:.1f} MiB; the first compressed piece came out after "
                          f"{first_after} of {BIG_PIECES} pieces had been read",
                          meaning="A file is streamed so that a big one costs no more memory than a small one. "
                          "Gathering its pieces before compressing them holds the whole file: a few big downloads "
                          "at once, and the server runs out of memory.")
    if first_after is None or first_after >= BIG_PIECES:
        raise CheckFailed("gzip_chunks gave nothing until the whole 32 MiB stream had been read.",
                          expected="compressed pieces as the stream is read: the first long before its end",
                          received=f"the first piece after all {BIG_PIECES} pieces were read",
                          meaning="A streamed file is sent while it is read: the client gets its first bytes at "
                          "once, not after the server has gone through the whole file. Yield what "
                          "compressor.compress() gives as soon as it gives something.")
    expected = hashlib.sha256(b"".join(text_pieces(BIG_PIECES))).hexdigest()
    if restored.hexdigest() != expected or not undo.eof:
        raise CheckFailed("The 32 MiB stream did not decompress to the file.",
                          expected=f"gzip of all {total} bytes, ended by gzip's trailer",
                          received="other bytes" if undo.eof else "a gzip stream that stops before its end",
                          meaning="Every piece goes through compressor.compress(), and flush() ends the stream.")


def before(middleware_module, request, what):
    middleware = call(middleware_module.CompressionMiddleware, shown="CompressionMiddleware()")
    return call(middleware.before_request, request, shown=f"before_request({what})")


@pytest.mark.task(5, needs=(1, 2))
@pytest.mark.hint("In before_request: coding = choose_coding(accepted_codings(request.headers.get("
                  "\"Accept-Encoding\"))); if it is None, return not_acceptable(); otherwise the request goes on.",
                  docs="#before-the-handler")
def test_a_client_that_accepts_neither_coding_gets_406(middleware_module, make_request):
    """before_request answers 406 when both gzip and identity are refused, and lets every other request through"""
    for field, refused in [("identity;q=0", True), ("*;q=0", True), ("gzip;q=0, identity;q=0", True),
                           ("deflate, br, identity;q=0", True), ("gzip, identity;q=0", False),
                           ("*;q=0, identity", False), ("*;q=0, gzip", False), ("gzip;q=0", False), ("", False),
                           (None, False), ("br", False)]:
        headers = [] if field is None else [("Accept-Encoding", field)]
        what = f"GET / with Accept-Encoding: {field}" if field is not None else "GET / with no Accept-Encoding"
        got = before(middleware_module, make_request("GET", "/", headers), what)
        status = getattr(got, "status", None) if got is not None else None
        if refused and status != HTTPStatus.NOT_ACCEPTABLE:
            raise CheckFailed(f"{what} was not refused.", expected="406 Not Acceptable, from not_acceptable()",
                              received="None: the request went on" if got is None else f"a {status} response",
                              meaning="The client refuses gzip and identity both: nothing this server can send is "
                              "acceptable. 406 says so before the handler does any work (RFC 9110, section 15.5.7).")
        if not refused and got is not None:
            raise CheckFailed(f"{what} got an answer from before_request.", expected="None: the request goes on",
                              received=f"a {status} response",
                              meaning="406 is only for a client that accepts neither coding. This one accepts "
                              "gzip, or identity (the body as it is): it gets one of them.")
        if refused and "accept-encoding" not in (got.headers.get("Vary") or "").lower():
            raise CheckFailed(f"The 406 for {what} does not say Vary: Accept-Encoding.",
                              expected="not_acceptable(), which says it", received=short(got.headers, 200))


@pytest.mark.task(5, needs=(1, 2))
@pytest.mark.hint("When gzip is chosen, every tag in If-None-Match that ends with -gzip\" gets its plain form "
                  "added beside it (\"5f-2c-gzip\" adds \"5f-2c\"); keep the field as it was otherwise, and add "
                  "none when there is none.", docs="#before-the-handler")
def test_the_tag_of_the_gzip_copy_finds_the_file(middleware_module, static_module, make_request):
    """After before_request, a file's own tag matches If-None-Match when the client sent its gzip copy's tag"""
    tag = '"18c3-157"'
    for field, inm, matches, why in [
        ("gzip", '"18c3-157-gzip"', True, "the client holds the gzip copy, and accepts gzip still"),
        ("gzip, deflate, br", 'W/"18c3-157-gzip"', True, "a weak tag (W/) compares the same way"),
        ("gzip", '"other", "18c3-157-gzip"', True, "one tag of a list"),
        ("gzip", '"99-1-gzip", "18c3-157-gzip", W/"7-7-gzip"', True, "one gzip tag of several: each gets its plain form"),
        ("gzip", '"18c3-157-gzip", "99-1-gzip"', True, "the same, in another order"),
        ("gzip", '"18c3-157"', True, "the client holds the plain copy: its tag is the file's already"),
        (None, '"18c3-157-gzip"', False, "the client no longer accepts gzip: its gzip copy is not what it would get"),
        ("gzip;q=0.5, identity", '"18c3-157-gzip"', False, "the client prefers the body as it is now"),
        ("gzip", '"18c3-15-gzip"', False, "another file's tag"),
        ("gzip", None, False, "no If-None-Match at all: none is added"),
    ]:
        headers = ([("Accept-Encoding", field)] if field else []) + ([("If-None-Match", inm)] if inm else [])
        request = make_request("GET", "/static/page.html", headers)
        what = f"GET with {', '.join(f'{name}: {value}' for name, value in headers)}"
        answer = before(middleware_module, request, what)
        if answer is not None:
            raise CheckFailed(f"before_request answered {what}.", expected="None: the request goes on",
                              received=f"a {getattr(answer, 'status', answer)} response")
        got = call(static_module.not_modified, request, tag, 0, shown=f"static.not_modified(request, {tag!r}, 0)")
        if bool(got) != matches or (inm is None and "If-None-Match" in request.headers):
            raise CheckFailed(f"After before_request, the file tagged {tag} {'does not match' if matches else 'matches'} "
                              f"the request's If-None-Match.", sent=what,
                              expected=f"{'a match: 304' if matches else 'no match: 200'}, because {why}",
                              received=f"If-None-Match: {request.headers.get('If-None-Match')}",
                              meaning="static.py only knows the file's own tag, \"18c3-157\"; the gzip copy's, "
                              "\"18c3-157-gzip\", is ours. When the client will get gzip again, add the plain form "
                              "of each gzip tag beside it, and keep what the client sent.")
        # If-None-Match compares weakly (RFC 9110, section 13.1.2): a tag counts with or without its W/.
        gzip_tags = re.findall(r'"[^"]*-gzip"', inm or "") if field and field.startswith("gzip") and matches else []
        now = set(re.findall(r'"[^"]*"', request.headers.get("If-None-Match", "")))
        missing = [tag.removesuffix('-gzip"') + '"' for tag in gzip_tags if tag.removesuffix('-gzip"') + '"' not in now]
        if missing:
            raise CheckFailed(f"before_request added the plain form of some gzip tags, not of all ({what}).",
                              sent=what, expected=f"If-None-Match holding {', '.join(missing)} too",
                              received=f"If-None-Match: {request.headers.get('If-None-Match')}",
                              meaning="A cache that holds several copies sends every tag it has (RFC 9111, section "
                              "4.3.1), and the answer is 304 if any one matches: each gzip tag needs its plain form.")
        if inm is not None and request.headers.get("If-None-Match", "").replace(" ", "").find(inm.replace(" ", "")) < 0:
            raise CheckFailed(f"before_request took the client's own tags out of If-None-Match ({what}).",
                              sent=what, expected=f"If-None-Match still holding {inm}, and more beside it",
                              received=f"If-None-Match: {request.headers.get('If-None-Match')}",
                              meaning="after_request reads it again to see which copy the client holds: add the "
                              "plain tags, do not replace the gzip ones.")


PAGE = (b"<!doctype html>\n<title>A page</title>\n" + b"<p>Text repeats itself, and gzip finds it.</p>\n" * 120)


def after(middleware_module, request, response, what):
    middleware = call(middleware_module.CompressionMiddleware, shown="CompressionMiddleware()")
    returned = call(middleware.after_request, request, response, shown=f"after_request({what})")
    if returned is None or not hasattr(returned, "headers"):
        raise CheckFailed(f"after_request({what}) did not return the response.", received=short(returned))
    return returned


def vary_names(response):
    return [name.strip().lower() for field in response.headers.get_all("Vary") for name in field.split(",")]


def head_of(response):
    raw = call(response.to_bytes, shown="response.to_bytes()")
    return raw.partition(b"\r\n\r\n")[0].decode("latin-1")


@pytest.mark.task(6, needs=(1, 2, 3))
@pytest.mark.hint("For gzip: response.headers[\"Content-Encoding\"] = \"gzip\"; the ETag becomes gzip_etag(etag); "
                  "response.body = gzip.compress(response.body, self.level, mtime=0).", docs="#after-the-handler")
def test_a_page_is_compressed_for_a_client_that_accepts_gzip(middleware_module, make_request, make_response):
    """after_request sends a page as gzip: Content-Encoding, its own ETag, and a body gzip.decompress undoes"""
    request = make_request("GET", "/page", [("Accept-Encoding", "gzip, deflate, br")])
    response = make_response(200, PAGE, {"Content-Type": "text/html; charset=utf-8", "ETag": '"v1"'})
    what = "a 200 page of 5,000 bytes for Accept-Encoding: gzip, deflate, br"
    got = after(middleware_module, request, response, what)
    body = bytes(got.body)
    undone, problem = undo_gzip(body)
    if got.headers.get("Content-Encoding") != "gzip" or problem or undone != PAGE:
        raise CheckFailed("A page for a client that accepts gzip did not come out as gzip.", sent=what,
                          expected="Content-Encoding: gzip, and a body that gzip.decompress turns back into the page",
                          received=f"Content-Encoding: {got.headers.get('Content-Encoding')}; the body: "
                          + (problem or f"{len(body)} bytes that decompress to {short(undone)}"),
                          meaning="Content-Encoding names the coding applied to the body (RFC 9110, section 8.4): "
                          "the client undoes it before anything else reads the page.")
    if got.headers.get("ETag") != '"v1-gzip"':
        raise CheckFailed("The gzip copy has the ETag of the page as it is.", sent=what,
                          expected='ETag: "v1-gzip" (gzip_etag of "v1")', received=f"ETag: {got.headers.get('ETag')}",
                          meaning="An ETag names one representation's exact bytes (RFC 9110, section 8.8.3). The "
                          "gzip copy is other bytes: with the same tag, a cache could answer a client that never "
                          "accepted gzip with the gzip copy, after a 304.")
    if body[4:8] != b"\0\0\0\0":
        raise CheckFailed("The gzip body carries a time in its header.", sent=what,
                          expected="MTIME (bytes 5 to 8) zero: gzip.compress(body, level, mtime=0)",
                          received=f"MTIME {visible(body[4:8])}",
                          meaning="gzip.compress writes the time by default, so the same page compresses to other "
                          "bytes each second, under the same \"-gzip\" tag that promises the same bytes.")
    head = head_of(got)
    if f"Content-Length: {len(body)}" not in head.split("\r\n"):
        raise CheckFailed("The head does not give the compressed body's length.", sent=what,
                          expected=f"Content-Length: {len(body)}", received=head,
                          meaning="Content-Length counts the bytes sent: the compressed ones.")
    fastest = call(middleware_module.CompressionMiddleware, 1, shown="CompressionMiddleware(level=1)")
    for shape, response in [("as bytes", make_response(200, PAGE, {"Content-Type": "text/html"})),
                            ("streamed", make_response(200, b"", {"Content-Type": "text/html"},
                                                       chunks=iter([PAGE[:2500], PAGE[2500:]]), length=len(PAGE)))]:
        got = call(fastest.after_request, request, response, shown=f"CompressionMiddleware(1).after_request(a page {shape})")
        sent = bytes(got.body) if got.chunks is None else b"".join(bytes(piece) for piece in got.chunks)
        compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
        wanted = gzip.compress(PAGE, 1, mtime=0) if shape == "as bytes" else \
            compressor.compress(PAGE[:2500]) + compressor.compress(PAGE[2500:]) + compressor.flush()
        if sent != wanted:
            raise CheckFailed(f"CompressionMiddleware(level=1) did not compress a page {shape} at level 1.",
                              sent=f"a page of {len(PAGE)} bytes, {shape}", expected=f"{len(wanted)} bytes of gzip "
                              "at level 1", received=f"{len(sent)} bytes",
                              meaning="The level is the middleware's: pass self.level on, to gzip.compress and to "
                              "gzip_chunks. Their own defaults differ (9 and 6), and a server may trade size for speed.")


@pytest.mark.task(6, needs=(1, 2, 3))
@pytest.mark.hint("Whenever the response is worth compressing, add Vary: Accept-Encoding, gzip or not: "
                  "response.headers.add(\"Vary\", \"Accept-Encoding\"), which keeps a Vary: Origin that is there.",
                  docs="#vary")
def test_vary_says_the_coding_depends_on_accept_encoding(middleware_module, make_request, make_response):
    """Every response worth compressing says Vary: Accept-Encoding, the plain ones too, beside any Vary already there"""
    for field, headers, what in [
        ("gzip", {}, "a page sent as gzip"),
        (None, {}, "a page sent as it is, to a client with no Accept-Encoding"),
        ("gzip;q=0", {}, "a page sent as it is, to a client that refuses gzip"),
        ("gzip", {"Vary": "Origin"}, "a page sent as gzip, that CORS marked Vary: Origin"),
        ("identity", {"Vary": "Origin"}, "a page sent as it is, that CORS marked Vary: Origin"),
    ]:
        request = make_request("GET", "/page", [("Accept-Encoding", field)] if field else [])
        response = make_response(200, PAGE, {"Content-Type": "text/html; charset=utf-8", **headers})
        got = after(middleware_module, request, response, what)
        names = vary_names(got)
        wanted = ["origin", "accept-encoding"] if headers else ["accept-encoding"]
        if sorted(set(names)) != sorted(wanted):
            raise CheckFailed(f"Vary is not right on {what}.",
                              expected="Vary naming " + " and ".join(wanted).title().replace(" And ", " and "),
                              received="Vary: " + (", ".join(got.headers.get_all("Vary")) or "(none)"),
                              meaning="This address gives gzip to some clients and the plain page to others: a cache "
                              "must know that the answer depends on Accept-Encoding (RFC 9110, section 12.5.5), or it "
                              "hands the gzip copy to the next client, who may not read it. Both copies say so, the "
                              "plain one too. And Vary is a list: what CORS put there stays.")
        if (field is None or field.startswith("gzip;q=0") or field == "identity") and (
                got.headers.get("Content-Encoding") or bytes(got.body) != PAGE):
            raise CheckFailed(f"A page was compressed for a client that did not choose gzip ({what}).",
                              expected="the page as it is, with no Content-Encoding",
                              received=f"Content-Encoding: {got.headers.get('Content-Encoding')}, "
                              f"{len(bytes(got.body))} bytes")


BIG_FILE_BYTES = 32 * 1024 * 1024
FILE_MEMORY_LIMIT = 8 * 1024 * 1024


@pytest.mark.task(6, needs=(1, 2, 3, 4))
@pytest.mark.hint("For a stream: response.chunks = gzip_chunks(response.chunks, self.level), and response.length "
                  "= None: nobody knows the compressed size before the last piece. Never read the chunks yourself.",
                  docs="#after-the-handler")
def test_a_file_is_compressed_as_it_is_read(middleware_module, static_module, make_request, tmp_path):
    """A 32 MiB file goes out as gzip of unknown length, compressed as it is read, in under 8 MiB of memory"""
    block = (b"<tr><td>a row of a table</td><td>that repeats</td></tr>\n" * 1200)[:64 * 1024]
    (tmp_path / "table.html").write_bytes(block * (BIG_FILE_BYTES // len(block)))
    request = make_request("GET", "/static/table.html", [("Accept-Encoding", "gzip")])
    request.path_params = {"path": "table.html"}
    what = "the response of StaticFiles for a 32 MiB table.html, for Accept-Encoding: gzip"
    tracemalloc.start()
    try:
        response = call(static_module.StaticFiles(tmp_path), request, shown="StaticFiles(folder)(request)")
        etag = response.headers.get("ETag")
        got = after(middleware_module, request, response, what)
        head = head_of(got)
        undo = zlib.decompressobj(31)
        restored = 0
        pieces = got.chunks if got.chunks is not None else [got.body]
        iterator = call(iter, pieces, shown="iter(response.chunks)")
        while (piece := call(next, iterator, None, shown="next(response.chunks)")) is not None:
            data = undo.decompress(bytes(piece), 1 << 20)
            while data:
                restored += len(data)
                data = undo.decompress(undo.unconsumed_tail, 1 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    fields = {line.partition(":")[0].lower(): line.partition(":")[2].strip() for line in head.split("\r\n")[1:]}
    if got.chunks is None or fields.get("content-encoding") != "gzip" or restored != BIG_FILE_BYTES or not undo.eof:
        raise CheckFailed("A big file for a client that accepts gzip did not go out as a gzip stream.", sent=what,
                          expected=f"Content-Encoding: gzip, response.chunks that decompress to all {BIG_FILE_BYTES} "
                          "bytes", received=f"{head}\n(chunks {'none' if got.chunks is None else 'there'}; they "
                          f"decompress to {restored} bytes{'' if undo.eof else ', and stop before gzip ends'})",
                          meaning="A file stays a stream: its pieces are compressed one by one by gzip_chunks as the "
                          "server sends them.")
    if "content-length" in fields:
        raise CheckFailed("The head of a compressed file still gives a Content-Length.", sent=what,
                          expected="no Content-Length: response.length = None", received=head,
                          meaning=f"{fields['content-length']} is the size of the file as it is; the gzip stream is "
                          "shorter, and its size is known only once the last piece is compressed. The client would "
                          "wait for bytes that never come. Without a length, the body ends when the server closes "
                          "the connection (RFC 9112, section 6.3).")
    if peak > FILE_MEMORY_LIMIT:
        raise CheckFailed(f"Compressing a 32 MiB file took {peak / 2**20:.1f} MiB of memory at its peak.", sent=what,
                          expected=f"at most {FILE_MEMORY_LIMIT / 2**20:g} MiB: the file is read and compressed a "
                          "piece at a time", received=f"{peak / 2**20:.1f} MiB",
                          meaning="Reading the chunks to compress them at once holds the whole file in memory. "
                          "Wrap them instead: gzip_chunks(response.chunks, level) compresses each as it is sent.")
    if fields.get("etag") != f'{etag[:-1]}-gzip"':
        raise CheckFailed("The gzip copy of the file has the file's own ETag.", sent=what,
                          expected=f'ETag: {etag[:-1]}-gzip"', received=f"ETag: {fields.get('etag')}",
                          meaning="Two representations, two tags (RFC 9110, section 8.8.3).")


@pytest.mark.task(6, needs=(1, 2, 3))
@pytest.mark.hint("Ask worth_compressing(response) first: when it says no, return the response as it came, "
                  "whatever the client accepts.", docs="#after-the-handler")
def test_what_is_not_worth_compressing_goes_as_it_is(middleware_module, make_request, make_response):
    """A PNG, a short page, a 204 and a body coded already go out untouched, even to a client that accepts gzip"""
    png = b"\x89PNG\r\n\x1a\n" + bytes(8000)
    cases = [
        ("a PNG of 8 KB", make_response(200, png, {"Content-Type": "image/png", "ETag": '"p1"'})),
        ("a streamed PNG", make_response(200, b"", {"Content-Type": "image/png", "ETag": '"p2"'},
                                         chunks=[png], length=len(png))),
        ("a page of 300 bytes", make_response(200, PAGE[:300], {"Content-Type": "text/html; charset=utf-8",
                                                                "ETag": '"s1"'})),
        ("a page coded with br already", make_response(200, PAGE, {"Content-Type": "text/html",
                                                                   "Content-Encoding": "br"})),
        ("a 204", make_response(204, b"", {})),
    ]
    for what, response in cases:
        before_headers = list(response.headers)
        chunks, body = response.chunks, bytes(response.body)
        request = make_request("GET", "/x", [("Accept-Encoding", "gzip")])
        got = after(middleware_module, request, response, f"{what}, for Accept-Encoding: gzip")
        changed = [field for field in got.headers if field not in before_headers and field[0].lower() != "vary"]
        if changed or bytes(got.body) != body or got.chunks is not chunks:
            raise CheckFailed(f"{what[0].upper()}{what[1:]} was changed for a client that accepts gzip.",
                              expected="the response as it came: same body, same headers",
                              received=f"new or changed headers: {changed or 'none'}; body "
                              f"{'the same' if bytes(got.body) == body else 'changed'}; chunks "
                              f"{'the same' if got.chunks is chunks else 'changed'}",
                              meaning="Compress only what worth_compressing says yes to: a PNG is compressed "
                              "already, a short page gains nothing, a 204 has no body, and a coded body is never "
                              "coded twice.")


@pytest.mark.task(6, needs=(1, 2))
@pytest.mark.hint("A 304: add Vary: Accept-Encoding; when gzip is chosen and If-None-Match lists gzip_etag(etag), "
                  "the ETag becomes gzip_etag(etag). No Content-Encoding: a 304 has no body.",
                  docs="#head-and-304")
def test_a_304_names_the_copy_the_client_holds(middleware_module, make_request, make_response):
    """A 304 says Vary: Accept-Encoding, and the ETag of the copy the client holds: the gzip one, or the plain one"""
    for headers, expected_tag, what, *vary in [
        ([("Accept-Encoding", "gzip"), ("If-None-Match", '"v1-gzip", "v1"')], '"v1-gzip"',
         "the client holds the gzip copy (before_request added the plain tag beside its own)"),
        ([("Accept-Encoding", "gzip"), ("If-None-Match", '"v1-gzip", "v1"')], '"v1-gzip"',
         "the client holds the gzip copy, and an inner layer said Vary: Origin", "Origin"),
        ([("If-None-Match", '"v1"')], '"v1"', "the client holds the plain copy, and an inner layer said Vary: Origin",
         "Origin"),
        ([("Accept-Encoding", "gzip"), ("If-None-Match", 'W/"v1-gzip", W/"v1"')], '"v1-gzip"',
         "the client holds the gzip copy, and sent its tag weak"),
        ([("Accept-Encoding", "gzip"), ("If-None-Match", '"v1"')], '"v1"', "the client holds the plain copy"),
        ([("If-None-Match", '"v1"')], '"v1"', "a client with no Accept-Encoding, holding the plain copy"),
    ]:
        request = make_request("GET", "/static/page.html", headers)
        response = make_response(304, b"", {"ETag": '"v1"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT",
                                            **({"Vary": vary[0]} if vary else {})})
        got = after(middleware_module, request, response, f"a 304 for a request with {headers}")
        problems = []
        if got.headers.get("ETag") != expected_tag:
            problems.append(f"ETag {got.headers.get('ETag')}, not {expected_tag}")
        if "accept-encoding" not in vary_names(got):
            problems.append("no Vary: Accept-Encoding")
        if vary and vary[0].lower() not in vary_names(got):
            problems.append(f"the Vary: {vary[0]} that was there is gone (Vary: {', '.join(got.headers.get_all('Vary'))})")
        if "Content-Encoding" in got.headers or got.status != 304:
            problems.append(f"a {got.status} with Content-Encoding: {got.headers.get('Content-Encoding')}")
        if problems:
            raise CheckFailed(f"The 304 is not right when {what}.", sent=f"If-None-Match and Accept-Encoding: {headers}",
                              expected=f"304, ETag: {expected_tag}, Vary: {vary[0] + ', ' if vary else ''}Accept-Encoding, "
                              "no Content-Encoding",
                              received="; ".join(problems),
                              meaning="A 304 says \"your copy is still good\", and must carry the ETag and Vary the "
                              "200 would have (RFC 9110, section 15.4.5): the ETag of the copy the client holds, so "
                              "its cache knows which one to keep. It has no body, so no Content-Encoding.")


@pytest.mark.task(7)
@pytest.mark.hint("In create_app, CompressionMiddleware() goes after LoggingMiddleware() in the list: logging's "
                  "after then runs last, and sees the response as it will be sent.", docs="#its-place-in-the-onion")
def test_the_access_log_shows_what_is_sent(learner_module, step, catch_logs, access_line, make_request):
    """The site compresses its pages, and the access log gives the size sent: the compressed one, or - for a file"""
    app = call(learner_module("app").create_app, token="test-token", static_root=str(step.folder / "static"),
               shown='create_app(token="test-token")')
    for target, field in [("/api/users?count=50", "gzip, deflate"), ("/static/article.html", "gzip"),
                          ("/api/users?count=50", None)]:
        request = make_request("GET", target, [("Accept-Encoding", field)] if field else [])
        request_line = f"GET {target} HTTP/1.1"
        with catch_logs() as records:
            response = call(app, request, shown=f"create_app(...)({request_line})")
        streamed = getattr(response, "chunks", None) is not None
        if streamed:
            for _ in response.chunks:  # as the server would send it (this also closes the file)
                pass
        coding = response.headers.get("Content-Encoding")
        if field and coding != "gzip":
            raise CheckFailed(f"The site sent {target} as it is, to a client that accepts gzip.",
                              sent=f"{request_line}, Accept-Encoding: {field}",
                              expected="Content-Encoding: gzip", received=f"Content-Encoding: {coding}",
                              meaning="create_app must put CompressionMiddleware in the Pipeline.")
        lines = records.about(request_line)
        fields = access_line(lines[0]) if len(lines) == 1 else None
        size = response.length if streamed else len(response.body)
        if fields is None or fields["size"] != size:
            shown_size = "-" if size is None else size
            raise CheckFailed(f"The access-log line for {request_line} does not give the size sent.",
                              sent=f"{request_line}" + (f", Accept-Encoding: {field}" if field else ""),
                              expected=f'one line: 192.0.2.7 - - [...] "{request_line}" 200 {shown_size} 0.000s',
                              received="\n".join(records.lines()) or "(no access-log line)",
                              meaning="Logging is the outermost layer, so it logs the response as it is sent: "
                              "compressed, when it is. A compressed file's size is known only once it is sent: the "
                              "line says - (as Apache's does). With compression outside logging, the log would "
                              "count bytes that never travel.")


@pytest.mark.task(7)
@pytest.mark.hint("In create_app the layers go LoggingMiddleware(), CORSMiddleware(), CompressionMiddleware(), then "
                  "AuthMiddleware(...): CORS outside compression, so it answers a preflight first and puts its "
                  "header on compression's 406 too.", docs="#its-place-in-the-onion")
def test_what_compression_refuses_still_carries_cors_headers(learner_module, step, make_request):
    """A 406 from compression carries CORS's header, and a preflight is answered by CORS: compression sits inside CORS"""
    app = call(learner_module("app").create_app, token="test-token", static_root=str(step.folder / "static"),
               shown='create_app(token="test-token")')
    origin = ("Origin", "https://elsewhere.example")
    for method, headers, status, what in [
        ("GET", [origin, ("Accept-Encoding", "identity;q=0")], 406,
         "a page of another origin asks for the article in no coding the site has"),
        ("OPTIONS", [origin, ("Access-Control-Request-Method", "GET"), ("Accept-Encoding", "identity;q=0")], 204,
         "a preflight for it, from a client that refuses the plain body"),
    ]:
        request = make_request(method, "/static/article.html", headers)
        request_line = f"{method} /static/article.html HTTP/1.1"
        response = call(app, request, shown=f"create_app(...)({request_line})")
        allowed = response.headers.get("Access-Control-Allow-Origin") if hasattr(response, "headers") else None
        if getattr(response, "status", None) != status or allowed is None:
            raise CheckFailed(f"The site's answer when {what} is not CORS's.",
                              sent=f"{request_line}, " + ", ".join(f"{name}: {value}" for name, value in headers),
                              expected=f"{status}, with Access-Control-Allow-Origin",
                              received=f"{getattr(response, 'status', short(response))}, Access-Control-Allow-Origin: "
                              f"{allowed or '(none)'}",
                              meaning="The layers run outside in: with compression outside CORS, compression's 406 "
                              "goes back without CORS's header, so the other origin's page cannot read why it was "
                              "refused, and a preflight gets a 406 instead of CORS's 204.")

