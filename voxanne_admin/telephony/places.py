"""Where a phone number is (a city or region, in English), from phonenumbers' geocoder, loaded only when needed.

Importing `phonenumbers.geocoder` loads its place-name tables for every prefix and language: about 4 s of CPU. Only
the clinic-line step of the telephony setup names a number's place, so the processes that never reach it (webhook
apply workers, the API-only server, the command line, the test workers) never load it. The console's web workers
load it in the background once they are up (`warm`, a lifespan task), so the first person to reach that step does
not wait for it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import phonenumbers


@functools.cache
def _geocoder() -> Any:
    from phonenumbers import geocoder

    return geocoder


def place_of(number: phonenumbers.PhoneNumber) -> str:
    """The number's place ("Lagos", "Istanbul", "New Jersey"), or "" when phonenumbers knows none."""
    return str(_geocoder().description_for_number(number, "en"))


async def warm() -> None:
    """Load the geocoder on a thread (a web worker's lifespan task: it starts serving meanwhile)."""
    await asyncio.to_thread(_geocoder)
