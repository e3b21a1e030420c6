"""What a runtime hands each service: chaos.yaml's service env under the target's own names, with
chaosgate's placeholders filled in (chaosgate/service_env.py), and one clear error for a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaosgate.config import load_topology
from chaosgate.errors import ValidationError
from chaosgate.service_env import ServiceContext, render, secrets_named, templates
from chaosgate.stack.launcher import LocalStack

CHAOS_YAML = """\
proxy: {api_port: 8474}
stores:
  sql: {kind: postgres, port: 15432, database: app}
links:
  sql: {listen: 26257}
services:
  api:
    port: 18081
    links: [sql]
    env:
      APP_DSN: "postgresql://postgres@{link:sql}/app"
      APP_DB_HOST: "{link_host:sql}"
      APP_DB_PORT: "{link_port:sql}"
      APP_MODE: "{profile}"
service_defaults:
  command: ["{python}", "-m", "shop", "{service}"]
  env:
    APP_NAME: "{service}"
    APP_LISTEN: "{host}:{port}"
    APP_MODE: default-mode
    APP_FLAGS: "{switches}"
    APP_DATA: "{run_dir}/{service}"
    APP_SIGNING_KEY: "{secret:signing_key}"
gateway: api
profiles: [plain, tuned]
default_profile: tuned
"""


def _context(**changes: object) -> ServiceContext:
    values: dict[str, object] = {
        "service": "api",
        "host": "127.0.0.1",
        "port": 18081,
        "profile": "tuned",
        "switches": "cache=off",
        "run_dir": "/run/x",
        "secret": lambda name: f"<{name}>",
        "link": lambda name: f"127.0.0.1:2{(name == 'sql' and '6257') or '0000'}",
    }
    values.update(changes)
    return ServiceContext(**values)  # type: ignore[arg-type]


def test_every_placeholder_is_filled_and_a_services_own_env_wins(tmp_path: Path) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(CHAOS_YAML, encoding="utf-8")
    topology = load_topology(config)
    env = {
        key: render(value, _context())
        for key, value in templates(topology.service_defaults.env, topology.services["api"].env).items()
    }
    assert env == {
        "APP_NAME": "api",
        "APP_LISTEN": "127.0.0.1:18081",
        "APP_MODE": "tuned",  # the service's own {profile}, not the default's literal
        "APP_FLAGS": "cache=off",
        "APP_DATA": "/run/x/api",
        "APP_SIGNING_KEY": "<signing_key>",
        "APP_DSN": "postgresql://postgres@127.0.0.1:26257/app",
        "APP_DB_HOST": "127.0.0.1",
        "APP_DB_PORT": "26257",
    }
    assert secrets_named(topology.service_defaults.env) == ["signing_key"]
    assert topology.profile == "tuned"  # default_profile, not the first listed


def test_the_local_runtime_hands_a_kept_secret_and_the_real_link(tmp_path: Path) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(CHAOS_YAML, encoding="utf-8")
    stack = LocalStack(load_topology(config), run_dir=tmp_path / "run", switches={"cache": False})
    env = stack._service_environment("api")
    assert (
        env["APP_SIGNING_KEY"]
        == stack.secret("signing_key")
        == (tmp_path / "run" / "signing_key").read_text()
    )
    assert len(env["APP_SIGNING_KEY"]) >= 32
    assert (env["APP_MODE"], env["APP_FLAGS"]) == ("tuned", "cache=off")
    assert env["APP_DSN"] == f"postgresql://postgres@{stack.topology.link_address('sql')}/app"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{profil}", "unknown placeholder {profil}"),
        ("{link:cache}", "no link named 'cache'"),
        ("{secret:Signing Key}", "a secret's name is lower-case"),
    ],
)
def test_a_bad_placeholder_names_file_line_and_key(tmp_path: Path, value: str, message: str) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(
        CHAOS_YAML.replace('APP_FLAGS: "{switches}"', f'APP_FLAGS: "{value}"'), encoding="utf-8"
    )
    with pytest.raises(ValidationError) as caught:
        load_topology(config)
    text = str(caught.value)
    assert message in text
    assert f"{config}:" in text and "service_defaults.env.APP_FLAGS" in text


def test_a_default_profile_must_be_one_of_the_profiles(tmp_path: Path) -> None:
    config = tmp_path / "chaos.yaml"
    config.write_text(
        CHAOS_YAML.replace("default_profile: tuned", "default_profile: hardened"), encoding="utf-8"
    )
    with pytest.raises(ValidationError, match="default_profile"):
        load_topology(config)
