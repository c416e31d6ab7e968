"""templates — tokenize(), called directly: the text of a template cut at its marks.

The expected tokens are written out by hand from the rules on the page: {{ }} is an "output", {% %} a
"tag", {# #} a comment (dropped), and everything between them "text", exactly as written.
"""

import pytest

from checks.report import CheckFailed
from checks.unit import call, short

# (source, [(kind, text)]): what tokenize must find, in order.
PIECES = [
    ("Hello, {{ name }}!", [("text", "Hello, "), ("output", "name"), ("text", "!")]),
    ("{{name}}{{ user.name|upper }}", [("output", "name"), ("output", "user.name|upper")]),
    ("<ul>{% for x in xs %}<li>{{ x }}</li>{% endfor %}</ul>",
     [("text", "<ul>"), ("tag", "for x in xs"), ("text", "<li>"), ("output", "x"), ("text", "</li>"),
      ("tag", "endfor"), ("text", "</ul>")]),
    ("a{# a note, with {{ marks }} in it #}b", [("text", "a"), ("text", "b")]),
    ("{#\n  a comment over\n  three lines\n#}", []),
    ("no marks at all, {just braces} and } and %}", [("text", "no marks at all, {just braces} and } and %}")]),
    ("line one\n  {%  if   ok  %}\n", [("text", "line one\n  "), ("tag", "if   ok"), ("text", "\n")]),
    ("", []),
]

# (source, [(text of an output or tag, line, column)]): where each mark's opening brace is, counted from 1.
PLACES = (
    "<h1>{{ title }}</h1>\n"
    "{% if user %}\n"
    "  <p>Hello, {{ user.name }}</p>   {# a note #}  {{ tail }}\n"
    "\t{% endif %}"
)
EXPECTED_PLACES = [("title", 1, 5), ("if user", 2, 1), ("user.name", 3, 13), ("tail", 3, 49), ("endif", 4, 2)]

# (source, line, column): a mark never closed, and where it opens.
UNCLOSED = [
    ("Hello, {{ name", 1, 8),
    ("<p>\n  {% if x }\n</p>", 2, 3),
    ("{{ a }} {# a note that goes on", 1, 9),
    ("{{ a }}\n\n{{ b } }}{{ c", 3, 10),
]


def tokens_of(templates_module, source):
    got = call(templates_module.tokenize, source, "page.html", shown=f"tokenize({short(source, 60)}, 'page.html')")
    if not isinstance(got, list):
        raise CheckFailed(f"tokenize({short(source, 60)}, 'page.html') returned {type(got).__name__}.",
                          expected="a list of Tokens", received=short(got, 120))
    return got


@pytest.mark.task(2)
@pytest.mark.hint("Loop: OPENING.search(source, position) finds the next mark; the text before it is a \"text\" "
                  "Token; OPENERS tells you its kind and its closing mark, which source.find(closing, ...) finds; "
                  "keep what is between, .strip()ped, unless the kind is \"comment\".", docs="#tokens")
def test_tokenize_cuts_the_text_at_each_mark(templates_module):
    """tokenize() gives text, output and tag tokens in order, with what is inside each mark, and drops comments"""
    for source, expected in PIECES:
        got = [(token.kind, token.text) for token in tokens_of(templates_module, source)]
        if got != expected:
            raise CheckFailed(
                f"tokenize({short(source, 60)}) did not cut it where it should.",
                expected=repr(expected), received=short(got, 300),
                meaning="Text is kept exactly as written (spaces and newlines too); an output or a tag keeps what is "
                        "between its marks, stripped; a comment disappears. Braces that do not open a mark are text.",
            )


@pytest.mark.task(2)
@pytest.mark.hint("Each Token's line and column are those of its opening mark: line_and_column(source, "
                  "opening.start()), not of where the text inside starts or where the mark ends.", docs="#tokens")
def test_each_token_knows_where_it_starts(templates_module):
    """tokenize() gives each output and tag the template's name and the line and column of its opening brace"""
    tokens = tokens_of(templates_module, PLACES)
    got = [(token.text, token.line, token.column) for token in tokens if token.kind != "text"]
    names = {token.name for token in tokens}
    if got != EXPECTED_PLACES or names != {"page.html"}:
        raise CheckFailed(
            "tokenize() put the marks in the wrong places.",
            sent=PLACES,
            expected="(text, line, column): " + repr(EXPECTED_PLACES) + ", each named 'page.html'",
            received="(text, line, column): " + short(got, 300) + f", named {sorted(names)}",
            meaning="Every error message names the template, line and column to look at, so each Token "
                    "remembers where its opening {{ or {% is. Lines and columns count from 1; a tab is one column.",
        )


@pytest.mark.task(2)
@pytest.mark.hint("When source.find(closing, ...) gives -1, raise TemplateError(..., where) with where a Token at "
                  "the opening mark's line and column.", docs="#tokens")
def test_a_mark_never_closed_is_an_error_where_it_opens(templates_module, template_error, expect_place):
    """a {{, {% or {# that is never closed is a TemplateError at the line and column where it opens"""
    for source, line, column in UNCLOSED:
        error = template_error(templates_module.tokenize, source, "page.html",
                               shown=f"tokenize({short(source, 60)}, 'page.html')")
        expect_place(
            error, ("page.html", line, column), f"tokenize({short(source, 60)}) blamed the wrong place.",
            sent=source,
            meaning="The error is where the mark that is never closed opens: that is the line to look at. "
                    "The rest of the template is not guessed at, as text or otherwise.",
        )
