"""mypy over the domain packages (everything except ui/), configured in [tool.mypy] of pyproject.toml."""

from __future__ import annotations

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_domain_packages_type_check_with_zero_errors(monkeypatch):
    monkeypatch.chdir(ROOT)
    stdout, stderr, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--no-error-summary",
                                      "--cache-dir", str(ROOT / ".mypy_cache")])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 0 and not errors, "\n".join(errors) or stdout + stderr
