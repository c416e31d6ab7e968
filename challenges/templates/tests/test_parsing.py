"""templates — parse(), called directly on tokenize()'s tokens: the tags become a tree of nodes.

The checks read the tree parse() returns: the node classes (If, For, Block, Include) are given in
templates.py, so what is checked is which node each tag makes and what goes inside it.
"""

import pytest

from checks.report import CheckFailed
from checks.unit import call, short


def outline(templates_module, nodes):
    """A tree of nodes, as nested lists that read like the template: ["if x", [...], "elif y", [...]]."""
    shown = []
    for node in nodes:
        kind = type(node).__name__
        if kind == "Text":
            if node.text.strip():
                shown.append(node.text.strip())
        elif kind == "Output":
            shown.append("{{ " + ".".join(node.expression.path) + " }}")
        elif kind == "If":
            for number, (condition, body) in enumerate(node.branches):
                shown += [("if " if number == 0 else "elif ") + ("not " if condition.negated else "")
                          + ".".join(condition.path), outline(templates_module, body)]
            if node.otherwise is not None:
                shown += ["else", outline(templates_module, node.otherwise)]
        elif kind == "For":
            shown += [f"for {node.target} in {'.'.join(node.iterable.path)}", outline(templates_module, node.body)]
            if node.otherwise is not None:
                shown += ["else", outline(templates_module, node.otherwise)]
        elif kind == "Block":
            shown += [f"block {node.name}", outline(templates_module, node.body)]
        elif kind == "Include":
            shown.append(f"include {node.template}")
        else:
            shown.append(repr(node))
    return shown


def parsed(templates_module, source):
    tokens = call(templates_module.tokenize, source, "page.html", shown=f"tokenize({short(source, 60)})")
    got = call(templates_module.parse, tokens, shown=f"parse(tokenize({short(source, 60)}))")
    if not (isinstance(got, tuple) and len(got) == 3):
        raise CheckFailed(f"parse(tokenize({short(source, 60)})) returned {short(got, 100)}.",
                          expected="(nodes, blocks, extends)", received=short(got, 200))
    return got


TREES = [
    ("{% if a %}A{% endif %}", ["if a", ["A"]]),
    ("{% if a %}A{% elif not b %}B{% elif c %}C{% else %}D{% endif %}",
     ["if a", ["A"], "elif not b", ["B"], "elif c", ["C"], "else", ["D"]]),
    ("<ul>{% for x in xs %}<li>{{ x }}</li>{% else %}<li>none</li>{% endfor %}</ul>",
     ["<ul>", "for x in xs", ["<li>", "{{ x }}", "</li>"], "else", ["<li>none</li>"], "</ul>"]),
    ("{% for row in rows %}{% for cell in row %}{% if cell %}{{ cell }}{% else %}-{% endif %}{% endfor %}{% endfor %}",
     ["for row in rows", ["for cell in row", ["if cell", ["{{ cell }}"], "else", ["-"]]]]),
    ("{% if a %}{% if b %}AB{% endif %}A{% else %}{% for x in xs %}X{% endfor %}{% endif %}after",
     ["if a", ["if b", ["AB"], "A"], "else", ["for x in xs", ["X"]], "after"]),
    ("<title>{% block title %}Home{% endblock %}</title>{% include \"nav.html\" %}"
     "{% block content %}{% block inner %}in{% endblock %}{% endblock %}",
     ["<title>", "block title", ["Home"], "</title>", "include nav.html", "block content", ["block inner", ["in"]]]),
    ("{% block main %}{%if\tx%}X{%endif%}{% endblock main %}", ["block main", ["if x", ["X"]]]),
]


@pytest.mark.task(5, needs=(2, 3))
@pytest.mark.hint("Keep a stack of open tags. if, for and block: make the node, append it to body, push "
                  "(word, node, token, body) and go on in the node's body. elif and else: start a new body in the "
                  "innermost node. An end tag: pop, and go back to the body saved with it.", docs="#the-tags")
def test_tags_nest_into_a_tree(templates_module):
    """parse() puts what is between if/elif/else/endif, for/else/endfor and block/endblock inside their nodes"""
    for source, expected in TREES:
        nodes, _, _ = parsed(templates_module, source)
        got = outline(templates_module, nodes)
        if got != expected:
            raise CheckFailed(
                f"parse() built the wrong tree for {short(source, 90)}.",
                expected=short(expected, 400), received=short(got, 400),
                meaning="Each tag's body is what comes after it, up to its elif, else or end tag; a tag opened "
                        "inside another belongs to it, so the innermost open tag is the one an end tag closes.",
            )


@pytest.mark.task(5, needs=(2, 3))
@pytest.mark.hint("Return (nodes, blocks, extends): blocks maps each block's name to its Block (nested ones "
                  "too); extends is the {% extends %} Token with its text replaced by the name, or None.",
                  docs="#the-tags")
