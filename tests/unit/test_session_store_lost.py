"""Redis lost while the console runs: a page event that fails on it says "Reconnecting" (one toast, not a 500-style
"something went wrong" with a reference), and works again once Redis answers. The error is a real one from
redis-py against a port where nothing listens."""

from __future__ import annotations

import socket

import pytest
import redis


def _real_redis_error() -> Exception:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    try:
        redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as exc:
        return exc
    pytest.fail("a Redis answered on a closed port")


def test_lost_session_store_says_reconnecting():
    from voxanne_admin.ui.state import RECONNECTING, backend_exception_handler

    toast = backend_exception_handler(_real_redis_error())
    rendered = str(toast)
    assert "Reconnecting" in RECONNECTING and RECONNECTING.split(":")[0] in rendered
    assert "session-store-lost" in rendered and "Something went wrong" not in rendered


def test_lost_session_store_is_recognised_behind_another_error():
    from voxanne_admin.ui.state import backend_exception_handler

    try:
        try:
            raise _real_redis_error()
        except redis.exceptions.ConnectionError as exc:
            raise RuntimeError("state could not be loaded") from exc
    except RuntimeError as wrapped:
        assert "session-store-lost" in str(backend_exception_handler(wrapped))


def test_other_errors_keep_the_reference_message():
    from voxanne_admin.ui.state import backend_exception_handler

    rendered = str(backend_exception_handler(ValueError("boom")))
    assert "Something went wrong" in rendered and "session-store-lost" not in rendered
