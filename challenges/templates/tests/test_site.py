"""templates — the Environment (TODO 8), called directly, then the demo site over real connections.

The site checks start the learner's server with the token "test-token", serving copies of the
extension's static/ and pages/. What a visitor sends comes back in the page; Python's html.parser,
a real HTML tokenizer, reads the page the way a browser would, to see whether any of it became markup.
"""

import shutil
import threading
from html.parser import HTMLParser
from urllib.parse import quote

import pytest

from checks.report import CheckFailed
from checks.unit import call, short
from checks.wire import fetch

TOKEN = "test-token"


@pytest.mark.task(8, needs=(2,))
@pytest.mark.hint("In get_template(), hold self.lock from looking in self.templates to storing what from_string "
                  "compiled: a second thread then finds it compiled instead of compiling it again.",
                  docs="#compiled-once")
def test_each_template_is_compiled_once(templates_module, folder, monkeypatch):
    """get_template() compiles a template the first time it is asked for, under its lock, and keeps it"""
    environment = folder({"page.html": "Hello, {{ name }}", "other.html": "Bye", "a/same.html": "A",
                          "b/same.html": "B"})
    compiled = []
    unlocked = []
    tokenize = templates_module.tokenize

    def held_by_someone(lock):
        """Whether another thread would have to wait for ``lock`` (asked from another thread: an RLock too)."""
        free = []

        def try_it():
            if lock.acquire(blocking=False):
                lock.release()
                free.append(True)

        other = threading.Thread(target=try_it)
        other.start()
        other.join()
        return not free

    def counting_tokenize(source, name):
        compiled.append(name)
        if not held_by_someone(environment.lock):
            unlocked.append(name)
        return tokenize(source, name)

    monkeypatch.setattr(templates_module, "tokenize", counting_tokenize)
    first = call(environment.get_template, "page.html", shown="get_template('page.html')")
    again = call(environment.get_template, "page.html", shown="get_template('page.html'), a second time")
    if compiled != ["page.html"] or again is not first:
        raise CheckFailed("get_template() compiled page.html again.", expected="one compilation, and the same "
                          "Template both times", received=f"{len(compiled)} compilations",
                          meaning="Compiling reads the file and builds the tree: done on every request, it costs "
                                  "each page that much again. Keep each Template in self.templates.")
    same = [call(environment.get_template, name, shown=f"get_template({name!r})") for name in ("a/same.html",
                                                                                           "b/same.html")]
    rendered = [call(template.render, shown="rendering it") for template in same]
    if rendered != ["A", "B"]:
        raise CheckFailed("a/same.html and b/same.html came out the same.", expected="'A' and 'B'",
                          received=f"{rendered[0]!r} and {rendered[1]!r}",
                          meaning="Keep each template under the whole name it was asked by: two folders may each "
                                  "have a file of the same name.")
    if unlocked:
        raise CheckFailed("get_template() compiled a template without holding self.lock.", expected="self.lock held "
                          "while the template is looked for, compiled and kept", received="the lock was free",
                          meaning="Every connection has its own thread: without the lock, twenty first visitors "
                                  "at once each find nothing kept and compile the page twenty times.")
    barrier = threading.Barrier(20)
    results, errors = [], []

    def ask():
        try:
            barrier.wait(timeout=10)
            results.append(environment.get_template("other.html"))
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    if errors or compiled.count("other.html") != 1 or len({id(template) for template in results}) != 1:
        raise CheckFailed("Twenty threads asking for other.html at once did not share one compilation.",
                          expected="1 compilation, 20 answers, one Template",
                          received=f"{compiled.count('other.html')} compilations, {len(results)} answers, "
                                   f"{len({id(template) for template in results})} Templates"
                                   + (f"; {type(errors[0]).__name__}: {errors[0]}" if errors else ""))


# Names a template may be asked for that point outside the templates folder, or are not names at all.
ESCAPES = ["old.html", "../secret.html", "/etc/passwd", "sub/../../secret.html", "..\\secret.html",
           "sub\\..\\..\\secret.html",
           "./../secret.html", "sub//../../secret.html", "page.html\x00.txt", "", ".", "sub/", "..",
           "link/secret.html", "outside.html", "C:\\secret.html", "//secret.html", "sub", "link"]


@pytest.mark.task(8, needs=(2,))
@pytest.mark.hint("In source(), self.folder.joinpath(name).resolve() follows .., absolute names and links; refuse the "
                  "result unless it is_relative_to(self.folder) and is_file() (a str.startswith would let pages-old/ "
                  "pass for pages/), and turn OSError, RuntimeError, TypeError and ValueError into TemplateError.",
                  docs="#compiled-once")
