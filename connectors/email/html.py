"""HTML mail → plain text that keeps the structure the quote stripper needs.

Block elements become line breaks and `<blockquote>` content is prefixed with "> " per level,
so a Gmail/Apple Mail HTML reply looks like its plain-text twin ("On … wrote:" followed by
quoted lines). We need no rendering, only tags, text and character references.

Hostile mail must cost time linear in its size. Python 3.10's `html.parser` rescans the rest
of the document for every unterminated `<!--`, `<!` or `</` (quadratic; fixed upstream only in
later patch releases), so the tokenizer here is a single forward scan: every `find` that
fails ends the scan instead of being retried at the next position, and runs of text
(including stray "<") are handed over whole. The "> " prefix is capped at `MAX_QUOTE_DEPTH`
levels, or N nested blockquotes would produce N² characters; at most `MAX_TAGS` tags are
converted.
"""
from __future__ import annotations

import html
import re
from typing import Iterator, List, Tuple

MAX_QUOTE_DEPTH = 20  # deeper quoting is shown at this depth; the stripper drops it anyway
MAX_TAGS = 20_000     # a long newsletter has ~10k; a document with more is cut there
TRUNCATED = "\n[…]"

_SKIPPED = {"head", "title", "xml"}          # content hidden, parsed as markup
_RAW_TEXT = {tag: re.compile(f"</{tag}", re.IGNORECASE) for tag in ("script", "style")}  # hidden, never markup
_BLOCKS = {"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
           "hr", "blockquote", "pre", "section", "article", "header", "footer"}
_SPACES = re.compile(r"[ \t\u00a0\u200b]+")
_MARKUP_START = re.compile(r"<(?:(/?)([A-Za-z][A-Za-z0-9:_-]*)|!|\?)")

Token = Tuple[str, str]  # ("start" | "end", tag name) or ("data", text)


def tokens(markup: str) -> Iterator[Token]:
    """Tags and text of `markup` in one forward pass (linear in its length), at most
    `MAX_TAGS` tags: the rest of a longer document is dropped."""
    pos, size, tags = 0, len(markup), 0
    while pos < size:
        found = _MARKUP_START.search(markup, pos)  # a lone "<" is text
        lt = found.start() if found else size
        if lt > pos:
            yield "data", html.unescape(markup[pos:lt])
        if found is None:
            return
        tags += 1
        if tags > MAX_TAGS:
            yield "data", TRUNCATED
            return
        if markup.startswith("<!--", lt):  # unterminated: a comment to the end, as browsers do
            end = markup.find("-->", lt + 4)
            pos = size if end < 0 else end + 3
            continue
        if markup.startswith(("<!", "<?"), lt):  # doctype, CDATA, processing instruction
            end = markup.find(">", lt + 2)
            pos = size if end < 0 else end + 1
            continue
        closing, tag = found.group(1), found.group(2).lower()
        end = markup.find(">", found.end())
        if end < 0:
            return  # a tag cut off at the end of the document: dropped, as browsers do
        yield ("end" if closing else "start"), tag
        pos = end + 1
        if tag in _RAW_TEXT and not closing:
            close = _RAW_TEXT[tag].search(markup, pos)
            pos = close.start() if close else size


class _Converter:
    def __init__(self) -> None:
        self.lines: List[str] = []
        self.current: List[str] = []
        self.current_depth = 0
        self.quote_depth = 0
        self.skipping = 0
        self.pre = 0

    def _break(self) -> None:
        text = "".join(self.current)
        text = text if self.pre else _SPACES.sub(" ", text).strip()
        prefix = "> " * min(self.current_depth, MAX_QUOTE_DEPTH)
        self.lines.append((prefix + text).rstrip() if text else prefix.rstrip())
        self.current = []
        self.current_depth = self.quote_depth

    def start(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping += 1
            return
        if tag in _BLOCKS:
            if self.current or tag in ("br", "p"):
                self._break()
        if tag == "blockquote":
            self.quote_depth += 1
            self.current_depth = self.quote_depth
        elif tag == "li":
            self.current.append("- ")
        elif tag == "pre":
            self.pre += 1

    def end(self, tag: str) -> None:
        if tag in _SKIPPED:
            self.skipping = max(0, self.skipping - 1)
            return
        if tag in _BLOCKS and tag != "br" and self.current:
            self._break()
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)
            if not self.current:
                self.current_depth = self.quote_depth
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)
        elif tag in ("td", "th"):
            self.current.append(" ")

    def data(self, data: str) -> None:
        if self.skipping:
            return
        if not self.pre:
            data = data.replace("\r", " ").replace("\n", " ")
        if not self.current:
            self.current_depth = self.quote_depth
        self.current.append(data)

    def text(self) -> str:
        if self.current:
            self._break()
        out: List[str] = []
        for line in self.lines:
            if not line.strip("> ") and out and not out[-1].strip("> "):
                continue  # collapse runs of empty lines
            out.append(line)
        return "\n".join(out).strip("\n")


def html_to_text(markup: str) -> str:
    converter = _Converter()
    for kind, value in tokens(markup):
        getattr(converter, kind)(value)
    return converter.text()
