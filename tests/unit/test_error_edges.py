"""Provider errors reach people as the provider's actionable message at every edge: the Twilio codes the README
promises, the API's status code and body, the CLI's exit code and stderr, the UI's toast."""

from __future__ import annotations

import httpx
import pytest
import typer
from starlette.testclient import TestClient
from typer.testing import CliRunner

from voxanne_admin import cli
from voxanne_admin.api.app import build_api, domain_error_response
from voxanne_admin.errors import DomainError, InvalidInput, ProviderError, RateLimited, exit_code
from voxanne_admin.providers import twilio
from voxanne_admin.ui.components import browser
from voxanne_admin.ui.state import backend_exception_handler


def _twilio_refusal(code: int, status: int = 400) -> ProviderError:
    return twilio.map_error(httpx.Response(status, json={"code": code, "message": "raw Twilio text",
                                                         "status": status}))


@pytest.mark.parametrize(("code", "message"), [
    (21452, "No numbers are available in that area code. Try another area code."),
    (21631, "An address is required to buy a number in this country. Add the clinic's address first."),
    (21649, "GB numbers need an approved regulatory bundle. Submit the bundle in Twilio, then retry."),
    (21422, "That number was just taken. Pick another one."),
])
def test_twilio_error_carries_the_actionable_message_for_its_code(code, message):
    error = _twilio_refusal(code)
    assert str(error) == message and error.code == code and error.provider == "twilio"
    assert isinstance(error, DomainError) and error.status_code == 502


def test_provider_error_is_503_when_the_provider_is_unreachable_or_failing():
    assert ProviderError("vapi", "Could not reach Vapi (ConnectError).").status_code == 503
    assert _twilio_refusal(20500, status=500).status_code == 503
    assert _twilio_refusal(20429, status=429).status_code == 503


@pytest.fixture
def api_client():
    api = build_api()

    async def search():
        raise _twilio_refusal(21452)

    async def unreachable():
        raise ProviderError("vapi", "Vapi did not answer in time (create_call).")

    async def invalid():
        raise InvalidInput("The area code is digits only (e.g. 201).", field="area_code")

    async def limited():
        raise RateLimited("Too many number purchases; try again in 60 seconds (HTTP 429)", retry_after_s=60)

    for path, route in (("/t/search", search), ("/t/unreachable", unreachable), ("/t/invalid", invalid),
                        ("/t/limited", limited)):
        api.add_api_route(path, route)
    return TestClient(api)  # no lifespan: no worker, no database


def test_api_answers_502_with_the_providers_message_for_a_refusal(api_client):
    response = api_client.get("/t/search")
    assert response.status_code == 502
    assert response.json() == {"error": "No numbers are available in that area code. Try another area code.",
                               "provider": "twilio", "code": 21452}


def test_api_answers_503_when_the_provider_cannot_be_reached(api_client):
    response = api_client.get("/t/unreachable")
    assert response.status_code == 503 and response.json()["error"] == "Vapi did not answer in time (create_call)."


def test_api_maps_other_domain_errors_to_their_status_and_field(api_client):
    invalid = api_client.get("/t/invalid")
    assert invalid.status_code == 422
    assert invalid.json() == {"error": "The area code is digits only (e.g. 201).", "field": "area_code"}
    limited = api_client.get("/t/limited")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "60"


def test_api_registers_the_domain_error_handler_once():
    assert build_api().exception_handlers[DomainError] is domain_error_response


def _cli_with(command) -> typer.Typer:
    app = typer.Typer(cls=cli._Group)
    app.command("boom")(command)
    app.command("other")(lambda: None)
    return app


def test_cli_exits_3_with_the_providers_message_on_stderr():
    def boom() -> None:
        raise _twilio_refusal(21631)

    result = CliRunner().invoke(_cli_with(boom), ["boom"])
    assert result.exit_code == 3 == exit_code(_twilio_refusal(21631))
    assert "Twilio: An address is required to buy a number in this country." in result.stderr
    assert result.stdout == ""


def test_cli_exits_1_for_a_domain_rule():
    def boom() -> None:
        raise InvalidInput("The agent role is inbound or outbound.", field="role")

    result = CliRunner().invoke(_cli_with(boom), ["boom"])
    assert result.exit_code == 1 and "The agent role is inbound or outbound." in result.stderr


def test_cli_app_maps_errors_through_the_group():
    assert isinstance(typer.main.get_command(cli.app), cli._Group)


def test_ui_toast_shows_the_providers_message():
    toast = browser.command_of(backend_exception_handler(_twilio_refusal(21452)))
    assert toast is not None and toast["level"] == "error"
    assert toast["text"] == "No numbers are available in that area code. Try another area code."
