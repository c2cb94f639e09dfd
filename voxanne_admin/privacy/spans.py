"""Findings of the PHI detectors: typed spans, the placeholders that replace them, and how overlapping
findings are resolved."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

KINDS = ("SSN", "CARD", "PHONE", "EMAIL", "DOB", "MRN", "INSURANCE_ID", "ADDRESS", "DIAGNOSIS", "MEDICATION")
# When two findings overlap, the earlier kind wins (an id introduced as a member id is not a phone number).
PRIORITY = {kind: rank for rank, kind in enumerate(
    ("EMAIL", "CARD", "INSURANCE_ID", "MRN", "SSN", "DOB", "PHONE", "ADDRESS", "MEDICATION", "DIAGNOSIS"))}


@dataclass(frozen=True, order=True)
class Span:
    """One finding: `text[start:end]` is PHI of `kind` (one of KINDS)."""

    start: int
    end: int
    kind: str

    def __init__(self, kind: str, start: int, end: int) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)



DIGIT = re.compile(r"\d")
PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")


def near(pattern: re.Pattern[str], text: str, start: int, before: int = 60, after: int = 0) -> bool:
    return pattern.search(text, max(0, start - before), min(len(text), start + after)) is not None



def resolve(spans: list[Span]) -> list[Span]:
    """Non-overlapping findings: higher-priority kinds first, then longer spans."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.kind, s.start)):
        last = merged[-1] if merged else None
        if last is not None and last.kind == span.kind and span.start < last.end:
            merged[-1] = Span(span.kind, last.start, max(last.end, span.end))
        else:
            merged.append(span)
    starts: list[int] = []  # chosen spans, kept sorted by start (they never overlap each other)
    chosen: list[Span] = []
    for span in sorted(merged, key=lambda s: (PRIORITY[s.kind], -(s.end - s.start), s.start)):
        if span.end <= span.start:
            continue
        at = bisect.bisect_left(starts, span.start)
        if at > 0 and chosen[at - 1].end > span.start:
            continue  # overlaps the chosen span that starts before it
        if at < len(chosen) and chosen[at].start < span.end:
            continue  # overlaps the chosen span that starts at or after it
        starts.insert(at, span.start)
        chosen.insert(at, span)
    return chosen


def mask_placeholders(text: str) -> str:
    """Placeholders are blanked out so no detector reads them as context or content."""
    return PLACEHOLDER.sub(lambda m: " " * len(m.group(0)), text) if "[" in text else text

