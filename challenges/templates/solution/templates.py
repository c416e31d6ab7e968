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


# --8<-- [start:escape]
def escape(value):
    """``value`` as HTML text, in a Markup: safe between tags and inside a quoted attribute."""
    # >>> SOLUTION 1 #escaping-by-default: return value.__html__() (as Markup) when value has one; else str(value) with & replaced first, then < > " ', as Markup
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    text = str(value)
    # "&" first: replacing it after the others would turn their "&lt;" into "&amp;lt;".
    for character, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("'", "&#39;")):
        text = text.replace(character, entity)
    return Markup(text)
    # <<< SOLUTION
# --8<-- [end:escape]


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


# --8<-- [start:tokenize]
def tokenize(source, name):
    """The template ``source`` as a list of Tokens; comments are dropped.

    TemplateError (at the opening mark) when a mark is never closed.
    """
    # >>> SOLUTION 2 #tokens: find each opening mark with OPENING; the text before it is a "text" Token; find its closing mark (TemplateError at the opening mark if there is none); keep what is between, stripped, unless it is a comment; every Token with line_and_column() of where it starts
    tokens = []
    position = 0
    while position < len(source):
        opening = OPENING.search(source, position)
        text_end = opening.start() if opening else len(source)
        if text_end > position:
            tokens.append(Token("text", source[position:text_end], name, *line_and_column(source, position)))
        if opening is None:
            break
        kind, closing = OPENERS[opening.group()]
        where = Token(kind, "", name, *line_and_column(source, opening.start()))
        end = source.find(closing, opening.end())
        if end == -1:
            raise TemplateError(f"{opening.group()} is never closed: {closing} is missing", where)
        if kind != "comment":
            tokens.append(where._replace(text=source[opening.end():end].strip()))
        position = end + len(closing)
    return tokens
    # <<< SOLUTION
# --8<-- [end:tokenize]


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


# --8<-- [start:expressions]
def parse_expression(text, where):
    """The Expression that ``text`` writes: an optional "not ", a NAME, then "."-lookups, then "|"-filters.

    TemplateError at ``where`` for anything else: a literal, an operator, a call, a name starting with "_".
    """
    # >>> SOLUTION 3 #names-and-lookups: take off a leading "not "; split the rest at "|" into the path and filter names; split the path at "."; the first part must match NAME, each other part NAME or INDEX, each filter be in FILTERS; else TemplateError at where
    negated, written = False, text
    words = text.split(None, 1)
    if len(words) == 2 and words[0] == "not":
        negated, text = True, words[1]
    path_text, *filters = [piece.strip() for piece in text.split("|")]
    path = path_text.split(".")
    if not NAME.fullmatch(path[0]) or not all(NAME.fullmatch(part) or INDEX.fullmatch(part) for part in path[1:]):
        raise TemplateError(f"{written!r}: a template may only name a value and look inside it "
                            "(like user.name or links.0), with no leading _", where)
    for name in filters:
        if name not in FILTERS:
            raise TemplateError(f"no filter named {name!r} (there are: {', '.join(FILTERS)})", where)
    return Expression(path, filters, negated, where)
    # <<< SOLUTION
# --8<-- [end:expressions]


def is_machinery(value):
    """Whether ``value`` is Python's own machinery rather than data: code, a module, a class, a frame.

    From inside them, names without a "_" lead on to the whole program: a generator's ``gi_frame``
    has ``f_globals``, every global of its module, ``os`` among them. A template may loop over a
    generator, or print a function's name in its repr; it never looks inside either.
    """
    return any(test(value) for test in (inspect.ismodule, inspect.isclass, inspect.isroutine, inspect.isframe,
                                        inspect.istraceback, inspect.iscode, inspect.isgenerator,
                                        inspect.iscoroutine, inspect.isasyncgen))


# --8<-- [start:lookup]
def lookup(value, part):
    """One step of a path: ``part`` of ``value``. LookupError if it has none, if ``part`` starts with "_",
    or if ``value`` is machinery (``is_machinery()``), which a template never looks inside.

    A mapping is asked for its key only; a list or tuple for its index when ``part`` is digits;
    anything else for its attribute.
    """
    # >>> SOLUTION 4 #names-and-lookups: refuse (LookupError) a part starting with "_" and a value that is_machinery(); a Mapping gives value[part]; a list or tuple with INDEX part gives value[int(part)]; anything else getattr(value, part), its AttributeError raised as LookupError
    if part.startswith("_") or is_machinery(value):
        raise LookupError(f"{part}: private (it starts with _), or inside code")
    if isinstance(value, Mapping):
        return value[part]
    if isinstance(value, (list, tuple)) and INDEX.fullmatch(part):
        return value[int(part)]
    try:
        return getattr(value, part)
    except AttributeError:
        raise LookupError(part) from None
    # <<< SOLUTION
