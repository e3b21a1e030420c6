"""Preflight: `chaosgate run --dry-run` prints the plan and checks the stack without touching it, and
every run names each proxy missing on the Toxiproxy before its first scenario. It reads each
writer's read-back once (GET only), so a read-back that cannot see is named before any run; those
tests run against the small test shop (tests/probes/shop_app.py), no SecureConnect stack."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from probes.declared_support import SHOP_YAML
from probes.shop_app import Shop, serving

from chaosgate.config import load_topology
from chaosgate.faults import LEDGER_FILE
from chaosgate.preflight import read_backs
from chaosgate.scenario.loader import load_scenarios
from chaosgate.stack.launcher import LocalStack


def chaosgate(config: Path, stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "chaosgate",
            "run",
            *args,
            "--config",
            str(config),
            "--run-dir",
            str(stack.run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshot(stack: LocalStack) -> tuple[object, dict[str, int | None], bool]:
    proxies = httpx.get(f"{stack.proxy_api_url}/proxies", timeout=5).json()
    pids = {name: stack.pid_of(name) for name in stack.services}
    return proxies, pids, (stack.run_dir / LEDGER_FILE).exists()


def test_dry_run_prints_the_plan_checks_the_stack_and_touches_nothing(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    before = snapshot(running_stack)
    ran = chaosgate(
        stack_config, running_stack, "redis-down", "push-outage", "--dry-run", "--out", str(tmp_path)
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "fault   toxiproxy: proxy=redis, down=True at +0s for 15s" in ran.stdout
    assert "fault   provider: mode=slow, delay_ms=3000" in ran.stdout
    assert "expect  chat.send: served" in ran.stdout
    assert "every link has its proxy" in ran.stdout and "nothing was touched" in ran.stdout
    assert snapshot(running_stack) == before
    assert not list(tmp_path.iterdir()), "a dry run writes no report"


def test_a_link_missing_on_the_toxiproxy_is_named_before_anything_runs(
    running_stack: LocalStack, stack_config: Path, tmp_path: Path
) -> None:
    api = running_stack.proxy_api_url
    removed = {name: httpx.get(f"{api}/proxies/{name}", timeout=5).json() for name in ("objectstore", "push")}
    try:
        for name in removed:  # someone deleted two links from the Toxiproxy
            httpx.delete(f"{api}/proxies/{name}", timeout=5).raise_for_status()
        before = snapshot(running_stack)

        dry = chaosgate(stack_config, running_stack, "objectstore-slow", "--dry-run")
        assert dry.returncode == 3, dry.stdout + dry.stderr
        assert "links.objectstore" in dry.stderr and "links.push" in dry.stderr, "every missing proxy at once"
        assert "scenario objectstore-slow faults[0].proxy" in dry.stderr
        assert "Traceback" not in dry.stderr

        out = tmp_path / "reports"
        run = chaosgate(
            stack_config, running_stack, "objectstore-slow", "--out", str(out), "--load-fraction", "0"
        )
        assert run.returncode == 3, run.stdout + run.stderr
        assert "no proxy named 'objectstore'" in run.stderr and "no proxy named 'push'" in run.stderr
        journal = next(out.glob("*/journal.jsonl")).read_text()
        assert '"scenario_started"' not in journal and '"fault"' not in journal
        assert snapshot(running_stack) == before
    finally:
        for proxy in removed.values():
            body = {k: proxy[k] for k in ("name", "listen", "upstream", "enabled")}
            httpx.post(f"{api}/proxies", json=body, timeout=5)


STATIC = "dry-run-token"  # a token the shop knows already: read-backs that need no setup use it
WRITERS = f"""\
  typo:        # $.ref[*] for the shop's $.refs[*]
    covers: [orders.create]
    write: {{method: POST, path: /orders, json: {{id: "${{write_id}}", item: x}}}}
    read_back: {{path: /orders, headers: {{Authorization: "Bearer {STATIC}"}}, ids: "$.ref[*]"}}
  flat:
    covers: [orders.create]
    write: {{method: POST, path: /orders, json: {{id: "${{write_id}}", item: x}}}}
    read_back: {{path: /orders, headers: {{Authorization: "Bearer {STATIC}"}}, ids: "$.refs[*]"}}
  each:
    covers: [orders.create]
    write: {{method: POST, path: /orders, json: {{id: "${{write_id}}", item: x}}}}
    read_back: {{path: "/orders/${{write_id}}", headers: {{Authorization: "Bearer {STATIC}"}}, found: [200]}}
