"""Forwarding HTTP requests to a backend over pooled keep-alive clients, behind breaker and timeouts.

The client is aiohttp's: measured on this stack, httpx's connection pool costs far more CPU per request
(its pool scans every connection on every request), which capped the gateway well below the target.

- PROXY_TIMEOUTS on: a backend call (connect, send, the whole answer) is bounded by `proxy_timeout`;
  running out answers 504 `backend_timeout` and counts `gateway_backend_timeouts_total{backend}`.
  Off: no bound at all: a hung backend hangs the client, as the reports found it.
- CIRCUIT_BREAKER on: one breaker per backend; 5xx answers, timeouts and connection errors count as
  failures; while open the gateway answers 503 `circuit_open` without calling the backend. A 4xx is
  the client's fault and counts as a success (the backend answered): malformed requests, however many,
  never open a breaker for everyone else; the services answer every malformed input with a 4xx.
  A backend's own 503 is no verdict either way: the backend is alive and refusing cleanly for one of
  its dependencies (auth's SQL pool full), and opening its breaker would refuse its routes that need
  no such dependency (a refresh, which lives in Redis): measured in cockroach-slow, where counting it
  turned auth.refresh into collateral damage.
- A backend that cannot be reached answers 503 `backend_unavailable` (a clean refusal) with the
  breaker fix; without it, a reverse proxy's plain 502 `bad_gateway`, as the reports found.
- GATEWAY_BULKHEADS (`pools.py`) off: every backend's calls share ONE pool of 100 connections,
  first come first served: httpx's default pool (`Limits(max_connections=100)`, idle connections
  included), the cap a Python gateway gets when nobody chooses one (aiohttp's `TCPConnector()` has
  the same 100 but counts only busy connections; `pools.py` says why that is not enough).
  A backend that answers slowly (storage waiting on a slow object store, with no proxy timeout to
  let go) keeps its connections; under load it takes all 100, and every other backend's
  calls (logins, chat, calls) wait behind it though they never touch the slow store: a cascade
  through a shared bounded resource. On: one pool of 100 per backend (a bulkhead), so a slow backend
  queues only its own calls; with PROXY_TIMEOUTS on, the wait for a connection counts against the
  timeout like a slow answer.
  The reports' gateway is Go's `httputil.ReverseProxy` on `http.DefaultTransport`, whose
  `MaxConnsPerHost` is 0 (unlimited): the seeds state no shared cap. The shared pool is a realistic
  library default, chosen to show a cascade through a shared resource, not something the reports found.
- `gateway_backend_in_flight{backend}` gauges the calls waiting on each backend (or on its pool).

Methods, raw paths, headers (less hop-by-hop ones) and bodies pass through unchanged, both ways.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import quote

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope
from yarl import URL

from target_system.common.errors import BadGateway, GatewayTimeout, Unavailable
from target_system.common.metrics import ServiceMetrics
from target_system.gateway.breaker import CircuitBreaker
from target_system.gateway.pools import ConnectionPools
from target_system.gateway.routes import Backend
from target_system.settings import Settings
from target_system.switches import Switch

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)


def raw_path(scope: Scope) -> str:
    """The path as the client sent it, still percent-encoded: relayed as is.

    The decoded `path` must not be relayed: `%00` or `%0d%0a` would become raw bytes in the backend's
    request line (a 500 at best, a header injection at worst), and `%2F` or `%3F` would change its meaning.
    """
    raw = scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return raw.decode("latin-1")
    return quote(scope["path"], safe="/:@!$&'()*+,;=-._~")


class BackendUnavailable(Unavailable):
    CODE = "backend_unavailable"
    MESSAGE = "backend is unavailable"


class BackendUnreachable(BadGateway):
    """The unfixed gateway's answer to a backend it cannot reach: a reverse proxy's plain 502 (as
    Go's httputil.ReverseProxy gives and the reports found), not the breaker's clean 503."""

    CODE = "bad_gateway"
    MESSAGE = "backend could not be reached"


class Forwarder:
    """Sends requests to backends; owns the pooled HTTP clients and the breakers."""

    def __init__(self, settings: Settings, metrics: ServiceMetrics, backends: Mapping[str, Backend]) -> None:
        tun = settings.tunables
        self.backends = dict(backends)
        self.timeout: float | None = (
            tun.proxy_timeout if settings.switches.on(Switch.PROXY_TIMEOUTS) else None
        )
        self.breakers: dict[str, CircuitBreaker] = {}
        # With the breaker fix the gateway refuses cleanly (503); without it, a plain 502.
        self._refusal: type[BackendUnavailable | BackendUnreachable] = (
            BackendUnavailable if settings.switches.on(Switch.CIRCUIT_BREAKER) else BackendUnreachable
        )
        if settings.switches.on(Switch.CIRCUIT_BREAKER):
            self.breakers = {
                name: CircuitBreaker(
                    name, fail_max=tun.breaker_fail_max, reset_timeout=tun.breaker_reset, metrics=metrics
                )
                for name in backends
            }
        self._timeouts = metrics.counter(
            "gateway_backend_timeouts_total", "Backend calls that ran out of time", ("service", "backend")
        )
        self._unreachable = metrics.counter(
            "gateway_backend_unavailable_total",
            "Backend calls that could not connect",
            ("service", "backend"),
        )
        self._in_flight = metrics.gauge(
            "gateway_backend_in_flight",
            "Backend calls started and not yet answered (waiting for a connection included)",
            ("service", "backend"),
        )
        self._service = metrics.service
        self.pools = ConnectionPools(
            backends, metrics, bulkheads=settings.switches.on(Switch.GATEWAY_BULKHEADS)
        )

    async def start(self) -> None:
        """Open the pools (in the app's lifespan, so they live on the server's loop)."""
        await self.pools.start()

    async def close(self) -> None:
        await self.pools.close()

    async def forward(self, backend: Backend, request: Request) -> Response:
        """The backend's answer to `request`, or a JSON error (503/504)."""
        breaker = self.breakers.get(backend.name)
        if breaker is not None:
            breaker.before_call()
        healthy: bool | None = None
        try:
            response = await self._send(backend, request)
            if response.status_code != 503:  # a clean refusal of its own: no verdict (see above)
                healthy = response.status_code < 500
            return response
        except (GatewayTimeout, BackendUnavailable, BackendUnreachable):
            healthy = False
            raise
        finally:
            if breaker is not None:
                if healthy is None:
                    breaker.release()  # cancelled (client gone) or a bug: no verdict on the backend
                elif healthy:
                    breaker.record_success()
                else:
                    breaker.record_failure()

    async def _send(self, backend: Backend, request: Request) -> Response:
        body = await request.body()
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.scope["headers"]
            if k not in HOP_BY_HOP
        ]
        if request.client is not None:
            headers.append(("x-forwarded-for", request.client.host))
        query = request.scope.get("query_string", b"")
        url = backend.base_url + raw_path(request.scope) + ("?" + query.decode("latin-1") if query else "")
        in_flight = self._in_flight.labels(self._service, backend.name)
        in_flight.inc()
        try:
            # The bound covers the wait for a pooled connection too: a queued call times out like a slow one.
            if self.timeout is None:
                return await self._exchange(backend, request.method, url, headers, body)
            async with asyncio.timeout(self.timeout):
                return await self._exchange(backend, request.method, url, headers, body)
        except TimeoutError as exc:
            self._timeouts.labels(self._service, backend.name).inc()
            raise GatewayTimeout(
                f"backend {backend.name!r} did not answer within {self.timeout}s", code="backend_timeout"
            ) from exc
        except aiohttp.ClientError as exc:
            self._unreachable.labels(self._service, backend.name).inc()
            raise self._refusal(f"backend {backend.name!r}: {type(exc).__name__}") from exc
        finally:
            in_flight.dec()

    async def _exchange(
        self, backend: Backend, method: str, url: str, headers: list[tuple[str, str]], body: bytes
    ) -> Response:
        async with (
            self.pools.session(backend.name) as session,
            session.request(
                method, URL(url, encoded=True), headers=headers, data=body or None, allow_redirects=False
            ) as answer,
        ):
            content = await answer.read()
            response = Response(content=content, status_code=answer.status)
            response.raw_headers = [
                *((k, v) for k, v in answer.raw_headers if k.lower() not in HOP_BY_HOP),
                (b"content-length", str(len(content)).encode()),
            ]
            return response

    async def backend_live(self, backend: Backend) -> None:
        """Ready check: the backend's `/health/live` answers 200 (bounded by the health check timeout)."""
        async with (
            self.pools.session(backend.name) as session,
            session.get(backend.base_url + "/health/live") as answer,
        ):
            if answer.status != 200:
                raise RuntimeError(f"{backend.name} /health/live answered {answer.status}")
