"""MkDocs hook (mkdocs.yml, hooks:): a spoiler shows the reference solution's code without its TODO markers.

A page includes a function of a reference solution with a snippet, for example
``--8<-- "challenges/keep-alive/solution/server.py:handle-client"``. In the solution, each TODO's
code sits between a ``# >>> SOLUTION n #anchor: ...`` line and a ``# <<< SOLUTION`` line, which
the starters are made from; a reader of the page wants the code alone. Standard library only,
loaded by MkDocs by path.
"""

import re

# A marker line as the highlighter writes it: the indentation, then the comment in a span of its own.
# The first line of a block also carries the block's opening tags, which stay.
MARKER_LINE = re.compile(r"^((?:<div class=\"highlight\">)?<pre><span></span><code>)?[ \t]*"
                         r"<span class=\"c1\"># (?:(?:&gt;){3} SOLUTION\b[^\n]*|(?:&lt;){3} SOLUTION)</span>\n",
                         re.MULTILINE)


def on_page_content(html, page, config, files):
    return MARKER_LINE.sub(lambda marker: marker[1] or "", html)
