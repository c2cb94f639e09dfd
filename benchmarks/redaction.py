"""PHI redaction: precision and recall of `find()` on the labelled corpus, and its speed.

    .venv/bin/python benchmarks/redaction.py

Scoring is span-level: a labelled span is found (TP) when a predicted span of the same kind overlaps it, else it
is missed (FN); a predicted span overlapping no labelled span of its kind is a false positive (FP). Precision is
predicted spans that hit / all predicted spans; recall is labelled spans found / all labelled spans.
Ends with one JSON line: {"recall", "precision", "by_kind": {KIND: {"recall", "precision"}}, ...}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voxanne_admin.privacy import redaction  # noqa: E402
from voxanne_admin.privacy.spans import KINDS  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "redaction_corpus.jsonl"


def load(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The corpus with each labelled span's offsets resolved (repeated substrings take successive occurrences)."""
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        cursor: dict[str, int] = {}
        labels = []
        for span in item["spans"]:
            start = item["text"].index(span["text"], cursor.get(span["text"], 0))
            cursor[span["text"]] = start + len(span["text"])
            labels.append((span["kind"], start, start + len(span["text"])))
        item["labels"] = labels
        items.append(item)
    return items


def score(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-kind and overall support, TP, FP, FN, precision and recall, plus the misses for reading."""
    kinds = {k: {"support": 0, "tp": 0, "fp": 0, "fn": 0, "pred": 0, "pred_hit": 0} for k in KINDS}
    errors: list[str] = []
    for item in items:
        predicted = redaction.find(item["text"], region=item["region"])
        labels = item["labels"]
        for kind, start, end in labels:
            row = kinds[kind]
            row["support"] += 1
            if any(p.kind == kind and p.start < end and start < p.end for p in predicted):
                row["tp"] += 1
            else:
                row["fn"] += 1
                errors.append(f"FN {kind:<12} {item['text'][start:end]!r} in #{item['id']}")
        for p in predicted:
            row = kinds[p.kind]
            row["pred"] += 1
            if any(kind == p.kind and p.start < end and start < p.end for kind, start, end in labels):
                row["pred_hit"] += 1
            else:
                row["fp"] += 1
                errors.append(f"FP {p.kind:<12} {item['text'][p.start:p.end]!r} in #{item['id']}")
    for row in kinds.values():
        row["recall"] = row["tp"] / row["support"] if row["support"] else 1.0
        row["precision"] = row["pred_hit"] / row["pred"] if row["pred"] else 1.0
    total = {key: sum(r[key] for r in kinds.values()) for key in ("support", "tp", "fp", "fn", "pred", "pred_hit")}
    total["recall"] = total["tp"] / total["support"] if total["support"] else 1.0
    total["precision"] = total["pred_hit"] / total["pred"] if total["pred"] else 1.0
    return {"kinds": kinds, "total": total, "errors": errors}


def _report_payload() -> dict[str, Any]:
    """A realistic end-of-call report: 24 turns, messages, summary and structured analysis."""
    lines = []
    messages = []
    turns = [
        ("AI", "Thank you for calling Riverside Family Clinic, this is Ava. How can I help you today?"),
        ("User", "Hi, I need to move my appointment, it's Dana Whitfield, date of birth March 3rd, 1985."),
        ("AI", "Thanks Dana. I see you on Tuesday at 2:30 with Dr. Alvarez. What day works better?"),
        ("User", "Thursday afternoon if possible. Also my number changed, it's (415) 555-2671."),
        ("AI", "Got it. I have Thursday at 3:40 or 4:20. And can I confirm your member ID?"),
        ("User", "3:40 please. The member ID is XEH 448 2910 03 and I'm still on metformin for my diabetes."),
    ] * 4
    fillers = ["Okay.", "Right.", "Sure thing.", "Alright then.", "Mm-hmm.", "Got it, thanks.", "Perfect.",
               "One moment.", "Let me check.", "Great.", "Understood.", "No problem.", "Lovely.", "Sounds good.",
               "Hang on.", "Thank you.", "Yes.", "Of course.", "Brilliant.", "Fine.", "Wonderful.", "I see.",
               "Noted.", "Cool."]
    for i, (role, text) in enumerate(turns):
        text = f"{fillers[i]} {text}"  # every turn distinct, as in a real call (no cache hits between turns)
        lines.append(f"{role}: {text}")
        messages.append({"role": "bot" if role == "AI" else "user", "message": text, "time": 1763820000000 + i,
                         "secondsFromStart": i * 4.5})
    return {"message": {
        "type": "end-of-call-report", "endedReason": "customer-ended-call",
        "call": {"id": "call-bench", "customer": {"number": "+14155552671"}},
        "artifact": {"transcript": "\n".join(lines), "messages": messages,
                     "recordingUrl": "https://storage.example/recordings/call-bench.wav"},
        "analysis": {"summary": "Dana Whitfield (DOB 03/03/1985) moved her appointment to Thursday 3:40 pm. "
                                "New number (415) 555-2671. Takes metformin for type 2 diabetes.",
                     "structuredData": {"patientName": "Dana Whitfield", "dateOfBirth": "1985-03-03",
                                        "callbackNumber": "4155552671", "booked": True}},
    }}


def _tool_call_payload() -> dict[str, Any]:
    """A small answered-at-ingest event (tool-calls), the kind redacted on the ingest path."""
    return {"message": {"type": "tool-calls", "call": {"id": "call-bench"}, "toolCallList": [
        {"id": "t1", "function": {"name": "book_appointment", "arguments": {
            "name": "Dana Whitfield", "phone": "(415) 555-2671", "date": "2026-11-26", "time": "15:40"}}}]}}


def _time(fn, repeat: int) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat


def main() -> None:
    """Print the table and the final JSON line."""
    from voxanne_admin.webhooks import service as inbox

    items = load()
    result = score(items)
    print(f"corpus: {len(items)} utterances, {result['total']['support']} labelled spans "
          f"({sum(1 for i in items if not i['labels'])} utterances with none)\n")
    print(f"{'kind':<14}{'support':>8}{'TP':>6}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>9}")
    for kind, row in result["kinds"].items():
        print(f"{kind:<14}{row['support']:>8}{row['tp']:>6}{row['fp']:>6}{row['fn']:>6}"
              f"{row['precision']:>11.3f}{row['recall']:>9.3f}")
    t = result["total"]
    print(f"{'OVERALL':<14}{t['support']:>8}{t['tp']:>6}{t['fp']:>6}{t['fn']:>6}{t['precision']:>11.3f}"
          f"{t['recall']:>9.3f}")
    if result["errors"]:
        print("\nerrors:")
        for line in result["errors"]:
            print("  " + line)

    texts = [(i["text"], i["region"]) for i in items]
    redaction.find("warm up", region="US")
    rounds = 5
    clear = redaction._find_cached.cache_clear  # every measurement starts cold: no string was seen before

    def corpus_round() -> None:
        clear()
        for text, region in texts:
            redaction.find(text, region=region)

    per_round = _time(corpus_round, rounds)
    throughput = len(texts) / per_round
    report = _report_payload()
    message = report["message"]

    def stored_fields() -> None:
        # what apply_end_of_call_report redacts: transcript, messages, summary, analysis
        redaction.redact(message["artifact"]["transcript"], region="US")
        redaction.redact_value(message["artifact"]["messages"], region="US")
        redaction.redact(message["analysis"]["summary"], region="US")
        redaction.redact_value(message["analysis"], region="US")

    def cold_fields() -> None:
        clear()
        stored_fields()

    def whole_apply() -> None:
        clear()
        stored_fields()
        redaction.redact_payload(report, region="US")

    report_ms = _time(cold_fields, 20) * 1000
    tool = _tool_call_payload()
    answered = inbox.Parsed("tool-calls", "k", "call-bench", "completed")
    ingest_ms = _time(lambda: (clear(), inbox._final_payload(tool, answered, "US")), 200) * 1000
    update = {"message": {**report["message"], "type": "conversation-update",
                          "messages": report["message"]["artifact"]["messages"]}}
    ignored = inbox.Parsed("conversation-update", "k", "call-bench", "ignored")
    ignored_ms = _time(lambda: (clear(), inbox._final_payload(update, ignored, "US")), 100) * 1000
    apply_ms = _time(whole_apply, 20) * 1000
    chars = len(report["message"]["artifact"]["transcript"])
    print(f"\nthroughput: {throughput:,.0f} utterances/s (find, corpus x{rounds})")
    print(f"end-of-call report ({chars} transcript chars + 24 messages + analysis): {report_ms:.1f} ms to redact "
          f"the stored fields, {apply_ms:.1f} ms with the inbox payload too (the worker's whole apply; cold cache)")
    print(f"ingest path (events final at ingest): tool-calls {ingest_ms:.2f} ms, "
          f"conversation-update (bulky fields dropped) {ignored_ms:.2f} ms per payload")

    print(json.dumps({
        "recall": round(t["recall"], 4), "precision": round(t["precision"], 4),
        "by_kind": {k: {"recall": round(r["recall"], 4), "precision": round(r["precision"], 4)}
                    for k, r in result["kinds"].items()},
        "utterances": len(items), "spans": t["support"], "utterances_per_s": round(throughput),
        "report_ms": round(report_ms, 2), "apply_payload_ms": round(apply_ms, 2),
        "ingest_tool_calls_ms": round(ingest_ms, 3), "ingest_ignored_ms": round(ignored_ms, 3),
    }))


if __name__ == "__main__":
    main()
