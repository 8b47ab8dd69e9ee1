"""Find the numbers typed into a notebook's Markdown: the ones that should have been computed.

A chapter is executed on real data, on the simulator, at every profile; a count, a score or a ratio typed
into its prose is true in one of those builds at most. Such a sentence is an f-string shown by
``respkit.report.say`` instead. What may stay typed:

* the papers' numbers, in a sentence that cites its source (``{cite:p}`...```);
* constants of the method, written as math (``$\\tau = 0.06$``) or code (```n_mels=64```), where the
  reader sees that they are settings and not results;
* numbers that are names or structure: task names (1-1 to 2-2), years, ``2-D``, words such as
  ``ResNet18``, "chapter 3", "exercise 2", "stage 1", a single digit, headings, and a value with a unit
  of time, frequency or level (``3 s``, ``8 kHz``, ``25 ms``, ``20 dB``), which are settings.
"""

from __future__ import annotations

import re

# Removed before looking: code, math, roles, link targets, HTML, directive options.
_STRIP = [
    re.compile(r"^[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$", re.S | re.M),  # fenced code
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\\begin\{(\w+\*?)\}.*?\\end\{\1\}", re.S),
    re.compile(r"\$[^$\n]+\$"),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\]\([^)]*\)"),  # a link's target; its text stays
    re.compile(r"https?://\S+"),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"<[^>\n]+>"),
    re.compile(r"^[ \t]*:[\w-]+:.*$", re.M),  # directive options such as ":class: dropdown"
    re.compile(r"^#+ .*$", re.M),  # headings
]
_NAMES = re.compile(
    r"\b[12]-[12]\b"  # task names
    r"|\b\d+-D\b"  # 1-D, 2-D
    r"|\b(?:19|20)\d\d\b"  # years
    r"|\b(?:[Cc]hapters?|[Ee]xercises?|[Ss]ections?|[Tt]ables?|[Ff]igures?|[Ss]tages?|[Ee]quations?|[Pp]arts?)"
    r" \d+(?:(?:,| and| or| to) \d+)*"
    r"|\b\d+(?:\.\d+)? ?(?:s|ms|kHz|Hz|dB)\b"
)
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z*(_\[])")


def typed_numbers(markdown: str) -> list[str]:
    """The typed numbers of one Markdown cell, each with a little of its context (empty: none)."""
    text = markdown
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    found = []
    for sentence in _SENTENCE_END.split(text):
        if "{cite" in sentence:  # a paper's numbers beside their source
            continue
        plain = _NAMES.sub(" ", sentence)
        for match in _NUMBER.finditer(plain):
            if re.fullmatch(r"\d", match.group()):
                continue
            start, end = max(0, match.start() - 30), match.end() + 30
            found.append("…" + " ".join(plain[start:end].split()) + "…")
    return found
