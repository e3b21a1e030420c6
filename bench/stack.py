"""Benchmark of the local stack: cold start, chat.send and auth.login throughput and p95, total RSS.

    .venv/bin/python bench/stack.py [--seconds 10] [--clients 20] [--profile hardened] [--port-offset 0]

Brings a fresh stack up in a temp run dir (cold: initdb included), registers users, logs them in,
creates conversations, then hammers each feature through the gateway for a fixed time with N
concurrent clients. Prints a table and PASS/FAIL against the targets; exits 1 if any target fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaosgate.config import load_topology
from chaosgate.stack.launcher import LocalStack

ROOT = Path(__file__).resolve().parent.parent

COLD_START_TARGET_S = 15.0
CHAT_SEND_TARGET_RPS = 300.0
CHAT_SEND_TARGET_P95_MS = 100.0
RSS_TARGET_BYTES = int(1.5 * 2**30)


@dataclass
class Sample:
    """Latencies (seconds) of successful requests and the count of failed ones in one phase."""

    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


class Response:
    """The little of an HTTP response the bench needs."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.body = body

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.body)

    def raise_for_status(self) -> None:
        if not self.is_success:
            raise RuntimeError(f"HTTP {self.status_code}: {self.body[:300]!r}")


class Connection:
    """One keep-alive HTTP/1.1 connection. The bench's own client: httpx's async pool slows down
    sharply with concurrency (about 450 req/s with 1 client, 150 with 20 against a trivial server),
    which would measure the client instead of the stack."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        parsed = urlsplit(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, *, json_body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        try:
            return await asyncio.wait_for(self._request(method, path, json_body, headers or {}), self.timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()  # a broken or timed-out connection is not reused
            raise

    async def _request(self, method: str, path: str, json_body: Any, headers: dict[str, str]) -> Response:
        if self._writer is None or self._reader is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        body = b"" if json_body is None else json.dumps(json_body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        if json_body is not None:
            head.append("Content-Type: application/json")
        head += [f"{key}: {value}" for key, value in headers.items()]
        self._writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await self._writer.drain()
        status_line, *lines = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            data = b""
            while size := int((await self._reader.readuntil(b"\r\n")).strip(), 16):
                data += await self._reader.readexactly(size + 2)
                data = data[:-2]
            await self._reader.readuntil(b"\r\n")
        else:
            data = await self._reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return Response(int(status_line.split()[1]), data)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


@dataclass(frozen=True)
class Client:
    user_id: str
    email: str
    password: str
    token: str
    conversation: str


async def setup_clients(http: Connection, count: int) -> list[Client]:
    """Register and log in `count` users; each gets a conversation with the next user."""
    run = uuid.uuid4().hex[:8]
    users: list[tuple[str, str, str]] = []
    for i in range(count):
        email, password = f"bench-{run}-{i}@example.com", f"pw-{run}-{i}-long-enough"
        registered = await http.request(
            "POST",
            "/v1/auth/register",
            json_body={"email": email, "password": password, "display_name": f"Bench {i}"},
        )
        registered.raise_for_status()
        users.append((registered.json()["id"], email, password))
    clients: list[Client] = []
    for i, (user_id, email, password) in enumerate(users):
        login = await http.request("POST", "/v1/auth/login", json_body={"email": email, "password": password})
        login.raise_for_status()
        token = login.json()["access_token"]
        peer = users[(i + 1) % count][0]
        created = await http.request(
            "POST",
            "/v1/chat/conversations",
            json_body={"members": [user_id, peer], "title": f"bench {i}"},
            headers={"Authorization": f"Bearer {token}"},
        )
        created.raise_for_status()
        clients.append(Client(user_id, email, password, token, created.json()["id"]))
    return clients


async def hammer(
    base_url: str,
    clients: list[Client],
    seconds: float,
    request: Callable[[Connection, Client, int], Awaitable[Response]],
) -> Sample:
    """Each client sends requests back to back on its own connection for `seconds` (bounded)."""
    sample = Sample()
    stop = time.monotonic() + seconds

    async def worker(client: Client) -> None:
        connection = Connection(base_url)
        n = 0
        try:
            while time.monotonic() < stop:
                n += 1
                began = time.perf_counter()
                try:
                    response = await request(connection, client, n)
                    key = str(response.status_code)
                    if response.is_success:
                        sample.latencies.append(time.perf_counter() - began)
                    else:
                        sample.failures += 1
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    key = type(exc).__name__
                    sample.failures += 1
                sample.statuses[key] = sample.statuses.get(key, 0) + 1
        finally:
            await connection.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(client) for client in clients))
    sample.elapsed = time.monotonic() - started
    return sample


async def send_message(http: Connection, client: Client, n: int) -> Response:
    return await http.request(
        "POST",
        f"/v1/chat/conversations/{client.conversation}/messages",
        json_body={"body": f"message {n}", "idempotency_key": f"{client.user_id}-{n}-{uuid.uuid4().hex[:6]}"},
        headers={"Authorization": f"Bearer {client.token}"},
    )


async def login(http: Connection, client: Client, n: int) -> Response:
    return await http.request(
        "POST", "/v1/auth/login", json_body={"email": client.email, "password": client.password}
    )


async def workload(gateway: str, clients: int, seconds: float) -> dict[str, Sample]:
    setup = Connection(gateway, timeout=30.0)
    try:
        prepared = await setup_clients(setup, clients)
    finally:
        await setup.close()
    await hammer(gateway, prepared, 1.0, send_message)  # warm-up: pools and caches fill
    return {
        "chat.send": await hammer(gateway, prepared, seconds, send_message),
        "auth.login": await hammer(gateway, prepared, seconds, login),
    }


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


Row = tuple[str, str, str, str]  # metric, value, target, PASS | FAIL | -


def main() -> int:
    args = _arguments()
    topology = load_topology(args.config)
    if args.port_offset:
        topology = topology.with_port_offset(args.port_offset)
    run_dir = Path(tempfile.mkdtemp(prefix="chaosgate-bench-"))
    stack = LocalStack(topology, run_dir=run_dir, profile=args.profile)
    try:
        rows, statuses = _measure(stack, clients=args.clients, seconds=args.seconds)
    finally:
        stack.down()
        shutil.rmtree(run_dir, ignore_errors=True)
    failed = any(result == "FAIL" for *_, result in rows)
    print(f"chaosgate stack bench: profile {args.profile}, {args.clients} clients, {args.seconds:.0f} s each")
    width = max(len(r[0]) for r in rows)
    print(f"{'metric':<{width}}  {'value':>12}  {'target':>12}  result")
    for name, value, target, result in rows:
        print(f"{name:<{width}}  {value:>12}  {target:>12}  {result}")
    print(f"responses: {statuses}")
    print("OVERALL:", verdict(not failed))
    return 1 if failed else 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="hammer time per feature")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--profile", choices=("baseline", "hardened"), default="hardened")
    parser.add_argument("--port-offset", type=int, default=0, help="move every port (beside a dev stack)")
    parser.add_argument("--config", type=Path, default=ROOT / "chaos.yaml")
    return parser.parse_args()


def _measure(
    stack: LocalStack, *, clients: int, seconds: float
) -> tuple[list[Row], dict[str, dict[str, int]]]:
    """Cold start, the two features' throughput and p95, and the stack's RSS, as rows of the table;
    with the answers' statuses per feature."""
    began = time.monotonic()
    stack.up()
    cold = time.monotonic() - began
    rows: list[Row] = [
        (
            "cold start to all healthy",
            f"{cold:.2f} s",
            f"<= {COLD_START_TARGET_S:.0f} s",
            verdict(cold <= COLD_START_TARGET_S),
        )
    ]
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    samples = asyncio.run(workload(stack.gateway_url, clients, seconds))
    rss = stack.rss_bytes()
    rows += _chat_rows(samples["chat.send"])
    auth = samples["auth.login"]
    rows.append(("auth.login req/s", f"{auth.rps:.0f}", "(no target)", "-"))
    rows.append(("auth.login p95", f"{auth.percentile(95) * 1000:.1f} ms", "(no target)", "-"))
    rows.append(("auth.login failures", f"{auth.failures}", "(no target)", "-"))
    rows.append(
        (
            "stack RSS (all processes)",
            f"{rss / 2**20:.0f} MiB",
            f"<= {RSS_TARGET_BYTES / 2**30:.1f} GiB",
            verdict(rss <= RSS_TARGET_BYTES),
        )
    )
    return rows, {name: s.statuses for name, s in samples.items()}


def _chat_rows(chat: Sample) -> list[Row]:
    """chat.send against its targets: throughput, p95 and no failures."""
    p95_ms = chat.percentile(95) * 1000
    return [
        (
            "chat.send req/s",
            f"{chat.rps:.0f}",
            f">= {CHAT_SEND_TARGET_RPS:.0f}",
            verdict(chat.rps >= CHAT_SEND_TARGET_RPS),
        ),
        (
            "chat.send p95",
            f"{p95_ms:.1f} ms",
            f"<= {CHAT_SEND_TARGET_P95_MS:.0f} ms",
            verdict(p95_ms <= CHAT_SEND_TARGET_P95_MS),
        ),
        ("chat.send failures", f"{chat.failures}", "0", verdict(not chat.failures)),
    ]


if __name__ == "__main__":
    sys.exit(main())
