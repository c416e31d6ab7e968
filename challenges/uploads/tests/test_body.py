"""uploads — reading a multipart/form-data body (TODOs 1 to 5), called directly.

Most bodies are made by urllib3's encode_multipart_formdata, the encoder under requests' files=, so
the parts a check expects are the ones it gave the encoder. Each body is also fed in pieces cut at
every place near its boundaries (and, with Hypothesis, anywhere), the way recv() may hand it over.
"""

import tracemalloc
from http import HTTPStatus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.properties import course_settings
from checks.report import CheckFailed
from checks.unit import call, short

# A part's content that holds what a careless parser takes for a boundary: the boundary without the CRLF
# before it, a CRLF and dashes, the delimiter cut short, a lone CR, and bytes that are not text.
TRICKY = (b"--XyZ-boundary at the start of no line\r\n\r\n-- \r\n--XyZ-boundar\r\n--XyZ-\r\r\n\r"
          b"\x00\xff\xfe\r\n--\r\n-")

ACCEPTED = [
    ("multipart/form-data; boundary=abc", b"abc"),
    ("multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW", b"----WebKitFormBoundary7MA4YWxkTrZu0gW"),
    ("Multipart/Form-Data; BOUNDARY=a1", b"a1"),
    ('multipart/form-data; boundary="a b:c/d=e?"', b"a b:c/d=e?"),
    ("multipart/form-data; charset=utf-8; boundary=after-another", b"after-another"),
    ("multipart/form-data;boundary=no-space", b"no-space"),
    ("multipart/form-data; boundary=" + "7" * 70, b"7" * 70),
    ("multipart/form-data; boundary=\"'()+_,-./:=?\"", b"'()+_,-./:=?"),
    ("multipart/form-data; boundary=ends-with-a-semicolon;", b"ends-with-a-semicolon"),
]

