"""Diagnoses and medications from the maintained term list (`phi_terms.py`), matched as whole phrases."""

from __future__ import annotations

import re
from collections.abc import Iterable

from voxanne_admin.privacy.phi_terms import DIAGNOSES, MEDICATIONS
from voxanne_admin.privacy.spans import Span


def _tokens(text: str) -> Iterable[re.Match[str]]:
    return _TOKEN.finditer(text)


_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9]*(?:['’-][A-Za-z0-9]+)*(?:['’](?![A-Za-z]))?")


def _norm(token: str) -> str:
    return token.lower().replace("’", "'")


def _build_terms() -> dict[str, list[tuple[tuple[str, ...], str]]]:
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for kind, terms in (("DIAGNOSIS", DIAGNOSES), ("MEDICATION", MEDICATIONS)):
        for term in terms:
            words = tuple(_norm(m.group(0)) for m in _TOKEN.finditer(term))
            if words:
                index.setdefault(words[0], []).append((words, kind))
    for entries in index.values():
        entries.sort(key=lambda e: -len(e[0]))  # longest phrase first
    return index


_TERMS = _build_terms()


# Terms that are idioms when these words follow them.
_TERM_IDIOMS = {"stroke": re.compile(r"(?i)\s+of\s+(?:luck|genius|midnight|the\s+pen|fate)\b")}


def _variants(token: str) -> tuple[str, ...]:
    """The token and its singular / non-possessive forms."""
    out = [token]
    if token.endswith("'s"):
        out.append(token[:-2])
    elif token.endswith("s") and len(token) > 3:
        out.append(token[:-1])
        if token.endswith("es"):
            out.append(token[:-2])
    return tuple(out)


def find_terms(text: str) -> list[Span]:
    tokens = list(_tokens(text))
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        matched = 0
        for variant in _variants(_norm(tokens[i].group(0))):
            for words, kind in _TERMS.get(variant, ()):
                n = len(words)
                if i + n > len(tokens):
                    continue
                ok = True
                for k in range(1, n):
                    candidate = _norm(tokens[i + k].group(0))
                    if words[k] != candidate and (k < n - 1 or words[k] not in _variants(candidate)):
                        ok = False
                        break
                    # a phrase does not jump over punctuation other than a space or hyphen
                    gap = text[tokens[i + k - 1].end():tokens[i + k].start()]
                    if gap.strip(" -"):
                        ok = False
                        break
                if ok and words[-1] in _TERM_IDIOMS and _TERM_IDIOMS[words[-1]].match(text, tokens[i + n - 1].end()):
                    ok = False  # "a stroke of luck"
                if ok:
                    spans.append(Span(kind, tokens[i].start(), tokens[i + n - 1].end()))
                    matched = n
                    break
            if matched:
                break
        i += matched or 1
    return spans


