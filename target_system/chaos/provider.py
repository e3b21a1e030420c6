"""SecureConnect's `provider` injector: an HTTP-level outage of the third-party push API (503, 429, slow,
invalid tokens). A chaosgate plugin of the target (entry point in target_system/pyproject.toml).

It drives the push-provider simulator's control endpoint directly (the service's own port, not the
fault proxy: the proxy link is what push uses, and may itself be under a fault). Verification reads
the mode back, then sends one probe notification and checks the answer shows the failure. The
probe's FCM `data` is `{"chaosgate_probe": <fault id>}`, with no `message_id`, so notification
accounting can tell it from real ones.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import httpx
from pydantic import Field

from chaosgate.errors import FaultError
from chaosgate.injection import FaultEnvironment, HandleData, Injector
from chaosgate.scenario.models import FaultBase

PROVIDER_SERVICE = "push-provider"
SERVER_KEY = "SC_PUSH_SERVER_KEY"  # in the simulator's chaos.yaml env: the key its probe send presents
PROBE_PATH = "/v1/projects/chaosgate/messages:send"
PROBE_TOKEN = "chaosgate-probe"
SLOW_PROBE_WAIT_S = 0.6  # verify a slow mode by the absence of an answer this long (or the whole delay)

EXPECTED_STATUS = {"503": 503, "429": 429, "invalid-tokens": 404}


class ProviderFault(FaultBase):
    """Switch the push-provider simulator's failure mode."""

    injector: Literal["provider"]
    mode: Literal["503", "429", "slow", "invalid-tokens"]
    delay_ms: int = Field(0, ge=0, le=120_000)  # for mode slow
    retry_after_s: int = Field(1, ge=0, le=3600)  # for mode 429


class ProviderInjector(Injector[ProviderFault]):
    """Sets the simulator's failure mode as a layer named by the fault id; `remove` drops that layer."""

    name = "provider"
    fault = ProviderFault

    def __init__(self, env: FaultEnvironment) -> None:
        super().__init__(env)
        service = env.topology.services.get(PROVIDER_SERVICE)
        if service is None:
            raise FaultError(
                f"no {PROVIDER_SERVICE!r} service in {env.topology.source}: nothing to inject into"
            )
        self.base_url = env.topology.service_url(PROVIDER_SERVICE)
        server_key = service.env.get(SERVER_KEY)
        if not server_key:
            raise FaultError(
                f"the provider injector's probe send needs the simulator's server key: set "
                f"services.{PROVIDER_SERVICE}.env.{SERVER_KEY} in {env.topology.source}"
            )
        self._server_key = server_key
        self._http = httpx.Client(base_url=self.base_url, timeout=env.call_timeout_s)

    def close(self) -> None:
        self._http.close()

    def apply(self, spec: ProviderFault, *, fault_id: str) -> HandleData:
        body: dict[str, Any] = {"mode": spec.mode, "id": fault_id}  # a layer: faults compose
        if spec.mode == "slow":
            body["delay_ms"] = spec.delay_ms
        if spec.mode == "429":
            body["retry_after_s"] = spec.retry_after_s
        self._control("POST", "/control/mode", body)
        return {"mode": spec.mode, "fault_id": fault_id}

    def verify(self, spec: ProviderFault, data: HandleData) -> str:
        current = self._control("GET", "/control/mode")
        if current.get("mode") != spec.mode:
            raise FaultError(f"push-provider mode is {current.get('mode')!r}, expected {spec.mode!r}")
        if spec.mode == "slow":
            return self._verify_slow(spec, data)
        try:
            response = self._probe(data, timeout=self.env.call_timeout_s)
        except httpx.HTTPError as exc:
            raise FaultError(f"probe send to push-provider failed: {exc}") from exc
        expected = EXPECTED_STATUS[spec.mode]
        if response.status_code != expected:
            raise FaultError(f"probe send answered {response.status_code}, expected {expected} ({spec.mode})")
        if spec.mode == "429" and response.headers.get("retry-after") != str(spec.retry_after_s):
            raise FaultError(
                f"429 without Retry-After {spec.retry_after_s}: {response.headers.get('retry-after')!r}"
            )
        return f"push-provider mode {spec.mode}: probe send answered {response.status_code}"

    def _verify_slow(self, spec: ProviderFault, data: HandleData) -> str:
        wait = min(SLOW_PROBE_WAIT_S, spec.delay_ms / 1000 * 0.8)
        started = time.monotonic()
        try:
            response = self._probe(data, timeout=wait)
        except httpx.TimeoutException:
            return f"push-provider mode slow ({spec.delay_ms} ms): probe send unanswered after {wait:.2f}s"
        except httpx.HTTPError as exc:
            raise FaultError(f"probe send to push-provider failed: {exc}") from exc
        elapsed = time.monotonic() - started
        raise FaultError(f"push-provider answered {response.status_code} in {elapsed:.2f}s despite mode slow")

    def remove(self, spec: ProviderFault, data: HandleData) -> None:
        # Only this fault's layer: another provider fault still in force stays in force.
        self._control("DELETE", f"/control/mode/{data['fault_id']}")

    def _probe(self, data: HandleData, *, timeout: float) -> httpx.Response:
        body = {
            "message": {
                "token": PROBE_TOKEN,
                "notification": {"title": "chaosgate probe"},
                "data": {"chaosgate_probe": str(data.get("fault_id", ""))},
            }
        }
        headers = {"Authorization": f"Bearer {self._server_key}"}
        return self._http.post(PROBE_PATH, json=body, headers=headers, timeout=timeout)

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise FaultError(
                f"push-provider at {self.base_url} is unreachable ({method} {path}): {exc}"
            ) from exc
        if response.status_code != 200:
            raise FaultError(
                f"push-provider: {method} {path} -> {response.status_code}: {response.text[:200]}"
            )
        answer: dict[str, Any] = response.json()
        return answer