# --8<-- [end:lookup]


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

    # --8<-- [start:if]
    def render(self, context, out, frame):
        # >>> SOLUTION 6 #if-and-for: render the nodes of the first branch whose condition is true; if none is, those of otherwise (if there is an else)
        for condition, nodes in self.branches:
            if condition.evaluate(context):
                render_all(nodes, context, out, frame)
                return
        render_all(self.otherwise or (), context, out, frame)
        # <<< SOLUTION
    # --8<-- [end:if]


class For:
    """{% for target in iterable %}...{% else %}...{% endfor %}: the else part renders when there is nothing to loop over."""

    def __init__(self, target, iterable, where):
        self.target, self.iterable, self.body, self.otherwise, self.where = target, iterable, [], None, where

    # --8<-- [start:for]
    def render(self, context, out, frame):
        # >>> SOLUTION 6 #if-and-for: evaluate iterable (TemplateError at where if it cannot be looped over); render body once per item, in a ChainMap with target set to the item over context; otherwise when there were no items
        items = self.iterable.evaluate(context)
        try:
            items = iter(items)
        except TypeError:
            raise TemplateError(f"{'.'.join(self.iterable.path)} cannot be looped over: it is of type "
                                f"{type(items).__name__}", self.where) from None
        looped = False
        for item in items:
            looped = True
            render_all(self.body, ChainMap({self.target: item}, context), out, frame)
        if not looped:
            render_all(self.otherwise or (), context, out, frame)
        # <<< SOLUTION
    # --8<-- [end:for]


class Block:
    """{% block name %}...{% endblock %}: a part of a page that a template extending it may replace."""

    def __init__(self, name, where):
        self.name, self.body, self.where = name, [], where

    def render(self, context, out, frame):
        # >>> SOLUTION 7 #inheritance: render the body of frame.blocks' block of this name (this block's own if there is none)
        render_all(frame.blocks.get(self.name, self).body, context, out, frame)
        # <<< SOLUTION


class Include:
    """{% include "name.html" %}: another template, rendered here with the same values."""

    def __init__(self, template, where):
        self.template, self.where = template, where

    def render(self, context, out, frame):
        # >>> SOLUTION 7 #inheritance: refuse (TemplateError at where) past MAX_DEPTH; else render the named template (frame.environment.get_template) into out, one level deeper
        if frame.depth >= MAX_DEPTH:
            raise TemplateError(f"includes nested more than {MAX_DEPTH} deep: does {self.template} include itself?",
                                self.where)
        frame.environment.get_template(self.template, self.where).render_into(context, out, frame.depth + 1)
        # <<< SOLUTION


# "for item in items": the loop's name, and the expression it loops over.
FOR = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s+in\s+(.+)")
# "name.html" or 'name.html': what extends and include name.
QUOTED = re.compile(r"\"([^\"]+)\"|'([^']+)'")


def quoted_name(text, where):
    match = QUOTED.fullmatch(text)
    if match is None:
        raise TemplateError(f"{text!r}: give the template's name in quotes, like \"base.html\"", where)
    return match[1] or match[2]


