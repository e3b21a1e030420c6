"""A chaos.yaml that declares probes, setup and writers for the test shop (shop_app.py), and a probe
context on a real client to run them with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from chaosgate.config import load_topology
from chaosgate.probes.base import ProbeContext
from chaosgate.topology import Topology

AUTH = 'Authorization: "Bearer ${token}"'

SHOP_YAML = f"""\
proxy: {{api_port: 8474}}
services:
  shop: {{port: 18000}}
service_defaults: {{command: ["{{python}}", "-m", "shop"]}}
gateway: shop
probes:
  degraded_header: X-Shop-Degraded
  setup:
    - method: POST
      path: /sessions
      json: {{user: "probe-${{uuid}}"}}
      expect_status: [201]
      capture: {{token: $.token}}
features:
  orders.create:
    depends_on: [shop]
    probe:
      - method: POST
        path: /orders
        headers: {{{AUTH}, X-Request-Id: "${{uuid}}"}}
        json: {{item: "widget", ref: "${{uuid}}", note: "made by ${{uuid}}"}}
        expect_status: [201]
        capture: {{order_id: $.id}}
      - method: GET
        path: /orders/${{order_id}}
        headers: {{{AUTH}}}
        expect_status: [200]
  orders.list:
    depends_on: [shop]
    probe: {{path: /orders, headers: {{{AUTH}}}}}
writers:
  orders:
    covers: [orders.create]
    write:
      method: POST
      path: /orders
      headers: {{{AUTH}}}
      json: {{id: "${{write_id}}", item: ledger}}
      acknowledged: [201]
    read_back: {{path: /orders, headers: {{{AUTH}}}, ids: "$.items[*].id"}}
  orders.each:
    covers: [orders.create]
    write:
      method: POST
      path: /orders
      headers: {{{AUTH}}}
      json: {{id: "${{write_id}}", item: ledger}}
    read_back: {{path: "/orders/${{write_id}}", headers: {{{AUTH}}}, found: [200]}}
"""


def shop_topology(folder: Path, text: str = SHOP_YAML) -> Topology:
    path = folder / "chaos.yaml"
    path.write_text(text)
    return load_topology(path)


@asynccontextmanager
async def context(base_url: str) -> AsyncIterator[ProbeContext]:
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
        yield ProbeContext(base_url, http, timeout_s=2.0)
