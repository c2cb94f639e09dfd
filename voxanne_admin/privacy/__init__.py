"""Personal data and secrets: what must never be stored, logged or shown in the clear.

  * `redaction`: PHI/PII found in free text and JSON (one module per kind: `emails`, `phones`, `identifiers`,
    `dates`, `addresses`, `terms`; `spans` resolves overlaps) and replaced by typed placeholders;
  * `secrets`: credentials scrubbed from structured data (webhook payloads, audit diffs);
  * `masking`: emails, phone numbers and secrets masked in text that is shown or logged.

A leaf package: it imports no other part of the app, so every domain (and `logging`) may use it.
"""
