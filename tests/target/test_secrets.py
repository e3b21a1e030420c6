"""Secrets per stack: nobody signs tokens with a secret they read in this repository.

The local launcher and the compose runtime each generate a JWT secret and an admin token per stack
(0600 files in its run dir); docker-compose.yml carries no default; and a service refuses to listen
beyond loopback with a public or short secret.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import jwt
import pytest
import yaml

from chaosgate import compose
from chaosgate.config import load_topology
from chaosgate.stack.compose_runtime import ComposeStack
from chaosgate.stack.launcher import LocalStack
from target_system.settings import DEV_JWT_SECRET, ExposedWithWeakSecret, Settings

ROOT = Path(__file__).resolve().parents[2]
STRONG = "k" * 40
PUBLIC_ADMIN_TOKEN = "secureconnect-dev-admin-token"


def start_service(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SC_", "CHAOSGATE_BIND"))}
    return subprocess.run(
        [sys.executable, "-m", "target_system", "gateway"],
        env={**base, "SC_PORT": "1", **env},  # port 1: it must refuse before ever binding
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env",
    [
        {"SC_HOST": "0.0.0.0"},  # no secret at all: the public default
        {"SC_HOST": "0.0.0.0", "SC_JWT_SECRET": DEV_JWT_SECRET},
        {"SC_HOST": "::", "SC_JWT_SECRET": "short-secret"},
        {"SC_HOST": "127.0.0.1", "CHAOSGATE_BIND": "0.0.0.0"},  # compose publishing the port
        {"SC_HOST": "0.0.0.0", "SC_JWT_SECRET": STRONG, "SC_ADMIN_TOKEN": PUBLIC_ADMIN_TOKEN},
    ],
)
def test_a_service_exposed_beyond_loopback_with_a_weak_secret_refuses_to_start(env: dict[str, str]) -> None:
    done = start_service(env)
    assert done.returncode == 2, done.stderr
    message = done.stderr.strip()
    assert "refusing to listen beyond loopback" in message and "openssl rand -hex 32" in message
    assert "Traceback" not in message


def test_loopback_or_a_strong_secret_is_allowed() -> None:
    Settings.from_env({"SC_HOST": "127.0.0.1"}).check_exposure({})  # default secret, loopback only
    Settings.from_env({"SC_HOST": "::1"}).check_exposure({"CHAOSGATE_BIND": "127.0.0.1"})
    exposed = Settings.from_env({"SC_HOST": "0.0.0.0", "SC_JWT_SECRET": STRONG, "SC_ADMIN_TOKEN": STRONG})
    exposed.check_exposure({"CHAOSGATE_BIND": "0.0.0.0"})
    with pytest.raises(ExposedWithWeakSecret, match="SC_JWT_SECRET"):
        Settings.from_env({"SC_HOST": "10.0.0.5", "SC_JWT_SECRET": "x" * 31}).check_exposure({})


def test_the_local_stack_signs_with_its_own_secret_and_refuses_the_public_one(
    running_stack: LocalStack,
) -> None:
    for name in ("jwt_secret", "admin_token"):
        path = running_stack.run_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert len(path.read_text().strip()) >= 32
    assert running_stack.secret("jwt_secret") != DEV_JWT_SECRET
    now = int(time.time())
    claims = {"sub": str(uuid.uuid4()), "sid": "s", "jti": "j", "iat": now, "exp": now + 60, "typ": "access"}
    forged = jwt.encode(claims, DEV_JWT_SECRET, algorithm="HS256")
    with httpx.Client(base_url=running_stack.gateway_url, timeout=10.0) as gateway:
        for path in ("/v1/auth/me", "/v1/chat/conversations", "/v1/storage/files", "/v1/push/devices"):
            answer = gateway.get(path, headers={"Authorization": f"Bearer {forged}"})
            assert answer.status_code == 401, (path, answer.text)
        cleanup = gateway.post("/v1/auth/admin/cleanup", headers={"X-Admin-Token": PUBLIC_ADMIN_TOKEN})
        assert cleanup.status_code == 403


def test_docker_compose_yml_holds_no_secret() -> None:
    text = (ROOT / compose.COMPOSE_FILE).read_text(encoding="utf-8")
    assert DEV_JWT_SECRET not in text and PUBLIC_ADMIN_TOKEN not in text
    services = yaml.safe_load(text)["services"]
    targets = [name for name, spec in services.items() if "SC_SERVICE" in spec.get("environment", {})]
    assert targets
    for name in targets:
        env = services[name]["environment"]
        # {secret:NAME} in chaos.yaml: no default, compose stops when the variable is unset
        assert env["SC_JWT_SECRET"].startswith("${CHAOSGATE_SECRET_JWT_SECRET:?"), name
        assert env["SC_ADMIN_TOKEN"].startswith("${CHAOSGATE_SECRET_ADMIN_TOKEN:?"), name


def test_the_compose_runtime_generates_and_keeps_secrets_per_stack(tmp_path: Path) -> None:
    topology = load_topology(ROOT / "chaos.yaml")
    first = ComposeStack(topology, environ={}, run_dir=tmp_path / "a").secret_env()
    assert first == ComposeStack(topology, environ={}, run_dir=tmp_path / "a").secret_env()  # kept
    other = ComposeStack(topology, environ={}, run_dir=tmp_path / "b").secret_env()
    assert set(first) == {"CHAOSGATE_SECRET_JWT_SECRET", "CHAOSGATE_SECRET_ADMIN_TOKEN"}
    assert all(first[key] != other[key] for key in first)
    for value in first.values():
        assert len(value) >= 32 and value not in (DEV_JWT_SECRET, PUBLIC_ADMIN_TOKEN)
    for name in ("jwt_secret", "admin_token"):
        assert stat.S_IMODE((tmp_path / "a" / name).stat().st_mode) == 0o600
    environ = {"CHAOSGATE_SECRET_JWT_SECRET": STRONG}
    given = ComposeStack(topology, environ=environ, run_dir=tmp_path / "c").secret_env()
    assert given["CHAOSGATE_SECRET_JWT_SECRET"] == STRONG  # the operator's own secret wins
