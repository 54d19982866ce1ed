"""HTML mail → plain text that keeps the structure the quote stripper needs.

Block elements become line breaks and `<blockquote>` content is prefixed with "> " per level,
so a Gmail/Apple Mail HTML reply looks like its plain-text twin ("On … wrote:" followed by
quoted lines). Standard library only: mail HTML is small and we need no rendering.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import List

_SKIPPED = {"head", "style", "script", "title", "xml"}
_BLOCKS = {"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
           "hr", "blockquote", "pre", "section", "article", "header", "footer"}
_SPACES = re.compile(r"[ \t\u00a0\u200b]+")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: List[str] = []
        self.current: List[str] = []
        self.current_depth = 0
        self.quote_depth = 0
        self.skipping = 0
        self.pre = 0

    def _break(self) -> None:
        text = "".join(self.current)
        text = text if self.pre else _SPACES.sub(" ", text).strip()
        prefix = "> " * self.current_depth
        self.lines.append((prefix + text).rstrip() if text else prefix.rstrip())
        self.current = []
        self.current_depth = self.quote_depth

    def handle_starttag(self, tag: str, attrs: list) -> None:
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

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
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

    def handle_data(self, data: str) -> None:
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
    converter.feed(markup)
    converter.close()
    return converter.text()
