"""The templates extension: pages written as HTML with holes in them, filled in safely.

A template is text with three kinds of marks::

    {{ user.name }}                 a value, escaped: & < > " ' become entities
    {% if user %}...{% endif %}     a tag: if/elif/else, for/else, block, extends, include
    {# a note to yourself #}        a comment, dropped

``Environment(folder).render("home.html", title="Home")`` finds home.html in
the folder, compiles it once (its text, then tokens, then a tree of nodes),
keeps the tree for every later request, and renders it with the values given.

Nothing in a template is ever run as Python: there is no ``eval``. A value is
reached by a name and lookups alone (``user.name``, ``links.0``), and a name
that starts with "_" is refused, so a template cannot climb from a string to
``__class__`` and on to the rest of the program. Everything a template prints
is escaped unless it is ``Markup``, text the program itself marked as HTML.
"""

import bisect
import functools
import inspect
import re
import threading
from collections import ChainMap, namedtuple
from collections.abc import Mapping
from pathlib import Path


class TemplateError(Exception):
    """A template that cannot be compiled or rendered, and where: "home.html, line 3, column 7: ..."."""

    def __init__(self, message, where=None):
        self.message = message
        self.name, self.line, self.column = (where.name, where.line, where.column) if where else (None, None, None)
        super().__init__(f"{self.name}, line {self.line}, column {self.column}: {message}" if where else message)


class Markup(str):
    """Text that is already HTML: escape() leaves it as it is.

    Mark only what your program wrote, never what a visitor sent. Any object
    with an ``__html__()`` method is treated the same way (the protocol
    MarkupSafe, Jinja and Django share).
    """

    __slots__ = ()

    def __html__(self):
        return self


def escape(value):
    """``value`` as HTML text, in a Markup: safe between tags and inside a quoted attribute."""
    # TODO 1: return value.__html__() (as Markup) when value has one; else str(value) with & replaced first, then < > " ', as Markup
    # Read: docs/extensions/templates.md#escaping-by-default
    raise NotImplementedError('TODO 1: return value.__html__() (as Markup) when value has one; else str(value) with & replaced first, then < > " \', as Markup (see docs/extensions/templates.md#escaping-by-default)')


# One piece of a template: "text", "output" ({{ ... }}) or "tag" ({% ... %}), with what it holds
# (inside the marks, stripped) and where it starts, for error messages.
Token = namedtuple("Token", "kind text name line column")

# The marks that open a piece, the kind of piece each opens, and the mark that closes it.
OPENERS = {"{{": ("output", "}}"), "{%": ("tag", "%}"), "{#": ("comment", "#}")}
OPENING = re.compile(r"\{[{%#]")


@functools.lru_cache(maxsize=16)
def line_starts(source):
    """Where each line of ``source`` starts: found once per source, so a long template costs no more per token."""
    return [0, *(newline.end() for newline in re.finditer("\n", source))]


def line_and_column(source, index):
    """The line and column (both counted from 1) of ``source[index]``."""
    starts = line_starts(source)
    line = bisect.bisect_right(starts, index)
    return line, index - starts[line - 1] + 1


def tokenize(source, name):
    """The template ``source`` as a list of Tokens; comments are dropped.

    TemplateError (at the opening mark) when a mark is never closed.
    """
    # TODO 2: find each opening mark with OPENING; the text before it is a "text" Token; find its closing mark (TemplateError at the opening mark if there is none); keep what is between, stripped, unless it is a comment; every Token with line_and_column() of where it starts
    # Read: docs/extensions/templates.md#tokens
    raise NotImplementedError('TODO 2: find each opening mark with OPENING; the text before it is a "text" Token; find its closing mark (TemplateError at the opening mark if there is none); keep what is between, stripped, unless it is a comment; every Token with line_and_column() of where it starts (see docs/extensions/templates.md#tokens)')


# A name a template may use: letters, digits and "_", but never a "_" first, so nothing private
# (``_secret``) and nothing of Python's own (``__class__``, ``__globals__``) can be reached.
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
INDEX = re.compile(r"[0-9]{1,18}")

