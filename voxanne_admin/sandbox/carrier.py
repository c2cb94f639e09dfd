"""The sandbox "carrier": the phone network between a clinic's line and our numbers, for demos and tests.

Each clinic line keeps its call-forwarding state (in PostgreSQL, shared by every worker). Dialling a code on the
line (POST /sandbox/carrier/dial) parses it the way a network does (GSM MMI **21*N#, BT *21*N#, US *72N ...): a
code the network does not understand is refused, and the target is read in the line's own numbering plan, so a
badly formatted target forwards to the wrong place, exactly as it would for real. A call placed to the line
(sandbox Twilio Calls API) is forwarded only if forwarding is active for an idle, reachable line (all calls or
no-answer); it then arrives on the target number with ForwardedFrom. Otherwise it rings out (no-answer).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from voxanne_admin.sandbox import store

router = APIRouter(prefix="/sandbox/carrier")
SERVICE_TYPES = {"21": ("unconditional",), "67": ("busy",), "61": ("no_answer",), "62": ("unreachable",),
                 "004": ("busy", "no_answer", "unreachable"), "002": ("unconditional", "busy", "no_answer",
                                                                      "unreachable"),
                 "72": ("unconditional",), "71": ("busy", "no_answer", "unreachable"), "90": ("busy",),
                 "92": ("no_answer",)}
CANCELS = {"21": ("unconditional",), "67": ("busy",), "61": ("no_answer",), "62": ("unreachable",),
           "004": ("busy", "no_answer", "unreachable"), "002": ("unconditional", "busy", "no_answer", "unreachable"),
           "73": ("unconditional", "busy", "no_answer", "unreachable"), "91": ("busy",), "93": ("no_answer",)}
REGISTER = (re.compile(r"^\*\*?(21|67|61|62|004|002)\*(\+?\d{4,15})(?:\*\*(\d{1,2}))?#$"),
            re.compile(r"^\*(72|71|90|92)(\+?\d{4,15})#?$"))
CANCEL = (re.compile(r"^##?(21|67|61|62|004|002)#$"), re.compile(r"^\*(73|91|93)$"))
FORWARDS_WHEN_IDLE = ("unconditional", "no_answer")  # a sandbox line is idle, reachable and nobody picks up


def line_id(e164: str) -> str:
    """The sandbox object id of a clinic line."""
    return f"line:{e164}"


def get_line(e164: str) -> dict[str, Any]:
    """A clinic line's forwarding state (nothing forwarded when it was never touched)."""
    return store.get(line_id(e164), "carrier_line") or {"line": e164, "forwards": {}, "dialled": []}


def apply_code(state: dict[str, Any], line: str, code: str) -> tuple[dict[str, Any], str]:
    """The line's new state and the network's answer after dialling `code` (ValueError when refused)."""
    region = phonenumbers.region_code_for_number(phonenumbers.parse(line))
    code = "".join(code.split())
    forwards = dict(state.get("forwards") or {})
    for pattern in REGISTER:
        match = pattern.match(code)
        if match:
            service, target = match.group(1), match.group(2)
            try:
                parsed = phonenumbers.parse(target, region)
            except phonenumbers.NumberParseException:
                raise ValueError(f"The network could not read {target} as a number.") from None
            if not phonenumbers.is_valid_number(parsed):
                raise ValueError(f"Forwarding refused by the network: {target} is not a valid number as dialled "
                                 f"from a {region} line.")
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            for kind in SERVICE_TYPES[service]:
                forwards[kind] = e164
            answer = f"Forwarding ({', '.join(SERVICE_TYPES[service])}) to {e164} activated."
            break
    else:
        for pattern in CANCEL:
            match = pattern.match(code)
            if match:
                for kind in CANCELS[match.group(1)]:
                    forwards.pop(kind, None)
                answer = "Forwarding cancelled."
                break
        else:
            if re.match(r"^\*#(21|67|61|62)#$", code):
                answer = "Forwarding: " + (", ".join(f"{k} to {v}" for k, v in forwards.items()) or "none")
            else:
                raise ValueError("Connection problem or invalid MMI code.")
    return {"line": line, "forwards": forwards, "dialled": [*state.get("dialled", [])[-9:], code]}, answer


def dial(line: str, code: str) -> dict[str, Any]:
    """Dial a code on a clinic line; returns the new state with the network's answer, or raises ValueError."""
    state, answer = apply_code(get_line(line), line, code)
    store.put("carrier", "carrier_line", line_id(line), state)
    return {**state, "answer": answer}


def forward_target(line: str) -> str:
    """Where a call to this idle line ends up ("" when it just rings)."""
    forwards = get_line(line).get("forwards") or {}
    for kind in FORWARDS_WHEN_IDLE:
        if forwards.get(kind):
            return forwards[kind]
    return ""


@router.post("/dial")
async def dial_route(request: Request):
    """Dial a code on a clinic line: {"line": "+1...", "code": "*72..."} -> the line's forwarding state."""
    try:
        body = await request.json()
        line, code = str(body["line"]), str(body["code"])
        phonenumbers.parse(line)
    except (ValueError, KeyError, TypeError, phonenumbers.NumberParseException):
        return JSONResponse({"error": 'send {"line": "+E164", "code": "..."}'}, status_code=400)
    try:
        return await asyncio.to_thread(dial, line, code)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)


@router.get("/lines/{e164}")
async def line_route(e164: str):
    """A clinic line's forwarding state."""
    return await asyncio.to_thread(get_line, e164)
