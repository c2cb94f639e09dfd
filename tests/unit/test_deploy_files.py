"""deploy/: the HAProxy config HAProxy itself accepts (as the failover tests render it), alert rules that only
name metrics /metrics exposes, and a systemd unit whose stop budget covers the graceful shutdown."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ROOT

DEPLOY = ROOT / "deploy"


def test_haproxy_config_is_valid_for_haproxy(tmp_path):
    from tests.scale.conftest import haproxy_config

    haproxy = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if haproxy is None:
        if IN_CI:
            pytest.fail("haproxy is missing: ./voxanne test installs it")
        pytest.skip("haproxy not installed")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(haproxy_config({"app1": 3001, "app2": 3002}, 3000))
    proc = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (DEPLOY / "haproxy.cfg").read_text()
    assert "uri /health/ready" in text and "http-check expect status 200" in text
    assert "timeout tunnel" in text  # websockets
    assert "timeout check 3s" in text  # a slow check is not a dead replica
    assert "http-request del-header X-Forwarded-For" in text and "option forwardfor" in text


def test_alert_rules_name_only_exposed_metrics():
    from voxanne_admin.api import metrics as api_metrics

    text = (DEPLOY / "prometheus-alerts.yml").read_text()
    names = set(re.findall(r"\b(voxanne_[a-z_]+)", text))
    exposed = {"voxanne_http_requests_total", "voxanne_database_up", "voxanne_circuit_breaker_state"}
    source = (ROOT / "voxanne_admin" / "api" / "metrics.py").read_text()
    exposed |= set(re.findall(r'"(voxanne_[a-z_]+)"', source))
    assert names and names <= exposed, names - exposed
    assert api_metrics.chain.chain_status  # the sealer-lag gauge reads the audit chain's own status
    assert "voxanne_audit_sealer_lag_seconds" in names  # ... and an alert watches it
    for alert in ("VoxanneReplicaDown", "VoxanneInboxBacklogGrowing", "VoxanneDeadLetters", "VoxanneJobFailing",
                  "VoxanneBackupTooOld"):
        assert f"alert: {alert}" in text


def test_systemd_unit_stops_within_the_graceful_budget():
    from voxanne_admin.settings import Settings

    unit = (DEPLOY / "voxanne-admin.service").read_text()
    stop = int(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1))  # type: ignore[union-attr]
    drain_max = Settings.model_fields["voxanne_drain_seconds"].metadata
    assert stop <= 30 and "KillSignal=SIGTERM" in unit and "voxanne-admin serve" in unit
    assert any(getattr(m, "le", None) == 20 for m in drain_max)