# What may follow a "|": each takes the value and gives a new one. ``safe`` marks text as HTML
# (a value that has its own __html__ keeps it: only plain text is taken as HTML as it is).
FILTERS = {
    "safe": lambda value: value if hasattr(value, "__html__") else Markup(value),
    "upper": lambda value: str(value).upper(),
    "lower": lambda value: str(value).lower(),
    "length": len,
}


class Expression:
    """A compiled ``[not] name.part.part|filter|filter``: what goes in {{ }} and after if, elif and for ... in."""

    def __init__(self, path, filters=(), negated=False, where=None):
        self.path, self.filters, self.negated, self.where = tuple(path), tuple(filters), negated, where

    def __repr__(self):
        return f"Expression({'not ' if self.negated else ''}{'.'.join(self.path)}{''.join('|' + f for f in self.filters)})"

    def evaluate(self, context):
        value = context
        for depth, part in enumerate(self.path):
            try:
                value = lookup(value, part)
            except LookupError:
                shown = ".".join(self.path[:depth + 1])
                if depth > 0:
                    message = f"{shown} is not defined, or not for a template to reach"
                elif part in context:
                    message = f"{shown} was given, but lookup() did not find it in a {type(context).__name__}"
                else:
                    message = f"{shown} is not defined (names given: {', '.join(sorted(context))})"
                raise TemplateError(message, self.where) from None
        for name in self.filters:
            try:
                value = FILTERS[name](value)
            except (TypeError, ValueError) as error:
                raise TemplateError(f"|{name} cannot take {'.'.join(self.path)}: {error}", self.where) from None
        return not value if self.negated else value


def parse_expression(text, where):
    """The Expression that ``text`` writes: an optional "not ", a NAME, then "."-lookups, then "|"-filters.

    TemplateError at ``where`` for anything else: a literal, an operator, a call, a name starting with "_".
    """
    # TODO 3: take off a leading "not "; split the rest at "|" into the path and filter names; split the path at "."; the first part must match NAME, each other part NAME or INDEX, each filter be in FILTERS; else TemplateError at where
    # Read: docs/extensions/templates.md#names-and-lookups
    raise NotImplementedError('TODO 3: take off a leading "not "; split the rest at "|" into the path and filter names; split the path at "."; the first part must match NAME, each other part NAME or INDEX, each filter be in FILTERS; else TemplateError at where (see docs/extensions/templates.md#names-and-lookups)')


def is_machinery(value):
    """Whether ``value`` is Python's own machinery rather than data: code, a module, a class, a frame.

    From inside them, names without a "_" lead on to the whole program: a generator's ``gi_frame``
    has ``f_globals``, every global of its module, ``os`` among them. A template may loop over a
    generator, or print a function's name in its repr; it never looks inside either.
    """
    return any(test(value) for test in (inspect.ismodule, inspect.isclass, inspect.isroutine, inspect.isframe,
                                        inspect.istraceback, inspect.iscode, inspect.isgenerator,
                                        inspect.iscoroutine, inspect.isasyncgen))


def lookup(value, part):
    """One step of a path: ``part`` of ``value``. LookupError if it has none, if ``part`` starts with "_",
    or if ``value`` is machinery (``is_machinery()``), which a template never looks inside.

    A mapping is asked for its key only; a list or tuple for its index when ``part`` is digits;
    anything else for its attribute.
    """
    # TODO 4: refuse (LookupError) a part starting with "_" and a value that is_machinery(); a Mapping gives value[part]; a list or tuple with INDEX part gives value[int(part)]; anything else getattr(value, part), its AttributeError raised as LookupError
    # Read: docs/extensions/templates.md#names-and-lookups
    raise NotImplementedError('TODO 4: refuse (LookupError) a part starting with "_" and a value that is_machinery(); a Mapping gives value[part]; a list or tuple with INDEX part gives value[int(part)]; anything else getattr(value, part), its AttributeError raised as LookupError (see docs/extensions/templates.md#names-and-lookups)')


