"""Settings: every bad value reported at once, placeholder secrets refused, secrets never printed."""

from __future__ import annotations

import pytest

from voxanne_admin.settings import SettingsError, load_settings


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment (no developer .env) that tests fill in."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "PORT", "VAPI_API_KEY", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "REDIS_URL",
                 "VOXANNE_PUBLIC_URL", "LOG_LEVEL", "VAPI_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_error_lists_every_bad_setting_at_once(env):
    env.setenv("PORT", "not-a-port")
    env.setenv("DATABASE_URL", "mysql://root:pw@localhost/voxanne")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    message = str(exc.value)
    assert message.startswith("Voxanne Admin cannot start")
    assert "PORT:" in message
    assert "DATABASE_URL: must be a PostgreSQL URL" in message
    assert "root:pw" not in message


def test_settings_refused_when_port_out_of_range(env):
    env.setenv("PORT", "70000")
    with pytest.raises(SettingsError, match="PORT"):
        load_settings()


@pytest.mark.parametrize("name", ["VAPI_API_KEY", "TWILIO_AUTH_TOKEN", "REDIS_URL"])
@pytest.mark.parametrize("value", ["changeme", " CHANGE-ME ", "secret", "todo"])
def test_settings_refused_when_secret_is_placeholder(env, name, value):
    env.setenv(name, value)
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert f"{name}: is a placeholder value" in str(exc.value)


def test_settings_refused_when_public_url_has_no_scheme(env):
    env.setenv("VOXANNE_PUBLIC_URL", "admin.example.com")
    with pytest.raises(SettingsError, match="VOXANNE_PUBLIC_URL: must start with http"):
        load_settings()


@pytest.mark.parametrize("url", ["postgres://u:p@h/db", "postgresql://u:p@h/db", "postgresql+psycopg://u:p@h/db"])
def test_settings_accept_postgres_urls(env, url):
    env.setenv("DATABASE_URL", url)
    assert load_settings().database_url.get_secret_value() == url


def test_settings_secrets_not_in_repr_or_str(env):
    env.setenv("DATABASE_URL", "postgresql://voxanne:db-pass-7781@db.internal/voxanne")
    env.setenv("VAPI_API_KEY", "vapi-key-5521")
    env.setenv("TWILIO_AUTH_TOKEN", "twilio-token-9932")
    env.setenv("TWILIO_ACCOUNT_SID", "AC0123456789")
    env.setenv("VAPI_WEBHOOK_SECRET", "whsec-4471")
    settings = load_settings()
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "db-pass-7781" not in text
        assert "vapi-key-5521" not in text
        assert "twilio-token-9932" not in text
    assert settings.vapi_api_key.get_secret_value() == "vapi-key-5521"


def test_settings_sandbox_only_without_any_provider_credential(env):
    assert load_settings().sandbox
    env.setenv("VAPI_API_KEY", "vapi-key-5521")
    env.setenv("TWILIO_AUTH_TOKEN", "twilio-token-9932")
    with pytest.raises(SettingsError, match="half-configured: TWILIO_ACCOUNT_SID missing"):
        load_settings()
    env.setenv("VAPI_WEBHOOK_SECRET", "whsec-4471")  # needed once real providers are configured
    env.setenv("TWILIO_ACCOUNT_SID", "AC0123456789")
    assert not load_settings().sandbox


def test_settings_public_url_defaults_to_localhost_port(env):
    env.setenv("PORT", "8123")
    assert load_settings().public_url == "http://localhost:8123"
    env.setenv("VOXANNE_PUBLIC_URL", "https://admin.example.com/")
    assert load_settings().public_url == "https://admin.example.com"
