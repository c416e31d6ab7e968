"""MkDocs hook (mkdocs.yml, hooks:): a step page's Hints section is its step's hints.md.

`make hint STEP=n` prints steps/<n>/hints.md (an extension's: challenges/<name>/hints.md) one level at a time; the page shows the same
text, so the two cannot drift. The page marks the place with HINTS_MARKER. Standard library
only, loaded by MkDocs by path.
"""

import re
from pathlib import Path

HINTS_MARKER = "<!-- hints.md -->"


def on_page_markdown(markdown, page, config, files):
    if HINTS_MARKER not in markdown:
        return markdown
    page_path = Path(page.file.src_uri)  # steps/1-socket.md, or extensions/keep-alive.md
    folder = "challenges" if page_path.parent.name == "extensions" else "steps"
    hints_file = Path(config.config_file_path).parent / folder / page_path.stem / "hints.md"
    return markdown.replace(HINTS_MARKER, admonitions(hints_file.read_text(encoding="utf-8")))


def admonitions(text):
    """Each '## Hint ...' section of a hints.md as a collapsed tip, its links made relative to the page."""
    blocks = []
    for section in text.split("\n## ")[1:]:
        title, _, body = section.partition("\n")
        if not title.lower().startswith("hint"):
            continue
        body = re.sub(r"\]\(docs/(steps|extensions)/", "](../\\1/", body.strip())
        body = re.sub(r"\]\(docs/", "](../", body)
        indented = "\n".join(f"    {line}" if line else "" for line in body.splitlines())
        blocks.append(f'??? tip "{title.strip()}"\n\n{indented}\n')
    return "\n".join(blocks)
