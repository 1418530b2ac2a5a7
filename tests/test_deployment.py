"""The compose file and the Dockerfile, checked against the code: no Docker engine runs here, so every command
a container runs must parse with the real CLI, and every variable it sets must be one the code reads."""

from __future__ import annotations

import re

import click
import pytest
import typer
import yaml

from server.services.settings import ServiceSettings
from tests import ROOT
from zone_explorer.cli import app

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
CLI = typer.main.get_command(app)


def _cli_envvars() -> set[str]:
    names: set[str] = set()
    for command in CLI.commands.values():
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def _settings_envvars() -> set[str]:
    prefix = ServiceSettings.model_config["env_prefix"]
    return {prefix + name.upper() for name in ServiceSettings.model_fields}


def _parse(args: list[str]) -> click.Context:
    """Parse a container's command with the real CLI, as `zone-explorer ARGS` would (no side effects)."""
    name, *rest = args  # the group itself takes no options: the first word is the command
    sub = CLI.get_command(CLI.context_class(CLI), name)
    assert sub is not None, f"zone-explorer has no command {name!r}"
    return sub.make_context(name, rest)


def test_services_and_their_roles() -> None:
    assert {"db", "api", "worker", "dashboard"} <= set(SERVICES)
    db = SERVICES["db"]
    assert db["image"].startswith("postgres") and "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert any(v.split(":")[1] == "/var/lib/postgresql/data" for v in db["volumes"])
    assert "ports" not in SERVICES["worker"], "workers must scale with --scale worker=N: no fixed host ports"
    assert SERVICES["dashboard"]["profiles"] == ["dashboard"]


@pytest.mark.parametrize("service", ["api", "worker"])
def test_commands_are_accepted_by_the_cli(service: str) -> None:
    ctx = _parse(SERVICES[service]["command"])
    assert ctx.command.name == {"api": "serve", "worker": "worker"}[service]
    if service == "api":
        assert ctx.params["workers"] == 0, "the API serves alone; trials run in the worker service"
        assert ctx.params["host"] == "0.0.0.0"


def test_a_wrong_command_would_be_caught() -> None:
    with pytest.raises(Exception, match="No such option: --thread"):  # typer vendors its own click
        _parse(["worker", "--thread", "1"])


@pytest.mark.parametrize("service", ["api", "worker"])
def test_environment_names_are_read_by_the_code(service: str) -> None:
    known = _cli_envvars() | _settings_envvars()
    env = SERVICES[service]["environment"]
    assert "ZONE_EXPLORER_DATABASE_URL" in env and env["ZONE_EXPLORER_DATABASE_URL"].startswith("postgresql://")
    assert set(env) <= known, f"not read by any setting or option: {set(env) - known}"


def test_dependencies_wait_for_health() -> None:
    assert SERVICES["api"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert SERVICES["worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    probe = " ".join(SERVICES["api"]["healthcheck"]["test"])
    assert "/readyz" in probe


def test_dashboard_opens_the_same_database() -> None:
    dashboard = SERVICES["dashboard"]
    assert dashboard["entrypoint"] == ["optuna-dashboard"]
    url = dashboard["command"][-1]
    ours = SERVICES["api"]["environment"]["ZONE_EXPLORER_DATABASE_URL"]
    assert url.split("@")[1] == ours.split("@")[1] and url.split("://")[1] == ours.split("://")[1]


def test_dockerfile_installs_what_the_services_run() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["zone-explorer"]' in text
    assert re.search(r'pip install .*"\.\[dashboard\]"', text), "the dashboard service needs the dashboard extra"
    for package in ("optimizers", "zone_explorer", "server", "web"):
        assert f"COPY {package} {package}" in text