def test_a_template_name_cannot_leave_the_folder(templates_module, folder, tmp_path, template_error, expect_place):
    """get_template() and include refuse names that leave the folder (.., /, \\, NUL, a link out) with TemplateError"""
    environment = folder({"page.html": "page", "sub/inner.html": "inner {% include \"../page.html\" %}"})
    (tmp_path / "secret.html").write_text("SECRET", encoding="utf-8")
    # A folder beside this one whose name starts the same: inside it, by str.startswith, but not by path.
    (tmp_path / "pages-old").mkdir()
    (tmp_path / "pages-old" / "secret.html").write_text("SECRET", encoding="utf-8")
    (tmp_path / "pages" / "old.html").symlink_to(tmp_path / "pages-old" / "secret.html")
    (tmp_path / "pages" / "outside.html").symlink_to(tmp_path / "secret.html")
    (tmp_path / "pages" / "link").symlink_to(tmp_path)
    for name in ESCAPES:
        shown = f"get_template({name!r})"
        try:
            got = call(environment.get_template, name, shown=shown,
                       expected_errors=(templates_module.TemplateError,))
        except templates_module.TemplateError:
            expect_refused_where_included(environment, template_error, expect_place, name)
            continue
        raise CheckFailed(
            f"{shown} did not refuse.", expected="a TemplateError",
            received=f"a Template: {short(call(got.render, shown=f'rendering {name!r}'), 60)}",
            meaning="A template's name often comes from a page (an include) or a route: like step 4's static "
                    "files, it must never reach a file outside the templates folder, by .., an absolute path, a "
                    "backslash, a NUL or a symbolic link that points out.",
        )
    inner = call(environment.get_template, "sub/inner.html", shown="get_template('sub/inner.html')")
    try:
        got = call(inner.render, shown="rendering sub/inner.html", expected_errors=(templates_module.TemplateError,))
    except templates_module.TemplateError:
        return
    raise CheckFailed("{% include \"../page.html\" %} in sub/inner.html was rendered.", expected="a TemplateError",
                      received=short(got), meaning="Names are always from the templates folder, never relative to "
                      "the template that names them.")


def expect_refused_where_included(environment, template_error, expect_place, name):
    """The same name in an include: refused too, and the error names the include tag."""
    if not name or '"' in name:
        return
    source = f'<p>\n{{% include "{name}" %}}</p>'
    template = call(environment.from_string, source, "page.html", shown=f"compiling {source!r}")
    error = template_error(template.render, shown=f"rendering {source!r}")
    expect_place(error, ("page.html", 2, 1),
                 f"{{% include {name!r} %}} was refused without saying where the include is (line 2, column 1).",
                 sent=source, meaning="Every refusal in source() passes on its where, so the error names the tag.")


@pytest.fixture
def site(start_server, step, tmp_path):
    """The demo site, serving copies of the extension's static/ and pages/."""
    shutil.copytree(step.folder / "static", tmp_path / "static")
    shutil.copytree(step.folder / "pages", tmp_path / "pages")
    return start_server({"app": {"token": TOKEN, "static_root": str(tmp_path / "static"),
                                 "pages": str(tmp_path / "pages")}})


