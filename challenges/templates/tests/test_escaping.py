"""templates — escape(), called directly, compared with MarkupSafe (the escaper under Jinja and Flask).

Two escapers may spell an entity differently (&#34; or &quot;), so the checks compare what a browser
reads: the text decoded by Python's html.unescape must be exactly the text given, and none of the five
characters that can end a text or an attribute value may be left raw.
"""

import html
import re

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.properties import course_settings
from checks.report import CheckFailed
from checks.unit import call, short

# What a visitor might send, and what would go wrong if it reached a page unescaped.
HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "Tom & Jerry",
    "&lt;already an entity&gt;",
    "&amp;",
    "&#39;",
    "x < y > z",
    "",
    "plain text",
    "ünïcödé ✓ 😀",
    "{{ 7*7 }} {% include 'base.html' %}",
    "line\nbreak\ttab\x00nul",
]

# A character raw in the output that can end a text node or a quoted attribute, or start a tag or an entity.
RAW = re.compile(r"[<>\"']|&(?!(?:#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);)")


def escaped(templates_module, value):
    got = call(templates_module.escape, value, shown=f"escape({short(value)})")
    if not isinstance(got, str):
        raise CheckFailed(f"escape({short(value)}) returned {type(got).__name__}.",
                          expected="a str (a Markup, so that escaping it again changes nothing)", received=short(got))
    return got


def expect_safe(templates_module, value):
    got = escaped(templates_module, value)
    oracle = str(markupsafe.escape(value))
    if html.unescape(got) != html.unescape(oracle) or RAW.search(got):
        raise CheckFailed(
            f"escape({short(value)}) is not safe HTML for that text.",
            expected=f"{oracle!r}  (MarkupSafe's; &quot; for &#34; would do as well)",
            received=repr(got),
            meaning="Every character that can change what HTML means must become an entity: < and > (a tag), "
                    "\" and ' (the end of an attribute value), and & itself, first, so that a visitor's \"&lt;\" "
                    "stays the four characters they typed. A browser must read back exactly the text given.",
        )


@pytest.mark.task(1)
@pytest.mark.hint("Replace & first (with &amp;), then < > \" ' (with &lt; &gt; &#34; &#39;), and return the "
                  "result as Markup(...).", docs="#escaping-by-default")
@course_settings(max_examples=150)
@given(text=st.text(alphabet=st.sampled_from("<>&\"'a; #x0123=/é\n"), max_size=30))
def test_escape_makes_any_text_safe_in_html(templates_module, text):
    """escape() replaces & first, then the angle brackets and both quotes, so a browser reads back exactly the text given"""
    for value in HOSTILE:
        expect_safe(templates_module, value)
    expect_safe(templates_module, text)


class Trusted:
    """Not a str: an object that knows its own HTML, as MarkupSafe's and Django's do."""

    def __html__(self):
        return "<em>already HTML</em>"

    def __repr__(self):
        return "Trusted()  (an object whose __html__() gives '<em>already HTML</em>')"


@pytest.mark.task(1)
@pytest.mark.hint("Before anything else: if hasattr(value, \"__html__\"), return Markup(value.__html__()). "
                  "Anything else becomes str(value) and is escaped.", docs="#escaping-by-default")
def test_markup_is_left_alone_and_anything_else_becomes_text(templates_module):
    """escape() leaves Markup (anything with __html__) as it is, and escapes str() of numbers, None and lists"""
    markup = templates_module.Markup
    cases = [
        (markup("<b>bold</b>"), "<b>bold</b>", "Markup is text your program marked as HTML: it is left as it is."),
        (Trusted(), "<em>already HTML</em>", "An object with __html__() gives its own HTML (the protocol "
                                             "MarkupSafe, Jinja and Django share)."),
        (markupsafe.Markup("<i>MarkupSafe's</i>"), "<i>MarkupSafe's</i>", "MarkupSafe's Markup has __html__ too."),
        (42, "42", "A number is printed as str(value) would."),
        (None, "None", "None is printed as str(None), as Jinja and MarkupSafe do."),
        (["<li>"], str(markupsafe.escape(["<li>"])), "A list is str(value), escaped like any text."),
    ]
    for value, expected, meaning in cases:
        got = escaped(templates_module, value)
        if html.unescape(got) != html.unescape(expected) or (not hasattr(value, "__html__") and RAW.search(got)):
            raise CheckFailed(f"escape({short(value)}) is not right.", expected=repr(expected), received=repr(got),
                              meaning=meaning)
    once = escaped(templates_module, "<a href='x'>&</a>")
    twice = escaped(templates_module, once)
    if twice != once:
        raise CheckFailed("Escaping the result of escape() again changed it.", expected=repr(once),
                          received=repr(twice), meaning="escape() returns Markup, so that text already escaped is "
                          "never escaped twice (a visitor would see &amp;lt; on the page).")
