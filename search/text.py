"""How text becomes search terms, the same way for the index and for queries, on both engines.

Granary tokenizes in Python and hands each engine finished terms (space-separated for FTS5, a
tsvector literal for PostgreSQL), so a word matches the same datasets whichever database runs.
A term is a run of letters, digits and underscores, lowercased, without accents: `temp_max` stays
one term (column names are searched whole) and is also indexed as `temp` and `max`.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence

# A run of letters, digits and `_`, without the underscores at its ends (`_id_` is `id`).
TERM = re.compile(r"[^\W_](?:\w*[^\W_])?")
MAX_TERM = 100  # longer runs (hashes, base64) are noise, and the vocabulary column holds 100
MAX_POSITION = 16_383  # PostgreSQL's last position in a tsvector
CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Markdown that carries no words: code fences' markers, images, link targets, HTML tags, emphasis.
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]{0,500}>")
_URL = re.compile(r"https?://\S+")
_MARKS = re.compile(r"[`*#>|~=]+|^\s*[-+]\s+|^\s*\d+\.\s+", re.MULTILINE)


def fold(text: str) -> str:
    """Lowercase without accents: `Café` and `cafe` are one word."""
    if text.isascii():  # most text: nothing to decompose, and NFKD per character is the cost
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def terms(text: str) -> list[str]:
    """The terms of a text, in order (repeats kept, for positions)."""
    return [term for term in TERM.findall(fold(text)) if len(term) <= MAX_TERM]


def identifier_terms(name: str) -> list[str]:
    """A column name's terms: the name whole, then its parts (`temp_max`, `temp`, `max`;
    `customerId` gives `customerid`, `customer`, `id`)."""
    whole = terms(name)
    parts = terms(CAMEL.sub(" ", name).replace("_", " "))
    return whole + [part for part in parts if part not in whole]


def markdown_text(markdown: str, limit: int = 20_000) -> str:
    """A README's words without its markup, cut at `limit` characters."""
    text = markdown[: limit * 2]
    text = _IMAGE.sub(r" \1 ", text)
    text = _LINK.sub(r" \1 ", text)
    text = _TAG.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _MARKS.sub(" ", text)
    return " ".join(text.split())[:limit]


def tsvector_literal(fields: Sequence[tuple[Iterable[str], str]]) -> str:
    """A PostgreSQL tsvector in its text form from (terms, weight) pairs: `'temp':1A,4A 'max':2B`.

    Positions run on across fields with a gap, so a phrase never spans two fields. PostgreSQL
    keeps at most 256 positions per term and positions up to 16,383: the terms past that are
    all written at 16,383, so that they are still found (though not as part of a phrase).
    """
    positions: dict[str, list[str]] = {}
    position = 1
    for field_terms, weight in fields:
        for term in field_terms:
            spots = positions.setdefault(term, [])
            spot = f"{min(position, MAX_POSITION)}{weight}"
            if len(spots) < 256 and not (position > MAX_POSITION and spot in spots):
                spots.append(spot)
            position += 1
        position += 10
    return " ".join(f"'{_quote(term)}':{','.join(spots)}" for term, spots in positions.items())


def tsquery_term(term: str, *, prefix: bool = False, weight: str = "") -> str:
    """A term of a tsquery: `'temp'`, as a prefix `'temp':*`, only at weight A `'temp':*A`."""
    suffix = ("*" if prefix else "") + weight
    return f"'{_quote(term)}'" + (f":{suffix}" if suffix else "")


def _quote(term: str) -> str:
    return term.replace("\\", "\\\\").replace("'", "''")


def damerau_one(a: str, b: str) -> bool:
    """Whether `b` is `a` with one letter added, removed, changed or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def edits_one(word: str) -> set[str]:
    """Every string one edit away from `word` (for engines without a trigram index)."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789_"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    changes = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return (deletes | swaps | changes | inserts) - {word}


def snippet(text: str, words: Iterable[str], *, width: int = 180) -> str:
    """A window of `text` around the first matched word, HTML-escaped, matches in <mark>.

    `words` are query terms; a term ending in `*` matches as a prefix. Empty when nothing matches.
    """
    patterns = []
    for word in words:
        stem = re.escape(word.rstrip("*"))
        patterns.append(stem + (r"\w*" if word.endswith("*") else r"(?!\w)"))
    if not patterns or not text:
        return ""
    matcher = re.compile(r"(?<!\w)(?:" + "|".join(patterns) + ")", re.IGNORECASE)
    folded = fold(text)
    if len(folded) != len(text):  # accents that fold into two characters: match the original
        folded = text.lower()
    first = matcher.search(folded)
    if first is None:
        return ""
    start = max(0, first.start() - width // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first.start() else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", first.end(), end)
        end = space if space > 0 else end
    parts = []
    cursor = start
    for match in matcher.finditer(folded, start, end):
        parts.append(html.escape(text[cursor : match.start()]))
        parts.append(f"<mark>{html.escape(text[match.start() : match.end()])}</mark>")
        cursor = match.end()
    parts.append(html.escape(text[cursor:end]))
    return ("… " if start else "") + "".join(parts) + (" …" if end < len(text) else "")
