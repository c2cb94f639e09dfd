"""Pure helpers of the call logs: masking, formatting, turns, families, p90 from buckets."""

from __future__ import annotations

import random

from voxanne_admin import formatting
from voxanne_admin.calls import detail, families
from voxanne_admin.calls import stats as call_stats
from voxanne_admin.privacy import masking


def test_mask_number_equals_the_log_masking():
    rnd = random.Random(1)
    numbers = [f"+{rnd.randint(1, 999)}{rnd.randint(10**6, 10**11)}" for _ in range(500)]
    numbers += ["", "12345", "+1 555 010 0123", "(415) 555-0100", "anonymous"]
    for n in numbers:
        assert masking.mask_number(n) == (masking.mask(n) if n else ""), n


def test_formatting():
    assert formatting.duration(None) == ""
    assert formatting.duration(65.4) == "1:05"
    assert formatting.duration(3723) == "1:02:03"
    assert formatting.money(None) == ""
    assert formatting.money(0.004) == "$0.0040"
    assert formatting.money(12.345) == "$12.35" or formatting.money(12.345) == "$12.34"


def test_turns_from_plain_transcript_when_no_messages():
    turns = detail.parse_turns(None, "AI: Hello.\nUser: Hi, I need a refill.\nnoise")
    assert [(t.role, t.speaker, t.text) for t in turns] == [
        ("assistant", "Agent", "Hello."), ("customer", "Caller", "Hi, I need a refill."), ("system", "", "noise")]


def test_turns_skip_system_prompt_and_show_tool_calls_inline():
    turns = detail.parse_turns([
        {"role": "system", "message": "secret prompt", "secondsFromStart": 0},
        {"role": "tool_calls", "toolCalls": [{"name": "check_availability", "arguments": {"date": "2026-12-01"}}],
         "secondsFromStart": 3.9},
        {"role": "tool_call_result", "name": "check_availability", "result": "Free at 10:00", "secondsFromStart": 4},
        "not a dict",
    ])
    assert [(t.kind, t.at, t.text) for t in turns] == [
        ("tool", "0:03", "check_availability(date=2026-12-01)"), ("tool", "0:04", "check_availability → Free at 10:00")]


def test_unknown_ended_reasons_are_other_and_labelled():
    assert families.family_label("never-seen-before") == "Other"
    assert families.family_label("voicemail") == "Voicemail"
    assert [k for k, _ in families.ENDED_FAMILIES][-1] == "other"


def test_family_of_is_an_open_set():
    assert families.family_of("customer-ended-call") == "customer-ended"
    assert families.family_of("call.start.error-get-assistant") == "start-error"
    assert families.family_of("pipeline-error-deepgram-transcriber-failed") == "pipeline-error"
    assert families.family_of("something-vapi-adds-next-year") == "other"
    assert families.family_of(None) == ""


def test_p90_from_histogram_interpolates():
    hist = [0] * len(call_stats.DURATION_EDGES)
    hist[9] = 10  # ten calls between 120 and 150 s
    assert 120 <= call_stats._p90_from_hist(hist) <= 150
    assert call_stats._p90_from_hist([0] * len(call_stats.DURATION_EDGES)) is None
