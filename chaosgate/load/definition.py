"""What load a run offers: the target's own locustfile, or chaos.yaml's declared `load.requests` run
by chaosgate's generic locustfile (chaosgate/load/requests_locustfile.py) from a JSON file."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chaosgate.load.plan import ENV_REQUESTS

if TYPE_CHECKING:
    from chaosgate.topology import LoadSettings

REQUESTS_LOCUSTFILE = Path(__file__).with_name("requests_locustfile.py")


@dataclass(frozen=True)
class LoadDefinition:
    """The locustfile Locust runs, what it reads from the environment, and what identifies the load
    (a different load has a different capacity)."""

    locustfile: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    fingerprint: bytes = b""


def load_definition(spec: LoadSettings, *, config_dir: Path, state_dir: Path) -> LoadDefinition:
    """`spec.locustfile` (relative to `config_dir`), or `spec.requests` written as JSON into
    `state_dir` for the generic locustfile."""
    if spec.locustfile is not None:
        locustfile = (config_dir / spec.locustfile).resolve()
        return LoadDefinition(locustfile=locustfile, fingerprint=locustfile.read_bytes())
    payload = json.dumps(
        {
            "setup": [step.model_dump(mode="json", by_alias=True) for step in spec.setup],
            "requests": [request.model_dump(mode="json", by_alias=True) for request in spec.requests],
        },
        sort_keys=True,
    ).encode()
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"load-requests-{hashlib.sha256(payload).hexdigest()[:12]}.json"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(payload)
    temporary.replace(path)  # a Locust process never reads half a file
    return LoadDefinition(
        locustfile=REQUESTS_LOCUSTFILE,
        environment={ENV_REQUESTS: str(path)},
        fingerprint=payload + REQUESTS_LOCUSTFILE.read_bytes(),
    )
