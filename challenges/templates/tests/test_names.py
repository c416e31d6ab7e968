"""templates — parse_expression() and lookup(), called directly: how a template reaches a value, and no further.

A template may name a value and look inside it (user.name, links.0, name|upper), nothing more: no
literal, no operator, no call, and no name starting with "_". The refused expressions below are the
first steps of well-known server-side template injection attacks on Jinja-like engines.
"""

import builtins
import os
import sys
from collections import OrderedDict
from types import MappingProxyType, SimpleNamespace

import pytest

from checks.report import CheckFailed
from checks.unit import call, short

VALUES = {
    "name": "ada",
    "user": {"name": "Ada", "langs": ["en", "fr"]},
    "links": [SimpleNamespace(href="/a", text="A"), SimpleNamespace(href="/b", text="B")],
    "pair": ("left", "right"),
    "flag": False,
    "notes": "n",
    "page": SimpleNamespace(title="Home", author=SimpleNamespace(name="Grace")),
}

# (expression, its value in VALUES)
READABLE = [
    ("name", "ada"),
    ("user.name", "Ada"),
    ("user.langs.1", "fr"),
    ("links.0.href", "/a"),
    ("pair.1", "right"),
    ("page.author.name", "Grace"),
    ("name|upper", "ADA"),
    ("user.langs|length", 2),
    ("page.title | lower | upper", "HOME"),
    ("not flag", True),
    ("not name", False),
    ("notes", "n"),
    ("not notes", False),
    ("notes|upper", "N"),
]

# Expressions a template may not hold: each must be a TemplateError when the template is compiled.
REFUSED = [
    "7*7",
    "name + name",
    "name()",
    "'ada'",
    "user['name']",
    "name.__class__",
    "name.__class__.__mro__.1.__subclasses__",
    "_private",
    "user._secret",
    "config.__init__.__globals__",
    "cycler.__init__.__globals__.os",
    "name.",
    ".name",
    "user..name",
    "",
    "1.name",
    "name|nosuchfilter",
    "name|",
    "name if flag else user",
    "__import__",
]


# A generator is data a template may loop over: lookup() hands it out, it only never looks inside one.
ROWS = (row for row in ["a", "b"])


class Account:
    """An object with a private attribute, a public one, and a method."""

    def __init__(self):
        self._password = "hunter2"
        self.owner = "ada"

    def delete(self):
        raise AssertionError("a template called a method")


def where(templates_module, text):
    return templates_module.Token("output", text, "page.html", 3, 7)


def compiled(templates_module, text):
    return call(templates_module.parse_expression, text, where(templates_module, text),
                shown=f"parse_expression({text!r}, where)")


@pytest.mark.task(3, needs=(4,))
@pytest.mark.hint("Take off \"not \" if the text starts with it; text.split(\"|\") gives the path and the filters; "
                  "path.split(\".\") gives the parts. Build Expression(path, filters, negated, where).",
                  docs="#names-and-lookups")
def test_parse_expression_reads_names_lookups_and_filters(templates_module):
    """parse_expression() reads a name, its .lookups, its |filters and a leading not, into an Expression"""
    for text, expected in READABLE:
        expression = compiled(templates_module, text)
        got = call(expression.evaluate, VALUES, shown=f"parse_expression({text!r}, where).evaluate(values)")
        if got != expected or type(got) is not type(expected):
            raise CheckFailed(
                f"{text!r} came to the wrong value.",
                sent="values = " + short(VALUES, 300),
                expected=repr(expected), received=short(got, 120),
                meaning="A name is looked up in the values; each \".part\" looks inside what came before; each "
                        "\"|filter\" (spaces around it allowed) is applied in order; \"not \" negates the whole.",
            )


@pytest.mark.task(3)
@pytest.mark.hint("The first part must fullmatch NAME, every other part NAME or INDEX, every filter be a key of "
                  "FILTERS; raise TemplateError(message, where) for anything else.", docs="#names-and-lookups")
def test_anything_but_names_and_lookups_is_refused_when_compiled(templates_module, template_error, expect_place):
    """parse_expression() refuses literals, operators, calls, brackets and names starting with _ (TemplateError)"""
    for text in REFUSED:
        error = template_error(templates_module.parse_expression, text, where(templates_module, text),
                               shown=f"parse_expression({text!r}, where)")
        expect_place(error, ("page.html", 3, 7), f"The error for {text!r} does not say where it is.",
                     sent=f"parse_expression({text!r}, where), with where at page.html, line 3, column 7",
                     meaning="Pass on the where you were given: whoever reads the error needs the template, line "
                             "and column of the mark to fix.")


@pytest.mark.task(3, needs=(2, 4, 5, 6))
@pytest.mark.hint("Nothing in the engine may call eval(), exec() or compile(): parse the expression with NAME, "
                  "INDEX and str.split, and evaluate it with lookup().", docs="#names-and-lookups")
def test_no_template_text_is_ever_run_as_python(templates_module, monkeypatch, render):
    """compiling and rendering never calls eval(), exec() or compile(): the template's text is never Python"""
    calls = []

    def refuse(name):
        def spy(*args, **kwargs):
            calls.append(f"{name}({short(args[0] if args else '', 60)})")
            raise AssertionError(f"{name}() was called")
        return spy

    source = "{% for link in links %}{% if not flag %}{{ link.text|upper }}{% endif %}{% endfor %}"
    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, refuse(name))
        monkeypatch.setattr(templates_module, name, refuse(name), raising=False)
    try:
        got = render(source, links=VALUES["links"], flag=False)
    except CheckFailed:
        if not calls:
            raise
        got = None
    finally:
        monkeypatch.undo()
    if calls or got != "AB":
        raise CheckFailed(
            "Compiling and rendering a template ran its text as Python." if calls else "The template came out wrong.",
            sent=source, expected="'AB', with no call of eval(), exec() or compile()",
            received="; ".join(calls) if calls else short(got, 120),
            meaning="A template engine that hands template text to eval() runs whatever a template says: "
                    "{{ ''.__class__.__mro__[1].__subclasses__() }} reaches every class in the program. "
                    "Reading names with NAME and looking them up with lookup() can reach nothing else.",
        )