REFUSED = [
    ("text/plain", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a body that is not a form"),
    ("application/x-www-form-urlencoded", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a form sent without files"),
    ("multipart/mixed; boundary=abc", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "multipart, but not form-data"),
    ("multipart/form-data-x; boundary=abc", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a type that starts the same"),
    ("application/form-data; boundary=abc", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "a type that ends the same"),
    ("", HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "no Content-Type at all"),
    ("multipart/form-data", HTTPStatus.BAD_REQUEST, "no boundary"),
    ("multipart/form-data; boundary=", HTTPStatus.BAD_REQUEST, "an empty boundary"),
    ('multipart/form-data; boundary=""', HTTPStatus.BAD_REQUEST, "an empty quoted boundary"),
    ("multipart/form-data; boundary=" + "7" * 71, HTTPStatus.BAD_REQUEST, "71 characters, one over 70"),
    ('multipart/form-data; boundary="ends in a space "', HTTPStatus.BAD_REQUEST, "a boundary ending in a space"),
    ('multipart/form-data; boundary="a@b"', HTTPStatus.BAD_REQUEST, "@ is not allowed in a boundary"),
    ("multipart/form-data; boundary=caf\u00e9", HTTPStatus.BAD_REQUEST, "a letter that is not ASCII"),
    ("multipart/form-data; boundary=a; boundary=b", HTTPStatus.BAD_REQUEST, "two boundaries"),
    ("multipart/form-data; boundary=a\tb", HTTPStatus.BAD_REQUEST, "a tab inside"),
]


@pytest.mark.task(1)
@pytest.mark.hint("Use the given parameters(content_type): it returns the type, lowercased, and the (name, value) "
                  "pairs. The boundary is only(pairs, 'boundary'), checked with BOUNDARY.fullmatch, then encoded.",
                  docs="#the-boundary")
def test_the_boundary_is_read_from_the_content_type(uploads_module):
    """boundary_of() returns the boundary of a multipart/form-data Content-Type, quoted or not, in any case, as bytes"""
    for content_type, boundary in ACCEPTED:
        got = call(uploads_module.boundary_of, content_type, shown=f"boundary_of({content_type!r})")
        if got != boundary:
            raise CheckFailed(f"boundary_of({content_type!r}) returned {short(got)}.", expected=short(boundary),
                              received=short(got),
                              meaning="The parser looks for these bytes in the body: the boundary without its quotes, "
                                      "as bytes. Type and parameter names are case-insensitive (RFC 9110, 8.3.1).")


@pytest.mark.task(1)
@pytest.mark.hint("Check the type first (415 unless it is multipart/form-data), then the boundary (400 unless there "
                  "is exactly one, and BOUNDARY.fullmatch accepts it).", docs="#the-boundary")
def test_a_wrong_type_or_a_bad_boundary_is_refused(uploads_module, upload_error, expect_status):
    """boundary_of() refuses other types with 415, and a missing, empty, too long, doubled or invalid boundary with 400"""
    for content_type, status, why in REFUSED:
        shown = f"boundary_of({content_type!r})"
        error = upload_error(uploads_module.boundary_of, content_type, shown=shown,
                             expected=f"UploadError {status.value} ({why})")
        expect_status(error, status, f"{shown} was refused with the wrong status ({why}).",
                      meaning="415 Unsupported Media Type says 'not this kind of body'; 400 Bad Request says 'a "
                              "form, but malformed'. A boundary is 1 to 70 of the characters RFC 2046 lists, the "
                              "last not a space: a parser cannot look for one that is empty or ambiguous.")


HEADS = [
    (b'Content-Disposition: form-data; name="note"', ("note", None, "text/plain"), "a field"),
    (b'Content-Disposition: form-data; name="photo"; filename="cat.png"\r\nContent-Type: image/png',
     ("photo", "cat.png", "image/png"), "a file"),
    (b'content-disposition: FORM-DATA; NAME="a"; Filename="b.txt"\r\ncontent-type: text/csv',
     ("a", "b.txt", "text/csv"), "names in any case"),
    (b'Content-Disposition:form-data;name="tight"', ("tight", None, "text/plain"), "no spaces at all"),
    (b'Content-Disposition:   form-data; name="spaced"   ', ("spaced", None, "text/plain"), "spaces around the value"),
    (b'Content-Disposition: form-data; name="f"; filename=""\r\nContent-Type: application/octet-stream',
     ("f", "", "application/octet-stream"), "a file input left empty"),
    (b'Content-Type: text/html\r\nContent-Disposition: form-data; name="x"; filename="a;b=c.html"',
     ("x", "a;b=c.html", "text/html"), "a ; and an = inside quotes, Content-Type first"),
    (b'Content-Disposition: form-data; name="q%22uote"; filename="say %22hi%22.txt"',
     ('q"uote', 'say "hi".txt', "text/plain"), "quotes written %22, as browsers write them"),
    ('Content-Disposition: form-data; name="r\u00e9sum\u00e9"; filename="\u65e5\u672c.txt"'.encode(),
     ("r\u00e9sum\u00e9", "\u65e5\u672c.txt", "text/plain"), "UTF-8 names"),
    (b'Content-Disposition: form-data; name=plain\r\nX-Extra: ignored', ("plain", None, "text/plain"),
     "an unquoted name and another header"),
    (b'Content-Disposition: form-data; name="a:b"; filename="c:d.txt"', ("a:b", "c:d.txt", "text/plain"),
     "colons inside the value"),
    (b'Content-Disposition: form-data; name=X', ("X", None, "text/plain"), "a one-letter name, unquoted"),
    (b'X-Trace: 1\r\nContent-Disposition: form-data; name="t"\r\nX-Trace: 2', ("t", None, "text/plain"),
     "another field, twice: ignored (RFC 7578, 4.8)"),
    (b'Content-Disposition: form-data; name="f"; filename="a.txt";', ("f", "a.txt", "text/plain"),
     "a semicolon at the end (RFC 9110 allows an empty parameter)"),
]


@pytest.mark.task(2)
@pytest.mark.hint("Split the block at CRLF; each line is name, colon, value (str.partition(':')). Keep the values "
                  "by lowercased name; read Content-Disposition with the given parameters(); Content-Type defaults "
                  "to text/plain.", docs="#a-parts-head")
def test_a_parts_head_is_read(uploads_module):
    """parse_part_head() reads a part's name, filename and Content-Type, in any case, with text/plain by default"""
    for block, (name, filename, content_type), why in HEADS:
        shown = f"parse_part_head({short(block, 80)})"
        part = call(uploads_module.parse_part_head, block, shown=shown)
        got = (getattr(part, "name", None), getattr(part, "filename", None), getattr(part, "content_type", None))
        if got != (name, filename, content_type):
            raise CheckFailed(f"{shown} read the head wrongly ({why}).", sent=block,
                              expected=f"name={name!r}, filename={filename!r}, content_type={content_type!r}",
                              received=f"name={got[0]!r}, filename={got[1]!r}, content_type={got[2]!r}",
                              meaning="A filename, even an empty one, makes the part a file; no filename makes it a "
                                      "field (None). Header names are case-insensitive, and a part without "
                                      "Content-Type is text/plain (RFC 7578, 4.4).")
    expect_not_utf8_read_or_refused(uploads_module)


BAD_HEADS = [
    (b'Content-Disposition form-data; name="a"', "a line with no colon"),
    (b'Content-Disposition: form-data; name="a"\r\nthis line has no colon', "a second line with no colon"),
    (b'Content Disposition: form-data; name="a"', "a space inside the field name"),
    (b' Content-Disposition: form-data; name="a"', "a line starting with a space (an old folded line)"),
    (b'Content-Type: text/plain', "no Content-Disposition"),
    (b'', "an empty head"),
    (b'Content-Disposition: attachment; name="a"', "not form-data"),
    (b'Content-Disposition: form-data; filename="a.txt"', "no name"),
    (b'Content-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"',
     "Content-Disposition twice: which one is the name?"),
    (b'Content-Disposition: form-data; name="a"; name="b"', "the name given twice"),
    (b'Content-Disposition: form-data; name="a"; filename="safe.txt"; filename="evil.html"',
     "the filename given twice: which one would a virus scanner read?"),
    (b'Content-Disposition: form-dataX; name="a"', "a disposition that only starts with form-data"),
    (b'Content-Disposition: form-data; name="a"\nX-Sneaky: yes', "a line ending in LF alone"),
    (b':no-name', "a colon with no name before it"),
    (b'Content-Disposition: form-data; name="a"\r\nBad Name: x', "a space inside a second field's name"),
    (b'Content-Disposition: form-data; name="a"\r\n X-Folded: yes', "a second line starting with a space"),
    (b'Content-Disposition: form-data; name="a"\r\n: no name', "a second line with nothing before its colon"),
    (b'Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain\nX-Sneaky: yes',
     "an LF alone inside the Content-Type line"),
    (b'Content-Disposition: form-data; name="a"\r\nContent-Type: text/plain\rX-Sneaky: yes',
     "a CR alone inside the Content-Type line"),
]


NOT_UTF8 = b'Content-Disposition: form-data; name="f"; filename="\xff\xfe\xc3.txt"'


def expect_not_utf8_read_or_refused(uploads_module):
    """A filename that is not UTF-8 is read with replacement characters, or refused with 400; never a crash."""
    shown = f"parse_part_head({short(NOT_UTF8, 80)})"
    try:
        part = call(uploads_module.parse_part_head, NOT_UTF8, shown=shown, expected_errors=(uploads_module.UploadError,))
    except CheckFailed as failed:
        if failed.todo is None:  # not a TODO left unwritten: a crash on these bytes
            failed.expected = "a Part whose filename has U+FFFD for each byte that is not UTF-8, or UploadError 400"
            failed.meaning = "A filename is whatever bytes the client sent: decode with errors='replace'."
        raise
    except uploads_module.UploadError as error:
        if error.status == HTTPStatus.BAD_REQUEST:
            return
        raise CheckFailed(f"{shown} was refused with status {error.status}.", expected="400, or a Part",
                          received=str(error)) from None
    if getattr(part, "name", None) != "f" or not isinstance(getattr(part, "filename", None), str):
        raise CheckFailed(f"{shown} read the head wrongly.", expected="name 'f', and a filename (str)",
                          received=short(part, 120))


@pytest.mark.task(2)
@pytest.mark.hint("Refuse (UploadError 400) a line whose name is not a TOKEN (no colon, a space), Content-Disposition "
                  "or Content-Type given twice, a CR or LF inside a value, and a head without Content-Disposition: form-data and a name.",
                  docs="#a-parts-head")
def test_a_malformed_head_is_refused(uploads_module, upload_error, expect_status):
    """parse_part_head() refuses with 400 a line without a colon, a missing or doubled Content-Disposition, and a part without a name"""
    for block, why in BAD_HEADS:
        shown = f"parse_part_head({short(block, 80)})"
        error = upload_error(uploads_module.parse_part_head, block, shown=shown,
                             expected=f"UploadError 400 ({why})")
        expect_status(error, HTTPStatus.BAD_REQUEST, f"{shown} was refused with the wrong status ({why}).",
                      sent=block)


def forms():
    """Bodies made by urllib3, and the parts a parser must find in them."""
    cases = [
        [("note", "hello")],
        [("note", "h\u00e9llo, w\u00f6rld"), ("photo", ("cat.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "image/png"))],
        [("tricky", ("tricky.bin", TRICKY, "application/octet-stream")), ("after", "the tricky one")],
        [("empty", ""), ("nothing", ("", b"", "application/octet-stream")), ("last", "x")],
        [("ends-in-crlf", "line\r\n"), ("ends-in-dashes", "--"), ("cr", "\r")],
    ]
    for fields in cases:
        expected = []
        for name, value in fields:
            if isinstance(value, tuple):
                expected.append((name, value[0], value[2], value[1]))
            else:
                expected.append((name, None, "text/plain", value.encode()))
        yield fields, expected


def near_boundaries(body):
    """Offsets to cut ``body`` at: at every byte of each boundary line and of the bytes around it."""
    offsets = set()
    start = body.find(b"--")
    while start != -1:
        offsets.update(range(max(1, start - 3), min(len(body), start + 40)))
        start = body.find(b"\r\n--", start + 1)
    return sorted(offsets)


def expect_parts(parsed, expected, body, cuts, bodies):
    got = parsed.summary()
    if got != expected or not parsed.finished:
        first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        raise CheckFailed(
            f"The parser read the body wrongly{bodies.cut_text(cuts)}.", sent=body,
            expected=f"{len(expected)} parts, then FINISHED; part {first + 1}: "
                     f"{short(expected[first], 150) if first < len(expected) else '(none)'}",
            received=f"{len(got)} parts{', then FINISHED' if parsed.finished else ', and no FINISHED'}; part "
                     f"{first + 1}: {short(got[first], 150) if first < len(got) else '(none)'}",
            meaning="recv() may cut a body anywhere, even inside the CRLF--boundary that ends a part: keep the "
                    "last len(delimiter) - 1 bytes back until the next piece says whether they start a delimiter. "
                    "The CRLF before a boundary belongs to the boundary, not to the content.")


@pytest.mark.task(3, needs=(2,))
@pytest.mark.hint("In _until_delimiter(), look for self.delimiter in the buffer. Not there: hand on all but the last "
                  "len(self.delimiter) - 1 bytes, which may be the start of one. There: hand on what is before it, "
                  "drop it, and go to 'after delimiter'.", docs="#split-boundaries")
def test_parts_come_out_whole_however_the_body_is_cut(uploads_module, parse, bodies):
    """MultipartParser gives each part's head and content whole, however recv() cuts the body: at every place near a boundary, and byte by byte"""
    for fields, expected in forms():
        body = bodies.encoded(fields)
        expect_parts(parse(body, stand_in=(4, 5)), expected, body, [], bodies)
        for cut in near_boundaries(body):
            expect_parts(parse(body, [cut], stand_in=(4, 5)), expected, body, [cut], bodies)
        every = list(range(1, len(body)))
        if len(body) < 2000:
            expect_parts(parse(body, every, stand_in=(4, 5)), expected, body, ["every byte"], bodies)


@pytest.mark.task(3, needs=(2,))
@pytest.mark.hint("The body may be cut anywhere: keep back only what could still be the start of a delimiter, and "
                  "search the kept bytes and the new piece together.", docs="#split-boundaries")
@course_settings(max_examples=60)
@given(content=st.binary(max_size=120) | st.lists(st.sampled_from([b"\r", b"\n", b"-", b"--", b"XyZ-boundary",
                                                                     b"a", b"\r\n--XyZ-bound"]),
                                                    max_size=12).map(b"".join),
       cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=6))
def test_any_content_survives_any_cuts(uploads_module, parse, bodies, content, cuts):
    """Hypothesis: any content, in a file and in a field, comes out byte for byte, whatever pieces the body arrives in"""
    if b"\r\n--XyZ-boundary" in b"\r\n" + content:
        return  # the boundary inside the data: refused, not read (another check)
    fields = [("f", ("f.bin", content, "application/octet-stream")),
              ("g", content.decode("latin-1"))]
    body = bodies.encoded(fields)
    expected = [("f", "f.bin", "application/octet-stream", content), ("g", None, "text/plain", content.decode("latin-1").encode())]
    expect_parts(parse(body, cuts, stand_in=(4, 5)), expected, body, cuts, bodies)


@pytest.mark.task(3, needs=(2,))
@pytest.mark.hint("Hand on content in every feed(), keeping back only a few bytes: a parser that waits for the "
                  "delimiter before handing on a part's content holds the whole file in memory.",
                  docs="#split-boundaries")
def test_content_is_handed_on_as_it_comes(uploads_module, parse, bodies, stand_ins, accepted):
    """MultipartParser hands on a part's content as it arrives, holding back no more than a piece and a delimiter, and 16 MiB pass through in little memory"""
    parser = call(uploads_module.MultipartParser, bodies.BOUNDARY.encode(), uploads_module.Limits(),
                  shown="MultipartParser(b'XyZ-boundary')")
    head = bodies.by_hand([(bodies.file_head("f", "big.bin"), b"")], final=False)[:-2]
    stand_ins(parser, (4, 5))  # TODOs 4 and 5 are not graded here
    handed = 0
    # A CR first: what may start a delimiter is a CR, but this one is followed by a MiB of content with no other.
    first = head + b"\r"
    accepted(parser.feed, first, shown=f"feed({short(first, 60)})")
    piece = b"0123456789abcdef" * 4096  # 64 KiB
    fed = 0
    for number in range(16):
        events = accepted(parser.feed, piece, shown=f"feed() of 64 KiB of content, piece {number + 1}")
        fed += len(piece) + (1 if number == 0 else 0)
        handed += sum(len(event) for event in events if isinstance(event, (bytes, bytearray)))
        if fed - handed > len(piece) + len(parser.delimiter):
            raise CheckFailed(f"After {fed} bytes of a file's content (a CR, then no other), the parser had handed on "
                              f"{handed}.",
                              expected=f"at least {fed - len(piece) - len(parser.delimiter)} bytes: all but what may "
                                       "start a delimiter", received=f"{handed} bytes",
                              meaning="A parser that keeps a part's content until its end holds the whole upload in "
                                      "memory: 50 MB for a 50 MB file. Hand on all you know is content.")
    tracemalloc.start()
    try:
        for _ in range(256):  # 16 MiB
            parser.feed(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if peak > 4 * 1024 * 1024:
        raise CheckFailed(f"Feeding 16 MiB of content, 64 KiB at a time, took {peak / 2**20:.1f} MiB of memory at "
                          "its peak.", expected="under 4 MiB: a piece, and a few bytes kept back",
                          received=f"{peak / 2**20:.1f} MiB",
                          meaning="Something keeps what it has read: the buffer must lose what was handed on.")


# What may come after "--XyZ-boundary" inside a body, and what it means: None for the boundary inside the data.
AFTER_DELIMITER = [
    (b"abc\r\n", "letters straight after the boundary"),
    (b"-x\r\n", "one dash, then a letter"),
    (b" x\r\n", "a space, then a letter"),
    (b"\t-\r\n", "a tab, then a dash"),
    (b"\n", "an LF alone"),
    (b"\rX", "a CR, then a letter"),
    (b"\n\r\n", "an LF, then CRLF"),
    (b" \x0c\r\n", "a form feed among the spaces"),
    (b"X\r\n", "an X: the line holds a longer boundary that starts the same"),
]


@pytest.mark.task(4, needs=(2, 3))
@pytest.mark.hint("In _after_delimiter(), wait for two bytes. '--' finishes the body. Otherwise everything before "
                  "the next CRLF must be spaces and tabs (strip(b' \\t') leaves nothing), or the boundary is inside "
                  "the data: UploadError 400. Keep the CRLF for _head(), and call self._start_part().",
                  docs="#what-follows-a-boundary")
def test_a_boundary_inside_the_data_is_refused(uploads_module, parse, bodies, upload_error, expect_status):
    """A boundary line holding more than the boundary and spaces is refused with 400 (the boundary is inside the data), however the body is cut"""
    good = bodies.by_hand([(bodies.field_head("a"), b"1"), (bodies.field_head("b"), b"2")])
    padded = good.replace(b"--XyZ-boundary\r\n", b"--XyZ-boundary \t \r\n")
    expected = [("a", None, "text/plain", b"1"), ("b", None, "text/plain", b"2")]
    for cut in near_boundaries(padded):
        got = parse(padded, [cut], stand_in=(5,))
        if got.started != 2:
            raise CheckFailed(f"_after_delimiter() called self._start_part() {got.started} times for two parts"
                              f"{bodies.cut_text([cut])}.", sent=padded,
                              expected="once for each part, when the CRLF after its boundary line has come",
                              received=f"{got.started} times",
                              meaning="_start_part() counts the parts against limits.parts (TODO 5): call it when "
                                      "a part begins, and only then.")
        if got.summary() != expected or not got.finished:
            raise CheckFailed(f"Spaces and tabs after a boundary were not read as padding{bodies.cut_text([cut])}.",
                              sent=padded, expected=short(expected, 150) + ", then FINISHED",
                              received=short(got.summary(), 150) + (", then FINISHED" if got.finished else
                                                                    ", and no FINISHED"),
                              meaning="RFC 2046 lets a sender put spaces and tabs (transport padding) between the "
                                      "boundary and the CRLF that ends its line.")
    for after, why in AFTER_DELIMITER:
        # A whole part follows the boundary line: only the line itself is wrong.
        injected = b"--XyZ-boundary" + after + b'Content-Disposition: form-data; name="c"\r\n\r\n3\r\n'
        body = good.replace(b"--XyZ-boundary--", injected + b"--XyZ-boundary--", 1)
        place = body.index(injected) + len(b"--XyZ-boundary")
        for cuts in ([], [place], [place + 1], [place - 1]):
            shown = f"feeding {short(body, 100)}{bodies.cut_text(cuts)}"
            error = upload_error(parse, body, cuts, stand_in=(5,), raises=True, shown=shown,
                                 expected=f"UploadError 400 ({why})")
            expect_status(error, HTTPStatus.BAD_REQUEST, f"The boundary inside the data was refused with the wrong "
                          f"status ({why}).", sent=body)


@pytest.mark.task(4, needs=(2, 3))
@pytest.mark.hint("While the line after a boundary has no CRLF yet, refuse it with 413 once the buffer is longer than "
                  "self.limits.head_bytes: padding is a few spaces, never kilobytes.", docs="#what-follows-a-boundary")
def test_endless_padding_is_refused(uploads_module, parse, bodies, upload_error, expect_status):
    """A boundary line that goes on past limits.head_bytes without its CRLF is refused with 413 while it arrives"""
    limits = uploads_module.Limits(head_bytes=1024)
    body = bodies.by_hand([(bodies.field_head("a"), b"1")], final=False) + b"--XyZ-boundary" + b" " * 4096
    shown = "feed() of a boundary line followed by 4096 spaces and no CRLF, with Limits(head_bytes=1024)"
    error = upload_error(parse, body, [len(body) - 4096 + 512, len(body) - 1024], limits=limits, stand_in=(5,),
                         close=False, raises=True, shown=shown, expected="UploadError 413 before the spaces end")
    expect_status(error, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{shown} was refused with the wrong status.",
                  meaning="Transport padding is allowed, but a line that never ends would grow the buffer until "
                          "memory runs out: limit it like a part's head.")


def truncations(body):
    """Places to cut ``body`` short: inside the preamble-free start, each head, each content, each boundary line."""
    return sorted({0, 1, 5, *range(len(body) - 20, len(body) - 3), body.index(b"\r\n\r\n") + 2,
                   body.index(b"\r\n\r\n") + 4, len(body) // 2})


@pytest.mark.task(4, needs=(2, 3))
@pytest.mark.hint("close() raises UploadError 400 unless the state is 'finished': only '--' after the last boundary "
                  "says the body is complete.", docs="#what-follows-a-boundary")
def test_a_body_without_its_final_boundary_is_refused(uploads_module, parse, bodies, upload_error, expect_status):
    """close() refuses with 400 a body that ends before its final boundary: in a head, in a content, or after a boundary with no --"""
    body = bodies.encoded([("note", "hello"), ("f", ("a.txt", b"some text", "text/plain"))])
    final = body.rindex(b"--\r\n")
    for end in truncations(body):
        if end > final:
            continue
        cut_short = body[:end]
        shown = f"close() after the body {short(cut_short, 100)}"
        error = upload_error(parse, cut_short, [end // 2], stand_in=(5,), raises=True, shown=shown,
                             expected="UploadError 400: the final boundary never came")
        expect_status(error, HTTPStatus.BAD_REQUEST, f"{shown} was refused with the wrong status.", sent=cut_short,
                      meaning="A client that stops sending halfway has sent half a file: only the final boundary "
                              "says the form is whole.")
    for ending in (b"\r\n--XyZ-boundary-", b"\r\n--XyZ-boundary \r\n"):
        cut_short = body[:final - len(b"\r\n--XyZ-boundary")] + ending
        shown = f"close() after the body {short(cut_short[-60:], 100)}"
        error = upload_error(parse, cut_short, stand_in=(5,), raises=True, shown=shown,
                             expected="UploadError 400: the final boundary never came")
        expect_status(error, HTTPStatus.BAD_REQUEST, f"{shown} was refused with the wrong status.", sent=cut_short)


@pytest.mark.task(4, needs=(2, 3))
@pytest.mark.hint("After '--', set the state to 'finished', return FINISHED, and drop the buffer: feed() ignores all "
                  "that comes after. Before the first boundary, the given _content() drops what _until_delimiter() "
                  "hands on.", docs="#what-follows-a-boundary")
def test_the_preamble_and_epilogue_are_ignored(uploads_module, parse, bodies):
    """What comes before the first boundary and after the final one is ignored, even a part after the end"""
    parts = [(bodies.field_head("a"), b"1")]
    after_the_end = b"\r\n--XyZ-boundary\r\n" + b"\r\n".join(bodies.field_head("evil")) + b"\r\n\r\nadded\r\n--XyZ-boundary--"
    cases = [
        (bodies.by_hand(parts, preamble=b"This is the preamble. --XyZ-boundary is only text here."), "a preamble"),
        (bodies.by_hand(parts, epilogue=b"This is the epilogue, and garbage: \r\n--\r\n\x00"), "an epilogue"),
        (bodies.by_hand(parts, epilogue=after_the_end), "a part after the final boundary"),
        (bodies.by_hand(parts)[:-2], "no CRLF after the final boundary"),
        (b"\r\n" + bodies.by_hand(parts), "a body starting with CRLF"),
    ]
    for body, why in cases:
        for cuts in ([], near_boundaries(body)[::3]):
            got = parse(body, cuts, stand_in=(5,))
            if got.summary() != [("a", None, "text/plain", b"1")] or not got.finished:
                raise CheckFailed(f"The parser did not ignore {why}{bodies.cut_text(cuts)}.", sent=body,
                                  expected="one part, a = '1', then FINISHED",
                                  received=short(got.summary(), 150) + (", FINISHED" if got.finished else
                                                                        ", no FINISHED"),
                                  meaning="RFC 2046 lets a body have text before its first boundary and after its "
                                          "last, for readers that do not understand multipart: it is not part of "
                                          "the form.")


@pytest.mark.task(5, needs=(2, 3, 4))
@pytest.mark.hint("In _start_part(), add one to self.parts, raise UploadError 413 once it is more than "
                  "self.limits.parts, and set self.part_size back to 0.", docs="#limits")
def test_too_many_parts_are_refused(uploads_module, parse, bodies, upload_error, expect_status):
    """MultipartParser refuses with 413 the part past limits.parts, as soon as its boundary line ends, and takes exactly that many"""
    limits = uploads_module.Limits(parts=3)
    three = bodies.encoded([(f"f{n}", str(n)) for n in range(3)])
    got = parse(three, limits=limits)
    if len(got.parts) != 3 or not got.finished:
        raise CheckFailed("A body of exactly limits.parts parts was not read.", sent=three,
                          expected="3 parts, then FINISHED", received=short(got.summary(), 150),
                          meaning="The limit is the most parts allowed; the final boundary starts no part.")
    four = bodies.encoded([(f"f{n}", str(n)) for n in range(4)])
    fourth = four.index(b"--XyZ-boundary\r\n", four.index(b'"f3"') - 60) + len(b"--XyZ-boundary\r\n")
    shown = f"feed() of 4 parts with Limits(parts=3), up to the 4th part's boundary line"
    error = upload_error(parse, four[:fourth], limits=limits, close=False, raises=True, shown=shown,
                         expected="UploadError 413 when the 4th part begins")
    expect_status(error, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{shown} was refused with the wrong status.",
                  meaning="413 Content Too Large: each part costs a head to parse and maybe a file to create, so a "
                          "body of a million tiny parts is refused as soon as it is one too many.")


@pytest.mark.task(5, needs=(2, 3, 4))
@pytest.mark.hint("In _content(), add len(data) to self.part_size; the limit is limits.field_bytes for a part whose "
                  "filename is None, limits.file_bytes otherwise; past it, UploadError 413.", docs="#limits")
def test_a_part_past_its_size_limit_is_refused(uploads_module, parse, bodies, upload_error, expect_status):
    """MultipartParser refuses with 413 a file past limits.file_bytes and a field past limits.field_bytes, counting each part from zero, as soon as it passes"""
    limits = uploads_module.Limits(file_bytes=1000, field_bytes=100)
    at_limits = bodies.encoded([("note", "n" * 100), ("a", ("a.bin", b"a" * 1000, "application/octet-stream")),
                                ("b", ("b.bin", b"b" * 1000, "application/octet-stream")),
                                ("e", ("", b"e" * 500, "application/octet-stream")), ("m", "m" * 100)])
    try:
        got = parse(at_limits, [500, 1500], limits=limits)
    except CheckFailed as failed:
        if failed.summary.startswith("The parser refused"):
            failed.meaning = ("Each part is held to its own limit, counted from zero: field_bytes (100) for a part "
                              "whose filename is None, file_bytes (1000) for a file, even one whose filename is "
                              "empty. This form has a field of 100, files of 1000 and 1000, an unnamed file of 500, "
                              "a field of 100.")
        raise
    if [len(content) for _, content in got.parts] != [100, 1000, 1000, 500, 100]:
        raise CheckFailed("Parts within their limits were not all read.", sent=at_limits,
                          expected="a field of 100 bytes, two files of 1000, a file with an empty filename of 500 (a "
                                   "file still), a field of 100 (each part is counted from zero)",
                          received=short(got.summary(), 200),
                          meaning="field_bytes=100 and file_bytes=1000 are the most each may hold.")
    cases = [
        ([("note", "n" * 101)], "a field of 101 bytes with field_bytes=100"),
        ([("note", "n" * 150), ("x", "y")], "a field of 150 bytes (under file_bytes, but a field)"),
        ([("a", ("a.bin", b"a" * 1001, "application/octet-stream"))], "a file of 1001 bytes with file_bytes=1000"),
        ([("a", ("", b"a" * 1001, "application/octet-stream"))], "an unnamed file of 1001 bytes"),
    ]
    typed_field = bodies.by_hand([(bodies.field_head("note") + [b"Content-Type: text/plain"], b"n" * 101)])
    untyped_file = bodies.by_hand([(bodies.file_head("a", "a.bin")[:1], b"a" * 1000)])
    got = parse(untyped_file, limits=limits)
    if [len(content) for _, content in got.parts] != [1000]:
        raise CheckFailed("A file of 1000 bytes with no Content-Type was not read, with file_bytes=1000.",
                          sent=untyped_file, expected="one part of 1000 bytes", received=short(got.summary(), 200),
                          meaning="A filename makes a part a file; its Content-Type is optional.")
    cases.append(([], "a field of 101 bytes that has a Content-Type, with field_bytes=100"))
    for fields, why in cases:
        body = bodies.encoded(fields) if fields else typed_field
        shown = f"feed() of {why}"
        error = upload_error(parse, body, [200], limits=limits, close=False, raises=True, shown=shown,
                             expected=f"UploadError 413 ({why})")
        expect_status(error, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{shown} was refused with the wrong status.")
    endless = bodies.by_hand([(bodies.file_head("a", "a.bin"), b"")], final=False)[:-2] + b"a" * 1100
    shown = "feed() of a file's head and 1100 bytes of content, with file_bytes=1000 and no end in sight"
    error = upload_error(parse, endless, [300, 600, 900], limits=limits, close=False, raises=True, shown=shown,
                         expected="UploadError 413 before the body ends")
    expect_status(error, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{shown} was refused with the wrong status.",
                  meaning="Count as the content comes: a limit checked at the end of a part lets a client send "
                          "gigabytes first.")