class Page(HTMLParser):
    """What a browser makes of a page: its elements, their attributes, and its text."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.texts, self.current = [], {}, []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self.current.append(tag)

    def handle_endtag(self, tag):
        if tag in self.current:
            del self.current[len(self.current) - 1 - self.current[::-1].index(tag):]

    def handle_data(self, data):
        if self.current:
            self.texts[self.current[-1]] = self.texts.get(self.current[-1], "") + data

    def tags(self, name):
        return [attributes for tag, attributes in self.elements if tag == name]


def get_page(site, path):
    response = fetch(site, "GET", path)
    if response.status_code != 200 or not response.headers.get("Content-Type", "").startswith("text/html"):
        raise CheckFailed(f"GET {path} did not answer a page.", sent=f"GET {path}",
                          expected="200, Content-Type: text/html; charset=utf-8",
                          received=f"{response.status_code}, {response.headers.get('Content-Type')}\n"
                                   f"{response.text[:200]}",
                          server_output=site.output(), reproduce=f"curl -i 'http://127.0.0.1:{site.port}{path}'")
    return response, Page(response.text)


@pytest.mark.task(8, needs=(1, 2, 3, 4, 5, 6, 7))
@pytest.mark.hint("The pages are in pages/: home.html loops over links, about.html has an if, every page extends "
                  "base.html and includes footer.html. Run make serve STEP=templates and open them.",
                  docs="#the-finished-site")
def test_the_demo_pages_are_rendered_from_the_templates(site):
    """the home, about and user pages come from pages/: the layout, its blocks, the include, the loop and the if"""
    response, home = get_page(site, "/")
    links = [attributes.get("href") for attributes in home.tags("a")]
    expected = ["/about", "/user/ada", "/hello?name=grace", "/api/data", "/static/demo.html", "/static/guide/", "/"]
    problems = []
    if links != expected:
        problems.append(f"the home page's links are {links}, not {expected} (the for loop over links, then the footer)")
    if home.texts.get("title") != "Build Your Own HTTP Server" or not home.tags("footer"):
        problems.append("the home page lacks base.html's title or footer.html's footer")
    _, about = get_page(site, "/about")
    code = about.texts.get("code", "")
    if about.texts.get("title") != "About" or "$BYO_API_TOKEN" not in code or TOKEN in response.text + code:
        problems.append(f"the about page's title is {about.texts.get('title')!r} and its code says {code!r}: with a "
                        "token set, the if must print $BYO_API_TOKEN, never the token")
    _, user = get_page(site, "/user/grace")
    if user.texts.get("h1") != "Hello, grace!" or user.texts.get("title") != "Hello, grace":
        problems.append(f"/user/grace has the title {user.texts.get('title')!r} and the heading "
                        f"{user.texts.get('h1')!r}")
    if problems:
        raise CheckFailed("The demo pages are not what their templates say.", sent="GET /, GET /about, "
                          "GET /user/grace", expected="the pages of pages/*.html, filled in",
                          received="\n".join(problems), server_output=site.output(),
                          reproduce=f"curl -i http://127.0.0.1:{site.port}/")


# What visitors type: each must come back as text, exactly, in the heading and in the input's value.
PAYLOADS = [
    "<script>alert(1)</script>",
    "\"><script>alert(1)</script>",
    "' autofocus onfocus='alert(1)",
    "\" autofocus onfocus=\"alert(1)",
    "</title><script>alert(1)</script>",
    "Tom & Jerry &amp; &lt;b&gt;",
    "{{ 7*7 }}",
    "{% include \"base.html\" %}",
    "{{ ''.__class__.__mro__ }}",
    "{# hidden? #}",
    "<!-- comment -->",
    "ünïcödé ✓",
]


@pytest.mark.task(8, needs=(1, 2, 3, 4, 5, 6, 7))
@pytest.mark.hint("Every {{ }} goes through escape(): the text between tags and inside value=\"...\" alike. "
                  "What a visitor sends is a value, never template text: it is never compiled.",
                  docs="#the-finished-site")
def test_what_a_visitor_sends_comes_back_as_text(site):
    """a name sent to /hello comes back as exactly that text in the heading and the input, never as markup or code"""
    for payload in PAYLOADS:
        path = f"/hello?name={quote(payload, safe='')}"
        response, page = get_page(site, path)
        inputs = page.tags("input")
        scripts = [attributes.get("src") for attributes in page.tags("script")]
        attributes = {name for tag, found in page.elements for name in found}
        problems = []
        if page.texts.get("h1") != f"Hello, {payload}!":
            problems.append(f"the heading reads {page.texts.get('h1')!r}")
        if len(inputs) != 1 or inputs[0].get("value") != payload:
            problems.append(f"the input's value reads {inputs[0].get('value') if inputs else None!r}")
        if scripts != ["/static/app.js"] or {"onfocus", "autofocus"} & attributes:
            problems.append(f"the page has scripts {scripts} and attributes {sorted(attributes)}")
        if problems:
            raise CheckFailed(
                "What the visitor sent came back as more than text.",
                sent=f"GET {path}", expected=f"the heading 'Hello, {payload}!', and an input whose value is "
                                             f"{payload!r}, as a browser reads them",
                received="\n".join(problems + ["the page: " + short(response.text[response.text.find('<h1'):], 300)]),
                meaning="A value printed without escaping is HTML: a visitor's \"> ends the attribute and starts "
                        "a tag of theirs (cross-site scripting). And a value is never template text: {{ 7*7 }} sent "
                        "by a visitor is shown, not worked out.",
                server_output=site.output(), reproduce=f"curl -s 'http://127.0.0.1:{site.port}{path}'",
            )


@pytest.mark.task(8, needs=(1, 2, 3, 4, 5, 6, 7))
@pytest.mark.hint("Rendering must keep nothing between requests but the compiled templates: values, the output "
                  "list and the Frame belong to one render() call.", docs="#the-finished-site")
def test_visitors_at_once_each_get_their_own_page(site):
    """twenty visitors asking at once for their own /user page each get theirs, rendered from one compiled template"""
    names = [f"visitor{number}" for number in range(20)]
    got, errors = {}, []
    barrier = threading.Barrier(len(names))

    def visit(name):
        try:
            barrier.wait(timeout=10)
            response = fetch(site, "GET", f"/user/{name}")
            got[name] = (response.status_code, Page(response.text).texts.get("h1"))
        except Exception as error:  # noqa: BLE001  (reported below)
            errors.append(f"{name}: {type(error).__name__}: {error}")

    threads = [threading.Thread(target=visit, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    wrong = {name: answer for name, answer in got.items() if answer != (200, f"Hello, {name}!")}
    if errors or wrong or len(got) != len(names):
        raise CheckFailed("Twenty visitors at once did not each get their own page.",
                          sent="GET /user/visitor0 ... GET /user/visitor19, at once",
                          expected="200 and 'Hello, visitorN!' for each",
                          received="\n".join(errors[:3] + [f"{name}: {answer}" for name, answer in
                                                           list(wrong.items())[:5]]) or f"{len(got)} answers",
                          server_output=site.output())