def test_blocks_and_extends_are_collected(templates_module):
    """parse() returns every block by name, nested ones too, and the name an extends tag gives"""
    source = ("\n{% extends \"base.html\" %}\n{% block title %}Mine{% endblock %}\n"
              "{% block content %}{% block aside %}{% endblock %}{% endblock %}")
    _, blocks, extends = parsed(templates_module, source)
    got = (sorted(blocks) if isinstance(blocks, dict) else blocks, getattr(extends, "text", extends))
    expected = (["aside", "content", "title"], "base.html")
    lines = (getattr(extends, "line", None), getattr(extends, "column", None))
    if got != expected or lines != (2, 1):
        raise CheckFailed(
            "parse() did not collect the blocks and the extends tag.",
            sent=source,
            expected=f"blocks {expected[0]}, extends 'base.html' at line 2, column 1",
            received=f"blocks {short(got[0], 100)}, extends {short(got[1], 60)} at line {lines[0]}, column {lines[1]}",
            meaning="A page that extends a layout replaces the layout's blocks with its own: rendering needs "
                    "every block by name, and the layout's name (with where the tag is, for errors).",
        )
    _, blocks, extends = parsed(templates_module, "{% block a %}{% endblock %}")
    if extends is not None or not isinstance(blocks, dict) or list(blocks) != ["a"]:
        raise CheckFailed("parse() of a template without extends did not return extends None.",
                          expected="({...}, {'a': Block}, None)", received=short((blocks, extends), 120))


# (source, line, column, what is wrong): each must be a TemplateError at that place.
BROKEN = [
    ("{% if a %}A", 1, 1, "an if never closed"),
    ("{% for x in xs %}\n  {% if x %}X{% endfor %}", 2, 14, "endfor while an if is open"),
    ("A{% endif %}", 1, 2, "an endif with nothing open"),
    ("{% block a %}\n{% endif %}\n{% endblock %}", 2, 1, "endif inside a block"),
    ("{% for x in xs %}{% elif y %}{% endfor %}", 1, 18, "elif in a for"),
    ("{% if a %}{% else %}{% else %}{% endif %}", 1, 21, "two elses"),
    ("{% if a %}{% else %}{% elif b %}{% endif %}", 1, 21, "elif after else"),
    ("{% else %}", 1, 1, "an else with nothing open"),
    ("{% endblock %}", 1, 1, "an endblock with nothing open"),
    ("text\n  {% while x %}", 2, 3, "a tag that does not exist"),
    ("{% for x %}{% endfor %}", 1, 1, "a for without in"),
    ("{% for 1 in xs %}{% endfor %}", 1, 1, "a for whose name is not a name"),
    ("{% for x in 7*7 %}{% endfor %}", 1, 1, "a for over something that is not a name"),
    ("{% if %}{% endif %}", 1, 1, "an if without a condition"),
    ("{% block %}{% endblock %}", 1, 1, "a block without a name"),
    ("{% block a %}{% endblock %}{% block a %}{% endblock %}", 1, 28, "two blocks of one name"),
    ("<p>\n{% extends \"base.html\" %}", 2, 1, "an extends after text"),
    ("{% extends \"a.html\" %}{% extends \"b.html\" %}", 1, 23, "two extends"),
    ("{% extends base.html %}", 1, 1, "an extends whose name is not in quotes"),
    ("{% include %}", 1, 1, "an include without a name"),
    ("{% if a %}A{% else if b %}B{% endif %}", 1, 12, "an else with a condition (else if is not elif)"),
    ("{% for x in xs %}{% endfor x %}", 1, 18, "an endfor with something after it"),
    ("{% block a %}\n{% endblock b %}", 2, 1, "an endblock naming another block"),
    ("{% %}", 1, 1, "an empty tag"),
    ("<p>\n  {% import \"macros.html\" %}", 2, 3, "a tag of Jinja's that this engine does not have"),
]


@pytest.mark.task(5, needs=(2, 3))
@pytest.mark.hint("An else or elif needs an innermost open if (for: else only) without an else yet; an end tag "
                  "must match the innermost open tag; at the end, an open tag left on the stack is an error at "
                  "its own token. Raise TemplateError(message, token).", docs="#the-tags")
def test_a_tag_out_of_place_is_an_error_at_that_tag(templates_module, template_error, expect_place):
    """parse() raises TemplateError at the tag to blame: one never closed, one closing nothing, one unknown"""
    for source, line, column, what in BROKEN:
        tokens = call(templates_module.tokenize, source, "page.html", shown=f"tokenize({short(source, 60)})")
        error = template_error(templates_module.parse, tokens, shown=f"parse(tokenize({short(source, 60)}))")
        expect_place(error, ("page.html", line, column), f"parse() blamed the wrong place for {what}.", sent=source,
                     meaning="The error names the tag to fix: the one never closed (where it opens), or the one "
                             "that does not belong where it is. A template with an error is never half rendered.")