# --8<-- [start:parse]
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
        # >>> SOLUTION 5 #the-tags: build If, For and Block nodes with their bodies (the open_tags stack), elif and else, the end tags, extends (first only) and include; TemplateError at the token for anything else
        innermost = open_tags[-1] if open_tags else None
        if word in ("if", "for", "block"):
            if word == "if":
                node = If(parse_expression(rest, token), token)
                node_body = node.branches[0][1]
            elif word == "for":
                loop = FOR.fullmatch(rest)
                if loop is None:
                    raise TemplateError("write a loop as {% for item in items %}", token)
                node = For(loop[1], parse_expression(loop[2], token), token)
                node_body = node.body
            else:
                if not NAME.fullmatch(rest):
                    raise TemplateError(f"{rest!r} cannot name a block: use letters, digits and _", token)
                if rest in blocks:
                    raise TemplateError(f"a block named {rest} is already defined, "
                                        f"on line {blocks[rest].where.line}", token)
                node = blocks[rest] = Block(rest, token)
                node_body = node.body
            body.append(node)
            open_tags.append((word, node, token, body))
            body = node_body
        elif word in ("elif", "else"):
            if word == "else" and rest:
                raise TemplateError(f"{{% else {rest} %}}: else takes nothing (for another condition, elif)", token)
            allowed = ("if",) if word == "elif" else ("if", "for")
            if innermost is None or innermost[0] not in allowed or innermost[1].otherwise is not None:
                raise TemplateError(f"{{% {word} %}} without an open {{% {' or '.join(allowed)} %}} to belong to",
                                    token)
            if word == "elif":
                innermost[1].branches.append((parse_expression(rest, token), []))
                body = innermost[1].branches[-1][1]
            else:
                body = innermost[1].otherwise = []
        elif word in ("endif", "endfor", "endblock"):
            if rest and not (word == "endblock" and innermost and innermost[1].name == rest):
                raise TemplateError(f"{{% {word} {rest} %}}: only endblock may name what it closes, and only "
                                    "the block it closes", token)
            if innermost is None or "end" + innermost[0] != word:
                open_here = (f"the {{% {innermost[0]} %}} of line {innermost[2].line} is open, so "
                             f"{{% end{innermost[0]} %}} is expected" if innermost else "no tag is open")
                raise TemplateError(f"{{% {word} %}} closes nothing here: {open_here}", token)
            body = innermost[3]
            open_tags.pop()
        elif word == "extends":
            if extends or open_tags or any(not isinstance(node, Text) or node.text.strip() for node in nodes):
                raise TemplateError("{% extends %} must come first in a template, and only once", token)
            extends = token._replace(text=quoted_name(rest, token))
        elif word == "include":
            body.append(Include(quoted_name(rest, token), token))
        else:
            raise TemplateError(f"unknown tag {word!r} (there are: if, elif, else, for, block, extends, include)",
                                token)
    if open_tags:
        word, _, token, _ = open_tags[-1]
        raise TemplateError(f"{{% {word} %}} is never closed by {{% end{word} %}}", token)
        # <<< SOLUTION
    return nodes, blocks, extends
# --8<-- [end:parse]


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

    # --8<-- [start:render-into]
    def render_into(self, context, out, depth):
        """Add this template's text to ``out``: through the chain of templates it extends, if it does."""
        if self.extends is None:  # extends nothing: rendered as it is, with its own blocks
            render_all(self.nodes, context, out, Frame(self.environment, self.blocks, depth))
            return
        # >>> SOLUTION 7 #inheritance: this template extends another: follow extends up to the template that extends nothing (TemplateError at the extends Token if one comes back); gather blocks so the lowest template's of each name wins; render the top one's nodes with Frame(environment, those blocks, depth)
        chain = [self]
        while chain[-1].extends is not None:
            parent = self.environment.get_template(chain[-1].extends.text, chain[-1].extends)
            if any(parent.name == template.name for template in chain):
                raise TemplateError(f"{parent.name} extends itself, through "
                                    f"{' -> '.join(template.name for template in chain)}", chain[-1].extends)
            chain.append(parent)
        blocks = {}
        for template in chain:
            for name, block in template.blocks.items():
                blocks.setdefault(name, block)
        render_all(chain[-1].nodes, context, out, Frame(self.environment, blocks, depth))
        # <<< SOLUTION
    # --8<-- [end:render-into]


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

    # --8<-- [start:environment]
    def get_template(self, name, where=None):
        """The Template called ``name``, compiled on first use only, even when many threads ask at once."""
        # >>> SOLUTION 8 #compiled-once: under self.lock, answer self.templates[name] if it is there; else compile self.source(name, where) with from_string, keep it, and answer it
        template = self.templates.get(name)
        if template is not None:
            return template  # already compiled: no need to wait for the lock (a dict read is atomic in CPython)
        with self.lock:
            template = self.templates.get(name)
            if template is None:
                template = self.templates[name] = self.from_string(self.source(name, where), name)
            return template
        # <<< SOLUTION

    def source(self, name, where=None):
        """The text of the template ``name``: a file in the folder, never one outside it.

        TemplateError (at ``where``) for a name that leads outside the folder, or to no file, or to one that
        cannot be read.
        """
        # >>> SOLUTION 8 #compiled-once: join name to self.folder and resolve() it; unless the result is_relative_to the folder and is_file(), TemplateError at where; else read it as UTF-8, turning OSError, RuntimeError, TypeError and ValueError into TemplateError
        try:
            # resolve() follows every "..", symbolic link and absolute part: what is left is where the file really is.
            file = self.folder.joinpath(name).resolve()
            if not file.is_relative_to(self.folder) or not file.is_file():
                raise TemplateError(f"no template named {name!r} in {self.folder.name}/", where)
            return file.read_text(encoding="utf-8")
        except (OSError, RuntimeError, TypeError, ValueError) as error:  # too long, a loop of links, NUL, not UTF-8
            raise TemplateError(f"{name!r} cannot be read as a template: {error}", where) from None
        # <<< SOLUTION
    # --8<-- [end:environment]