"""
SCENARIO = """\
name: store-down
title: The shop's store goes away
target: store
faults: [{injector: toxiproxy, proxy: store, down: true, start: 0s, duration: 5s}]
workload: {writers: [typo, flat, each, orders]}
recovery: {target: 5s, timeout: 30s}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shop_project(folder: Path, shop_url: str, proxy_port: int, store_port: int) -> Path:
    """The test shop's chaos.yaml as a running system chaosgate attaches to (`remote:`), with a store
    behind a proxy (for the scenario's fault) and writers whose read-backs need no setup."""
    shop_port = int(shop_url.rsplit(":", 1)[1])
    text = SHOP_YAML.replace(
        "proxy: {api_port: 8474}",
        f"""\
remote: {{host: 127.0.0.1, profile: as-deployed}}
run_dir: {folder / "state"}
proxy: {{api_port: {proxy_port}}}
stores: {{store: {{kind: redis, port: {store_port}}}}}
links: {{store: {{listen: {free_port()}}}}}""",
    )
    text = text.replace("shop: {port: 18000}", f"shop: {{port: {shop_port}, links: [store]}}")
    text = text.replace(
        'service_defaults: {command: ["{python}", "-m", "shop"]}', "service_defaults: {live: /health/live}"
    )
    text = text.replace("writers:\n", "writers:\n" + WRITERS)
    (folder / "scenarios").mkdir()
    (folder / "scenarios" / "store-down.yaml").write_text(SCENARIO)
    config = folder / "chaos.yaml"
    config.write_text(text)
    return config


async def test_the_read_backs_are_read_once_and_nothing_is_written(tmp_path: Path) -> None:
    shop = Shop(tokens={STATIC}, orders={f"old-{n}": {"id": f"old-{n}"} for n in range(3)})
    async with serving(shop) as url:
        config = shop_project(tmp_path, url, free_port(), free_port())
        topology = load_topology(config)
        scenarios = load_scenarios([tmp_path / "scenarios" / "store-down.yaml"], topology)

        found = await read_backs(topology, scenarios, url)

    assert found[0] == "setup: probes.setup not run: it writes (POST /sessions) and a dry run never writes"
    lines = dict(line.split(": ", 1) for line in found[1:])
    assert lines["typo"].startswith("cannot tell: reading back GET /orders: $.ref[*] matches nothing")
    assert "the answer's top-level keys: items, refs" in lines["typo"]
    assert lines["flat"] == "3 ids ($.refs[*] in GET /orders)"
    assert lines["each"].endswith("an id never written reads as missing")
    assert lines["orders"] == "not read: it needs ${token}, which probes.setup captures"
    assert {method for method, *_ in shop.seen} == {"GET"}, "a dry run never writes"


async def test_the_dry_run_prints_what_each_read_back_found(tmp_path: Path) -> None:
    shop = Shop(tokens={STATIC}, orders={"old-1": {"id": "old-1"}})
    proxy_port, store_port = free_port(), free_port()
    async with serving(shop) as url:
        config = shop_project(tmp_path, url, proxy_port, store_port)
        link = load_topology(config).links["store"].listen
        proxies = tmp_path / "proxies.json"
        proxies.write_text(json.dumps([{"name": "store", "listen": f"127.0.0.1:{link}",
                                        "upstream": f"127.0.0.1:{store_port}"}]))  # fmt: skip
        proxy = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chaosgate", "proxy", "serve", "--port", str(proxy_port),
            "--config", str(proxies),
        )  # fmt: skip
        try:
            dry = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "chaosgate", "run", "store-down", "--dry-run", "--config", str(config),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            out = (await asyncio.wait_for(dry.communicate(), timeout=60))[0].decode()
        finally:
            proxy.terminate()
            await proxy.wait()

    assert dry.returncode == 0, out
    assert "nothing was touched" in out
    assert "typo: cannot tell: reading back GET /orders: $.ref[*] matches nothing in the answer" in out
    assert "flat: 1 id ($.refs[*] in GET /orders)" in out
    assert "orders: not read: it needs ${token}" in out
    assert {method for method, *_ in shop.seen} == {"GET"}, "a dry run never writes"
