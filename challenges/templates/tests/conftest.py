"""What the templates checks share, as fixtures.

* ``templates_module``  the learner's templates.py, imported fresh;
* ``folder(files, stand_in=False)``  a fresh templates folder holding ``files`` ({name: text}), and its
  Environment (with ``stand_in``, one whose get_template() is the checks' own, not TODO 8's);
* ``render(source, **values)``  ``source`` compiled as "page.html" in an Environment of its own, and rendered;
* ``template_error(function, *args, shown=...)``  the TemplateError the call raises (the check fails if none does);
* ``expect_place(error, (name, line, column), summary, sent=, meaning=)``  a failure unless the error is there;
* ``place(error)``  where a TemplateError says it is, as a learner reads it.
"""

import pytest

from checks.report import CheckFailed
from checks.unit import call, short


@pytest.fixture
def templates_module(learner_module):
    return learner_module("templates")


def stand_in_loader(templates_module, environment, root):
    """A get_template() of the checks' own: the checks of TODOs 6 and 7 find templates with it, not waiting for
    TODO 8's."""
    kept = {}

    def get_template(name, where=None):
        if name not in kept:
            path = root / name
            if not path.is_file():
                raise templates_module.TemplateError(f"no template named {name} (the checks' stand-in loader)", where)
            kept[name] = environment.from_string(path.read_text(encoding="utf-8"), name)
        return kept[name]

    return get_template


@pytest.fixture
def folder(templates_module, tmp_path):
    """``folder(files, stand_in=False)``: an Environment of a folder holding ``files``; with ``stand_in``, its
    get_template() is the checks' own, so that rendering is graded apart from TODO 8."""
    def make(files, stand_in=False):
        root = tmp_path / "pages"
        root.mkdir(exist_ok=True)
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        environment = call(templates_module.Environment, root, shown=f"Environment({root.name!r})")
        if stand_in:
            environment.get_template = stand_in_loader(templates_module, environment, root)
        return environment
    return make


@pytest.fixture
def render(templates_module, folder):
    def rendered(source, files=None, **values):
        environment = folder(files or {}, stand_in=True)
        shown = f"rendering {short(source, 80)} with {short(values, 80)}"
        template = call(environment.from_string, source, "page.html", shown=f"compiling {short(source, 80)}")
        return call(template.render, shown=shown, **values)
    return rendered


@pytest.fixture
def template_error(templates_module):
    """``template_error(function, *args, shown=...)``: the TemplateError the call raises (the check fails if none)."""
    def raised(function, *args, shown, **kwargs):
        try:
            got = call(function, *args, shown=shown, expected_errors=(templates_module.TemplateError,), **kwargs)
        except templates_module.TemplateError as error:
            return error
        raise CheckFailed(f"{shown} did not raise TemplateError.", expected="a TemplateError, naming the template, "
                          "line and column", received=f"it returned {short(got, 120)}")
    return raised


def place_of(error):
    if error.line is None:
        return f"no place: TemplateError({error.message!r}) was raised without its where"
    return f"{error.name}, line {error.line}, column {error.column}"


@pytest.fixture
def place():
    return place_of


@pytest.fixture
def expect_place():
    def expect(error, where, summary, sent=None, meaning=None):
        if (error.name, error.line, error.column) != where:
            raise CheckFailed(summary, sent=sent, expected="a TemplateError at {}, line {}, column {}".format(*where),
                              received=f"{place_of(error)}: {error.message}", meaning=meaning)
    return expect