# What a Template hands down while it renders: the Environment (for include and extends), the blocks
# that fill the page (each the one from the template furthest down the chain), and how deep in includes.
Frame = namedtuple("Frame", "environment blocks depth")

# Includes nested deeper than this are a template including itself, directly or not.
MAX_DEPTH = 20


class Text:
    def __init__(self, text):
        self.text = text

    def render(self, context, out, frame):
        out.append(self.text)


class Output:
    """{{ expression }}"""

    def __init__(self, expression, where):
        self.expression, self.where = expression, where

    def render(self, context, out, frame):
        out.append(escape(self.expression.evaluate(context)))


def render_all(nodes, context, out, frame):
    for node in nodes:
        node.render(context, out, frame)


class If:
    """{% if a %}...{% elif b %}...{% else %}...{% endif %}: ``branches`` is [(Expression, nodes)]."""

    def __init__(self, condition, where):
        self.branches, self.otherwise, self.where = [(condition, [])], None, where

    def render(self, context, out, frame):
        # TODO 6: render the nodes of the first branch whose condition is true; if none is, those of otherwise (if there is an else)
        # Read: docs/extensions/templates.md#if-and-for
        raise NotImplementedError('TODO 6: render the nodes of the first branch whose condition is true; if none is, those of otherwise (if there is an else) (see docs/extensions/templates.md#if-and-for)')


class For:
    """{% for target in iterable %}...{% else %}...{% endfor %}: the else part renders when there is nothing to loop over."""

    def __init__(self, target, iterable, where):
        self.target, self.iterable, self.body, self.otherwise, self.where = target, iterable, [], None, where

    def render(self, context, out, frame):
        # TODO 6: evaluate iterable (TemplateError at where if it cannot be looped over); render body once per item, in a ChainMap with target set to the item over context; otherwise when there were no items
        # Read: docs/extensions/templates.md#if-and-for
        raise NotImplementedError('TODO 6: evaluate iterable (TemplateError at where if it cannot be looped over); render body once per item, in a ChainMap with target set to the item over context; otherwise when there were no items (see docs/extensions/templates.md#if-and-for)')


class Block:
    """{% block name %}...{% endblock %}: a part of a page that a template extending it may replace."""

    def __init__(self, name, where):
        self.name, self.body, self.where = name, [], where

    def render(self, context, out, frame):
        # TODO 7: render the body of frame.blocks' block of this name (this block's own if there is none)
        # Read: docs/extensions/templates.md#inheritance
        raise NotImplementedError("TODO 7: render the body of frame.blocks' block of this name (this block's own if there is none) (see docs/extensions/templates.md#inheritance)")


class Include:
    """{% include "name.html" %}: another template, rendered here with the same values."""

    def __init__(self, template, where):
        self.template, self.where = template, where

    def render(self, context, out, frame):
        # TODO 7: refuse (TemplateError at where) past MAX_DEPTH; else render the named template (frame.environment.get_template) into out, one level deeper
        # Read: docs/extensions/templates.md#inheritance
        raise NotImplementedError('TODO 7: refuse (TemplateError at where) past MAX_DEPTH; else render the named template (frame.environment.get_template) into out, one level deeper (see docs/extensions/templates.md#inheritance)')


# "for item in items": the loop's name, and the expression it loops over.
FOR = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s+in\s+(.+)")
# "name.html" or 'name.html': what extends and include name.
QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")


def quoted_name(text, where):
    match = QUOTED.fullmatch(text)
    if match is None:
        raise TemplateError(f"{text!r}: give the template's name in quotes, like \"base.html\"", where)
    return match[1] or match[2]


