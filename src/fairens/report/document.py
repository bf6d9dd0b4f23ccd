"""A small document model rendered to Markdown and to one self-contained HTML file.

Content is built once as blocks; the renderers do all escaping, so a group name (any
string from test_groups.csv) is shown as text, never interpreted as markup.
"""

from __future__ import annotations

import base64
import html
import re
import unicodedata
from dataclasses import dataclass, field

# control and invisible formatting characters (a right-to-left override in a group name
# would reverse the text around it): shown as their code point instead
_HIDDEN = ("Cc", "Cf", "Zl", "Zp")


def visible(text: object) -> str:
    r"""``text`` with every control or invisible formatting character written as ``\uXXXX``
    (newlines and tabs included), so that what a report shows is what the data hold."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _HIDDEN else ch
                   for ch in text)


def pct(value: float | None, digits: int = 1) -> str:
    """0.1234 -> '12.3'; None -> 'n/a'."""
    return "n/a" if value is None else f"{100 * value:.{digits}f}"


def signed_pct(value: float | None, digits: int = 1) -> str:
    """0.0123 -> '+1.2'; a value that rounds to zero -> '0.0' (never '-0.0'); None -> 'n/a'."""
    if value is None:
        return "n/a"
    text = f"{100 * value:+.{digits}f}"
    if float(text) == 0 and value != 0:  # a small non-zero value keeps its sign: -0.02
        text = f"{100 * value:+.{digits + 1}f}"
    return f"{0:.{digits}f}" if float(text) == 0 else text


def estimate(value: float | None, ci: list | None, signed: bool = False) -> str:
    """An estimate and its interval in one cell: '78.4 (77.5, 79.3)'."""
    point = signed_pct(value) if signed else pct(value)
    return f"{point} {pct_ci(ci, signed)}".strip()


def p_value(p: float | None) -> str:
    """A p-value as a reader reads it: '0.0031', '0.049', '< 0.001', '0.26', '1.00' (never a
    bare '1', and never 0.049 rounded up to '0.05')."""
    if p is None:
        return ""
    if p < 0.001:
        return "< 0.001"
    return f"{p:.2f}" if p >= 0.1 else f"{p:.2g}"


def pct_ci(ci: list | None, signed: bool = False) -> str:
    """[0.81, 0.86] -> '(81.0, 86.0)'; None -> ''."""
    if ci is None:
        return ""
    fmt = signed_pct if signed else pct
    return f"({fmt(ci[0])}, {fmt(ci[1])})"


@dataclass
class Image:
    """A PNG figure: ``name`` is its file name under ``plots/``."""

    name: str
    data: bytes
    caption: str
    wide: bool = False  # spans the page's width instead of one column of the figure grid


@dataclass
class Document:
    """Headings, paragraphs (with `code` spans), tables and images, in order."""

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def bullets(self, items: list[str]) -> None:
        self.blocks.append(("bullets", items))

    def table(self, header: list[str], rows: list[list[str]], *,
              collapsed: str | None = None) -> None:
        """A table; with ``collapsed``, the HTML shows only that summary line until opened
        (long tables: every row stays in the file)."""
        self.blocks.append(("table", header, rows, collapsed))

    def image(self, image: Image) -> None:
        self.blocks.append(("image", image))

    def flags(self, items: list[str]) -> None:
        """Warnings a reader must not miss (harms, implausible results)."""
        self.blocks.append(("flags", items))

    def fold(self, summary: str | None) -> None:
        """Start a collapsed part (shown as ``summary`` until opened); ``None`` ends it."""
        self.blocks.append(("fold", summary))

    @property
    def images(self) -> list[Image]:
        return [block[1] for block in self.blocks if block[0] == "image"]


# an interval such as "(81.0, 86.0)" never breaks inside
_INTERVAL = re.compile(r"\(([-+]?[\d.]+|n/a), ([-+]?[\d.]+|n/a)\)")

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md_escape(text: str) -> str:
    """Text shown literally in Markdown (also inside a table cell)."""
    return _MD_SPECIAL.sub(r"\\\1", visible(text))


def _md_inline(text: str) -> str:
    text = visible(text)
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans
        return md_escape(text)
    return "".join(md_escape(p) if i % 2 == 0 else f"`{p}`" for i, p in enumerate(parts))


def _md_cell(text: object) -> str:
    """A table cell whose intervals never break: '(81.0,\u00a086.0)'."""
    return _INTERVAL.sub("(\\1,\u00a0\\2)", md_escape(str(text)))


def render_markdown(doc: Document, image_dir: str = "plots") -> str:
    """The document as Markdown; images are linked as ``image_dir/<name>``."""
    lines = [f"# {md_escape(doc.title)}", ""]
    for kind, *content in doc.blocks:
        if kind == "heading":
            lines += ["#" * content[0] + " " + _md_inline(content[1]), ""]
        elif kind == "paragraph":
            lines += [_md_inline(content[0]), ""]
        elif kind == "bullets":
            lines += [f"- {_md_inline(item)}" for item in content[0]] + [""]
        elif kind == "flags":
            lines += [f"> **Warning:** {_md_inline(item)}" + ("  " if i < len(content[0]) - 1
                                                               else "")
                      for i, item in enumerate(content[0])] + [""]
        elif kind == "fold":
            lines += ([f"<details><summary>{html.escape(content[0])}</summary>", ""]
                      if content[0] is not None else ["</details>", ""])
        elif kind == "table":
            header, rows, collapsed = content
            if collapsed:
                lines += [f"*{md_escape(collapsed)}*", ""]
            lines.append("| " + " | ".join(md_escape(h) for h in header) + " |")
            lines.append("|" + "|".join("---" if i == 0 else "---:"
                                        for i in range(len(header))) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "image":
            image = content[0]
            lines += [f"![{md_escape(image.caption)}]({image_dir}/{image.name})", ""]
    return "\n".join(lines)


def _html(text: object) -> str:
    return html.escape(visible(text))


def _html_inline(text: str) -> str:
    parts = _html(text).split("`")
    if len(parts) % 2 == 0:
        return _html(text)
    return "".join(p if i % 2 == 0 else f"<code>{p}</code>" for i, p in enumerate(parts))


_STYLE = """body{font-family:system-ui,sans-serif;max-width:80rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}.table{overflow-x:auto;margin:0.5rem 0 1.5rem;max-width:100%}
table{border-collapse:separate;border-spacing:0;font-size:0.9rem}
th,td{border:1px solid #ccc;border-width:0 1px 1px 0;padding:0.25rem 0.6rem;text-align:right;
vertical-align:top}tr>:first-child{border-left-width:1px}thead th{border-top-width:1px}
th{background:#f2f2f2;min-width:3.5rem}td.t{text-align:left}.ci{display:block;color:#555;font-size:0.8rem;
white-space:nowrap}th:first-child,td:first-child{text-align:left;min-width:7rem;
max-width:16rem;position:sticky;left:0;background:#fff;z-index:1}th:first-child{background:#f2f2f2}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,34rem),1fr));
gap:1rem 2rem;align-items:start;margin:1rem 0}figure{margin:0}
figure.wide{grid-column:1/-1;max-width:66rem}
img{max-width:100%;height:auto;display:block;margin:0.5rem 0}
figcaption{color:#555;font-size:0.85rem}details{margin:0.5rem 0 1.5rem}
summary{cursor:pointer;color:#1a5fb4}code{background:#f4f4f4;padding:0 0.2rem}
.flags{border-left:4px solid #c01c28;background:#fdf0f0;padding:0.5rem 1rem 0.5rem 2rem;
margin:1rem 0}.flags li{margin:0.2rem 0}nav.toc{font-size:0.9rem;margin:0 0 1rem}
nav.toc ol{columns:2 18rem;margin:0.3rem 0}"""

def _cell(text: object) -> str:
    """A table cell: an interval after an estimate goes on its own line, never broken."""
    return _INTERVAL.sub('<span class="ci">(\\1,\u00a0\\2)</span>', _html(text))


def _figure(image: Image) -> str:
    data = base64.b64encode(image.data).decode("ascii")
    wide = ' class="wide"' if image.wide else ""
    return (f'<figure{wide}><img alt="{_html(image.caption)}" '
            f'src="data:image/png;base64,{data}">'
            f"<figcaption>{_html(image.caption)}</figcaption></figure>")


WIDE = 6  # tables with more columns show their first WIDE - 1 and fold the whole table


def _anchor(index: int) -> str:
    return f"s{index}"


def _toc(doc: Document) -> str:
    """A table of contents of the second-level headings (pages with four or more)."""
    headings = [block[2] for block in doc.blocks if block[0] == "heading" and block[1] == 2]
    if len(headings) < 4:
        return ""
    items = "".join(f'<li><a href="#{_anchor(i)}">{_html_inline(text)}</a></li>'
                    for i, text in enumerate(headings))
    return f'<nav class="toc"><strong>Contents</strong><ol>{items}</ol></nav>'


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    return ('<div class="table"><table><thead><tr>'
            + "".join(f"<th>{_html(h)}</th>" for h in header) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(_td(c) for c in row) + "</tr>" for row in rows)
            + "</tbody></table></div>")


_NUMBER = re.compile(r"^[-+<>]?\s?[\d.]|^n/a$|^$")


def _td(text: object) -> str:
    """A cell: numbers right-aligned (the table's style), words left-aligned."""
    css = "" if _NUMBER.match(str(text)) else ' class="t"'
    return f"<td{css}>{_cell(text)}</td>"


def render_html(doc: Document) -> str:
    """The document as one self-contained HTML page (images embedded as PNG data URIs,
    consecutive figures side by side where the page is wide enough)."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_html(doc.title)}</title><style>{_STYLE}</style></head><body>",
           f"<h1>{_html(doc.title)}</h1>"]
    toc, section = _toc(doc), 0
    for kind, *content in doc.blocks:
        if kind == "heading":
            level = min(content[0], 6)
            anchor = ""
            if level == 2:
                anchor, section = f' id="{_anchor(section)}"', section + 1
            out.append(f"<h{level}{anchor}>{_html_inline(content[1])}</h{level}>")
        elif kind == "paragraph":
            out.append(f"<p>{_html_inline(content[0])}</p>")
        elif kind in ("bullets", "flags"):
            css = ' class="flags"' if kind == "flags" else ""
            out.append(f"<ul{css}>" + "".join(f"<li>{_html_inline(i)}</li>" for i in content[0])
                       + "</ul>")
        elif kind == "fold":
            out.append(f"<details><summary>{_html(content[0])}</summary>"
                       if content[0] is not None else "</details>")
        elif kind == "table":
            header, rows, collapsed = content
            table = _html_table(header, rows)
            if collapsed:
                out.append(f"<details><summary>{_html(collapsed)}</summary>{table}</details>")
            elif len(header) > WIDE:  # at 800 px: the leading columns, the rest folded
                out.append(_html_table(header[:WIDE - 1], [row[:WIDE - 1] for row in rows])
                           + f"<details><summary>all {len(header)} columns</summary>{table}"
                           "</details>")
            else:
                out.append(table)
        elif kind == "image":
            figure = _figure(content[0])
            if out[-1].endswith("</figure></div>"):  # consecutive figures share one grid
                out[-1] = out[-1].removesuffix("</div>") + figure + "</div>"
            else:
                out.append(f'<div class="figures">{figure}</div>')
    out.append("</body></html>")
    if toc:  # the contents follow the first section (the summary)
        second = next((i for i, line in enumerate(out) if line.startswith('<h2 id="s1"')), None)
        out.insert(second if second is not None else len(out) - 1, toc)
    return "\n".join(out) + "\n"


def drop_empty_columns(header: list[str], rows: list[list[str]]) -> tuple[list[str],
                                                                         list[list[str]]]:
    """The table without the columns that are empty in every row."""
    keep = [i for i in range(len(header)) if any(row[i] for row in rows)] if rows else \
        list(range(len(header)))
    return [header[i] for i in keep], [[row[i] for i in keep] for row in rows]
