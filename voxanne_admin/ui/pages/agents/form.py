"""The agent editor's form: its fields as text, from a saved agent and back to a configuration."""

from __future__ import annotations

from voxanne_admin.agents.models import MODELS, VOICES, AgentRead

VOICE_OPTIONS = {f"{p}:{v}": label for p, v, label in VOICES}
MODEL_OPTIONS = {f"{p}:{m}": label for p, m, label in MODELS}
BLANK = {
    "name": "",
    "system_prompt": "",
    "first_message": "",
    "voice": "",
    "model": "",
    "temperature": "0.5",
    "max_tokens": "250",
    "max_duration_s": "600",
    "tools": "",
}


def form_from(agent: AgentRead | dict) -> dict[str, str]:
    """The editor's text fields for a saved agent (or a default configuration)."""
    data = agent.model_dump() if isinstance(agent, AgentRead) else agent
    return {
        "name": data["name"],
        "system_prompt": data["system_prompt"],
        "first_message": data["first_message"],
        "voice": f"{data['voice_provider']}:{data['voice_id']}",
        "model": f"{data['model_provider']}:{data['model_name']}",
        "temperature": str(data["temperature"]),
        "max_tokens": str(data["max_tokens"]),
        "max_duration_s": str(data["max_duration_s"]),
        "tools": ",".join(data["tools"]),
    }


def raw_config(form: dict[str, str]) -> dict:
    """The editor's text fields as the configuration the agent service validates."""
    voice = form.get("voice", "").split(":", 1) + [""]
    model = form.get("model", "").split(":", 1) + [""]
    return {
        "name": form.get("name", ""),
        "system_prompt": form.get("system_prompt", ""),
        "first_message": form.get("first_message", ""),
        "voice_provider": voice[0],
        "voice_id": voice[1],
        "model_provider": model[0],
        "model_name": model[1],
        "temperature": form.get("temperature", ""),
        "max_tokens": form.get("max_tokens", ""),
        "max_duration_s": form.get("max_duration_s", ""),
        "tools": [t for t in form.get("tools", "").split(",") if t],
    }