def parse(tokens):
    """The tree of a template's tokens: (its nodes, {block name: Block}, the Token of its extends or None).

    TemplateError at the token to blame for a tag it does not know, an elif, else or end tag
    that closes nothing open, an extends after anything but blank text, a block name used twice,
    and a tag never closed (at the tag that opened it).
    """
    nodes, blocks, extends = [], {}, None
    body = nodes   # the list the next node goes into
    open_tags = []  # (the tag's word, its node, its Token, the body to go back to when it closes)
    for token in tokens:
        if token.kind == "text":
            body.append(Text(token.text))
            continue
        if token.kind == "output":
            body.append(Output(parse_expression(token.text, token), token))
            continue
        word, rest = (token.text.split(None, 1) + ["", ""])[:2]
        # TODO 5: build If, For and Block nodes with their bodies (the open_tags stack), elif and else, the end tags, extends (first only) and include; TemplateError at the token for anything else
        # Read: docs/extensions/templates.md#the-tags
        raise NotImplementedError('TODO 5: build If, For and Block nodes with their bodies (the open_tags stack), elif and else, the end tags, extends (first only) and include; TemplateError at the token for anything else (see docs/extensions/templates.md#the-tags)')
    return nodes, blocks, extends


class Template:
    """A compiled template: render it as often as you like, from any thread."""

    def __init__(self, name, nodes, blocks, extends, environment):
        self.name, self.nodes, self.blocks, self.extends, self.environment = name, nodes, blocks, extends, environment

    def render(self, /, **values):
        """The page, as Markup."""
        out = []
        try:
            self.render_into(values, out, 0)
        except RecursionError:
            raise TemplateError(f"{self.name}: tags and includes nested too deep to render") from None
        return Markup("".join(out))

    def render_into(self, context, out, depth):
        """Add this template's text to ``out``: through the chain of templates it extends, if it does."""
        if self.extends is None:  # extends nothing: rendered as it is, with its own blocks
            render_all(self.nodes, context, out, Frame(self.environment, self.blocks, depth))
            return
        # TODO 7: this template extends another: follow extends up to the template that extends nothing (TemplateError at the extends Token if one comes back); gather blocks so the lowest template's of each name wins; render the top one's nodes with Frame(environment, those blocks, depth)
        # Read: docs/extensions/templates.md#inheritance
        raise NotImplementedError("TODO 7: this template extends another: follow extends up to the template that extends nothing (TemplateError at the extends Token if one comes back); gather blocks so the lowest template's of each name wins; render the top one's nodes with Frame(environment, those blocks, depth) (see docs/extensions/templates.md#inheritance)")


def compile_template(source, name, environment):
    """Text to Template: tokens, then the tree."""
    return Template(name, *parse(tokenize(source, name)), environment)


class Environment:
    """The templates of one folder: each compiled the first time it is asked for, then kept."""

    def __init__(self, folder):
        self.folder = Path(folder).resolve()
        self.templates = {}  # name -> Template
        self.lock = threading.Lock()

    def from_string(self, source, name="<string>"):
        return compile_template(source, name, self)

    def render(self, name, /, **values):
        return self.get_template(name).render(**values)

    def get_template(self, name, where=None):
        """The Template called ``name``, compiled on first use only, even when many threads ask at once."""
        # TODO 8: under self.lock, answer self.templates[name] if it is there; else compile self.source(name, where) with from_string, keep it, and answer it
        # Read: docs/extensions/templates.md#compiled-once
        raise NotImplementedError('TODO 8: under self.lock, answer self.templates[name] if it is there; else compile self.source(name, where) with from_string, keep it, and answer it (see docs/extensions/templates.md#compiled-once)')

    def source(self, name, where=None):
        """The text of the template ``name``: a file in the folder, never one outside it.

        TemplateError (at ``where``) for a name that leads outside the folder, or to no file, or to one that
        cannot be read.
        """
        # TODO 8: join name to self.folder and resolve() it; unless the result is_relative_to the folder and is_file(), TemplateError at where; else read it as UTF-8, turning OSError, RuntimeError, TypeError and ValueError into TemplateError
        # Read: docs/extensions/templates.md#compiled-once
        raise NotImplementedError('TODO 8: join name to self.folder and resolve() it; unless the result is_relative_to the folder and is_file(), TemplateError at where; else read it as UTF-8, turning OSError, RuntimeError, TypeError and ValueError into TemplateError (see docs/extensions/templates.md#compiled-once)')
