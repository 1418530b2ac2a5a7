"""The compose file and the Dockerfile, checked against the code: no Docker engine runs here, so every command
a container runs must parse with the real CLI, and every variable it sets must be one the code reads."""

from __future__ import annotations

import re
import subprocess

import click
import pytest
import typer
import yaml

from server.services.settings import ServiceSettings
from tests import ROOT
from zone_explorer.cli import app
from zone_explorer.engine.devices import parse_devices

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


# ---- cluster recipes (deploy/): Kubernetes and SLURM ----------------------------------------------------------------
K8S = [doc for doc in yaml.safe_load_all((ROOT / "deploy/kubernetes/zone-explorer.yaml").read_text()) if doc]
SBATCH = ROOT / "deploy/slurm/zone-explorer-workers.sbatch"


def _k8s(kind: str, name: str) -> dict:
    found = [d for d in K8S if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name!r} in deploy/kubernetes"
    return found[0]


def _container(deployment: str) -> dict:
    (container,) = _k8s("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return container


def test_kubernetes_deployments_select_their_pods_and_the_service_reaches_the_api() -> None:
    assert {d["kind"] for d in K8S} == {"Secret", "Deployment", "Service"}
    for name in ("zone-explorer-api", "zone-explorer-worker"):
        spec = _k8s("Deployment", name)["spec"]
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items()
    service = _k8s("Service", "zone-explorer-api")["spec"]
    api_pod = _k8s("Deployment", "zone-explorer-api")["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= api_pod.items()
    port_names = {p["name"] for p in _container("zone-explorer-api")["ports"]}
    assert all(p["targetPort"] in port_names for p in service["ports"])
    images = {_container(name)["image"] for name in ("zone-explorer-api", "zone-explorer-worker")}
    assert len(images) == 1, "the API and the workers must run one image (one code version)"


def test_kubernetes_commands_are_accepted_by_the_cli() -> None:
    api = _parse(_container("zone-explorer-api")["args"])  # the image's entrypoint is zone-explorer
    assert api.command.name == "serve" and api.params["workers"] == 0 and api.params["host"] == "0.0.0.0"
    assert {p["containerPort"] for p in _container("zone-explorer-api")["ports"]} == {api.params["port"]}
    worker = _parse(_container("zone-explorer-worker")["args"])
    assert worker.command.name == "worker" and worker.params["devices"] == "auto"


def test_kubernetes_workers_ask_for_one_gpu_and_use_it() -> None:
    pod = _k8s("Deployment", "zone-explorer-worker")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    # what `--devices auto` resolves to in a pod that sees the one GPU it asked for
    devices = _parse(container["args"]).params["devices"]
    assert parse_devices(devices, gpus=lambda: 1).devices == ("cuda:0",)
    assert pod["terminationGracePeriodSeconds"] >= 60, "SIGTERM lets a worker finish its trial"


def test_kubernetes_probes_point_at_real_routes_and_the_database_url_comes_from_the_secret(tmp_path) -> None:
    from server.app import create_app

    app = create_app(ServiceSettings(database_url=f"sqlite:///{tmp_path / 'x.db'}", migrate=False, workers=0))
    routes = {path for path, ops in app.openapi()["paths"].items() if "get" in ops}
    api = _container("zone-explorer-api")
    probes = {kind: api[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/readyz" and probes["livenessProbe"]["path"] == "/healthz"
    port_names = {p["name"] for p in api["ports"]}
    assert all(p["path"] in routes and p["port"] in port_names for p in probes.values())
    secret = _k8s("Secret", "zone-explorer-db")["stringData"]
    known = _cli_envvars() | _settings_envvars()
    for name in ("zone-explorer-api", "zone-explorer-worker"):
        env = {e["name"]: e for e in _container(name)["env"]}
        assert set(env) <= known, f"not read by any setting or option: {set(env) - known}"
        ref = env["ZONE_EXPLORER_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "zone-explorer-db" and secret[ref["key"]].startswith("postgresql://")


def _script_commands(text: str) -> list[list[str]]:
    """Every `zone-explorer ...` command in a shell script, its comments included (the usage they show), with
    backslash continuations joined, ``${VAR:-default}`` as the shell expands it where VAR is unset, and the
    words as the shell would split them."""
    import shlex

    joined = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", re.sub(r"\\\n\s*", " ", text))
    commands = []
    for line in joined.splitlines():
        line = line.lstrip("# ").removeprefix("exec ")
        if line.startswith("zone-explorer "):
            commands.append(shlex.split(line, comments=True)[1:])
    return commands


#: the long options of sbatch the recipe may use (sbatch(1)); a typo in a directive is ignored by nothing but SLURM
SBATCH_OPTIONS = {"job-name", "array", "gres", "cpus-per-task", "mem", "time", "output", "error", "signal", "partition"}


def test_slurm_script_is_valid_bash_with_real_sbatch_options() -> None:
    subprocess.run(["bash", "-n", str(SBATCH)], check=True)
    text = SBATCH.read_text()
    assert text.startswith("#!/bin/bash\n")
    directives = dict(re.findall(r"^#SBATCH --([a-z-]+)=(\S+)$", text, re.M))
    assert len(directives) == len(re.findall(r"^#SBATCH", text, re.M)), "every directive is --option=value"
    assert set(directives) <= SBATCH_OPTIONS, set(directives) - SBATCH_OPTIONS
    assert re.fullmatch(r"\d+-\d+(%\d+)?", directives["array"]) and directives["gres"] == "gpu:1"
    assert directives["signal"].startswith("B:TERM@"), "SIGTERM to the batch shell, which exec made the worker"


def test_slurm_workers_are_real_cli_commands_that_exit_when_idle() -> None:
    commands = _script_commands(SBATCH.read_text())
    assert {c[0] for c in commands} == {"submit", "worker"}
    for words in commands:
        _parse(words)
    (worker,) = [_parse(c) for c in commands if c[0] == "worker"]
    assert worker.params["exit_when_idle"] is True and worker.params["devices"] == "auto"
    assert parse_devices(worker.params["devices"], gpus=lambda: 1).devices == ("cuda:0",)  # --gres=gpu:1


def test_readme_scaling_out_commands_are_real() -> None:
    """The commands "Scaling out" shows (devices, the recipes' usage) parse with the real CLI."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Scaling out\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    commands = [words for block in blocks for words in _script_commands(block)]
    assert {"worker", "serve", "submit"} <= {c[0] for c in commands}
    for words in commands:
        _parse(words)
    devices = [_parse(c).params["devices"] for c in commands if "--devices" in c]
    assert len(devices) >= 4 and all(parse_devices(d, gpus=lambda: 2).devices for d in devices)
