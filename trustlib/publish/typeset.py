"""The article as a PDF, typeset with Typst (the ``typst`` package embeds its compiler and fonts:
no TeX). The blocks are those of :mod:`trustlib.publish.article`, their numbers filled as the HTML's are
(:mod:`trustlib.publish.prose`), so the PDF says what the HTML says.

Inline markup becomes Typst's (``**bold**`` -> strong, ``*italic*`` -> emph, links, code), every
other character is escaped, and numbers are filled from ``numbers.json`` before escaping.
"""

from __future__ import annotations

import re
from pathlib import Path

from .. import store
from .prose import fill, literal

INLINE = re.compile(r"\*\*(?P<b>.+?)\*\*|\*(?P<i>.+?)\*|\[(?P<lt>[^\]]+)\]\((?P<lu>[^)]*)\)|`(?P<c>[^`]+)`")
SPECIAL = re.compile(r"([\\#$*_`@<>\[\]~/\"'=+-])")

PREAMBLE = """#set document(title: "[Re] Where Trust Flourishes", author: "AUTHOR", date: none)
#set page(paper: "a4", margin: (x: 2cm, y: 2.2cm), numbering: "1")
#set text(size: 10pt, hyphenate: false)
#set par(justify: true)
#show heading.where(level: 1): set text(size: 16pt)
#show link: set text(fill: rgb("#1b5e9e"))
#set table(stroke: (x: none, y: 0.5pt + luma(200)), inset: 4pt)
#show table: set text(size: 8.5pt)
#show table: set par(justify: false)
#show figure.caption: it => it.body
#show figure.where(kind: table): set figure.caption(position: top)
#show figure: set block(spacing: 1.2em)
#show figure: set block(breakable: true)
"""


def escape(text: str) -> str:
    """Plain text for Typst markup: every character with a meaning in markup escaped."""
    return SPECIAL.sub(r"\\\1", text)


def inline(text: str) -> str:
    """Inline markup (bold, italic, links, code) in Typst, plain text escaped."""
    out, pos = [], 0
    for m in INLINE.finditer(text):
        out.append(escape(text[pos:m.start()]))
        if m.group("b") is not None:
            out.append(f"*{inline(m.group('b'))}*")
        elif m.group("i") is not None:
            out.append(f"_{inline(m.group('i'))}_")
        elif m.group("lt") is not None:
            url = m.group("lu").replace("\\", "\\\\").replace('"', '\\"')
            web = re.match(r"^[a-z][a-z0-9+.-]*:", m.group("lu"))    # a relative link breaks once the PDF is shared
            out.append(f'#link("{url}")[{inline(m.group("lt"))}]' if url and web else inline(m.group("lt")))
        else:
            code = m.group("c").replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'#raw("{code}")')
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def source(blocks, numbers: dict, author: str = "") -> str:
    """The Typst source of the article (figures are referenced relative to ``article/``;
    ``author`` goes into the PDF's metadata)."""
    def t(text: str) -> str:
        return inline(literal(fill(text, numbers)))

    out = [PREAMBLE.replace('"AUTHOR"', '"' + author.replace("\\", "").replace('"', "'") + '"')]
    for b in blocks:
        if b.kind == "heading":
            out.append(f"{'=' * b.level} {t(b.text)}\n")
        elif b.kind == "banner":
            out.append(f'#block(stroke: 1.5pt + rgb("#bb0000"), inset: 8pt, fill: rgb("#fff3f3"), width: 100%)'
                       f"[*{t(b.text)}*]\n")
        elif b.kind == "paragraph":
            out.append(t(b.text) + "\n")
        elif b.kind == "code":
            code = b.text.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'#block(inset: (left: 1em))[#raw("{code}", block: true)]\n')
        elif b.kind == "table":
            cells = ", ".join(f"[*{t(h)}*]" for h in b.header)
            body = ", ".join(f"[{t(c)}]" for row in b.rows for c in row)
            table = f"table(columns: {len(b.header)}, align: left, table.header({cells}), {body})"
            if b.text:
                out.append(f"#figure({table}, caption: [{t(b.text.replace('**', ''))}], kind: table)\n")
            else:
                out.append(f"#{table}\n")
        elif b.kind == "figure" and b.src:      # the title is inside the image: no caption
            path = b.src.replace('"', "")
            alt = b.text.replace("\\", "\\\\").replace('"', '\\"')
            out.append(f'#figure(image("{path}", width: 100%, alt: "{alt}"))\n')
        elif b.kind == "equation":
            out.append(b.src + "\n")
        elif b.kind == "list":
            mark = "+" if b.level == 1 else "-"
            out.append("\n".join(f"{mark} {t(r)}" for r in b.rows) + "\n")
    return "\n".join(out)


def write_pdf(blocks, numbers: dict, pdf: Path, results: Path, author: str = "") -> Path:
    """Typeset ``blocks`` into ``pdf`` (below ``results``, whose figures it shows)."""
    import typst

    pdf = Path(pdf)
    src = pdf.with_suffix(".typ")
    store.atomic_write_text(src, source(blocks, numbers, author))
    data = typst.compile(str(src), root=str(Path(results).resolve()))
    return store.atomic_write_bytes(pdf, data)