@pytest.mark.task(4)
@pytest.mark.hint("isinstance(value, Mapping): value[part]. A list or tuple and an all-digits part: "
                  "value[int(part)]. Anything else: getattr(value, part), turning AttributeError into LookupError.",
                  docs="#names-and-lookups")
def test_lookup_finds_keys_indexes_and_attributes(templates_module):
    """lookup() gives a mapping's key, a list's or tuple's index, or another object's attribute"""
    account = Account()
    cases = [
        ({"name": "ada"}, "name", "ada"),
        ({"1": "key one"}, "1", "key one"),
        (["zero", "one"], "1", "one"),
        (("zero", "one"), "0", "zero"),
        (account, "owner", "ada"),
        (SimpleNamespace(items="attribute"), "items", "attribute"),
        (MappingProxyType({"name": "a mapping that is not a dict"}), "name", "a mapping that is not a dict"),
        (OrderedDict(name="an OrderedDict"), "name", "an OrderedDict"),
        ({"rows": ROWS}, "rows", ROWS),
    ]
    for value, part, expected in cases:
        got = call(templates_module.lookup, value, part, shown=f"lookup({short(value, 50)}, {part!r})")
        if got != expected:
            raise CheckFailed(f"lookup({short(value, 50)}, {part!r}) is not right.", expected=repr(expected),
                              received=short(got, 120),
                              meaning="A mapping (any Mapping: a dict, a ChainMap, a MappingProxyType) is asked for "
                                      "its key, even one made of digits; a list or tuple for its index; anything "
                                      "else for its attribute. What is found is handed out as it is, a generator too.")


@pytest.mark.task(4)
@pytest.mark.hint("Refuse a part starting with \"_\", and a value that is_machinery(), before anything else; a "
                  "mapping without the key is a KeyError (a LookupError): do not fall back to its attributes; turn "
                  "AttributeError into LookupError.",
                  docs="#names-and-lookups")
def test_lookup_reaches_nothing_private_or_missing(templates_module):
    """lookup() raises LookupError for a name starting with _, anything missing, and anything inside code or modules"""
    account = Account()
    cases = [
        ("", "__class__", "the class of a str: the first step from any value to every class in the program"),
        (account, "_password", "a private attribute"),
        (account, "__dict__", "every attribute of the object"),
        ({"_token": "secret"}, "_token", "a private key"),
        ({"name": "ada"}, "items", "a dict's method: a mapping is only asked for its keys"),
        ({"name": "ada"}, "nme", "a key that is not there"),
        (["zero"], "3", "an index past the end"),
        (account, "nickname", "an attribute that is not there"),
        ("text", "0", "a str is not a list: its attribute \"0\" does not exist"),
        ((n for n in [1]), "gi_frame", "a generator's frame, whose f_globals holds every global of its module"),
        (sys._getframe(), "f_globals", "a frame's globals"),
        (os, "environ", "inside a module: os.environ, every secret in the environment"),
        (Account, "delete", "inside a class"),
        (account.delete, "delete", "inside a method"),
    ]
    for value, part, what in cases:
        shown = f"lookup({short(value, 50)}, {part!r})"
        try:
            got = call(templates_module.lookup, value, part, shown=shown, expected_errors=(LookupError,))
        except LookupError:
            continue
        raise CheckFailed(
            f"{shown} did not refuse: that is {what}.",
            expected="LookupError", received=f"it returned {short(got, 120)}",
            meaning="A name that starts with \"_\" is private, or Python's own: from \"\".__class__ a template "
                    "can climb to every class and every module of the program. Code is no better: a generator's "
                    "gi_frame.f_globals needs no \"_\" (is_machinery() knows code from data). And a value that "
                    "is not there is an error to report, never something to guess at.",
        )


@pytest.mark.task(4, needs=(2,))
@pytest.mark.hint("lookup() must raise LookupError (KeyError and IndexError are LookupErrors; AttributeError is "
                  "not) when there is nothing to find: never return None or \"\".", docs="#names-and-lookups")
def test_a_missing_value_is_an_error_that_names_it(templates_module, folder, template_error):
    """a name or lookup that finds nothing is a TemplateError naming it, its line and column, never blank"""
    environment = folder({})
    for source, values, missing, line, column in [
        ("<p>Hello, {{ usr }}</p>", {"user": "ada"}, "usr", 1, 11),
        ("<p>\n  {{ user.nme }}</p>", {"user": {"name": "ada"}}, "user.nme", 2, 3),
        ("{{ links.2.href }}", {"links": [{"href": "/a"}]}, "links.2", 1, 1),
        ("{{ page.titel }}", {"page": SimpleNamespace(title="Home")}, "page.titel", 1, 1),
    ]:
        template = call(environment.from_string, source, "page.html", shown=f"compiling {source!r}")
        error = template_error(template.render, shown=f"rendering {source!r} with {short(values, 60)}", **values)
        if missing not in str(error) or (error.line, error.column) != (line, column):
            raise CheckFailed(
                f"Rendering {source!r} with {short(values, 60)} did not say what was missing.",
                expected=f"a TemplateError at page.html, line {line}, column {column}, naming {missing}",
                received=str(error),
                meaning="A typo in a template (usr for user) must be found the first time the page is shown, with "
                        "the place to fix, not leave a blank where the name should be.",
            )
