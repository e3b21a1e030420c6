"""Open-loop load from chaos.yaml's `load.requests`: loaded only by `python -m locust -f <this file>`,
never imported by the harness (Locust monkey-patches its process with gevent on import).

The harness writes the declared requests to a JSON file and names it in CHAOSGATE_LOAD_REQUESTS.
Each Locust user runs `load.setup` once (say, its own account and token; retried by OpenLoopUser
while it fails) and keeps what its steps capture; then every arrival sends one request, drawn by
weight, with the user's values in its `${name}` templates and a fresh `${uuid}`. An answer whose
status is not expected (default: any 2xx) is a Locust failure; a request may capture values too
(the id of the order it created), which the user's next requests use.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chaosgate.load.openloop import OpenLoopUser
from chaosgate.load.plan import ENV_REQUESTS
from chaosgate.probes.jsonpath import JsonPathError
from chaosgate.probes.steps import LoadRequest, RequestStep
from chaosgate.probes.template import TemplateError


def _declared() -> tuple[list[RequestStep], list[LoadRequest]]:
    where = os.environ.get(ENV_REQUESTS, "")
    if not where:
        raise RuntimeError(f"{ENV_REQUESTS} names no file: this locustfile runs chaos.yaml's load.requests")
    data = json.loads(Path(where).read_text())
    setup = [RequestStep.model_validate(step) for step in data.get("setup", [])]
    return setup, [LoadRequest.model_validate(request) for request in data["requests"]]


SETUP, REQUESTS = _declared()


class DeclaredUser(OpenLoopUser):
    """One user of the declared load: its own captured values, one weighted request per arrival."""

    def on_start(self) -> None:
        self.values: dict[str, Any] = {}
        super().on_start()

    def actions(self) -> list[tuple[str, Callable[[Any], None], int]]:
        table: list[tuple[str, Callable[[Any], None], int]] = []
        for request in REQUESTS:
            table.append(
                (request.label, functools.partial(DeclaredUser.arrival, request=request), request.weight)
            )
        return table

    def arrival(self, request: LoadRequest) -> None:
        self.send(request, name=request.label)

    def setup(self) -> bool:
        return all(self.send(step, name=f"setup {step.path}") for step in SETUP)

    def send(self, step: RequestStep, *, name: str) -> bool:
        """One request; True when its status was expected and its captures found."""
        try:
            prepared = step.prepare(self.values)
        except TemplateError as exc:  # captured by another request that has not succeeded yet
            self._fail(step.method, name, exc)
            return False
        body: dict[str, Any] = {}
        if prepared.has_json:
            body["json"] = prepared.json
        elif prepared.content is not None:
            body["data"] = prepared.content
        with self.client.request(
            prepared.method, prepared.path, headers=prepared.headers, name=name, catch_response=True, **body
        ) as answer:
            if not step.expects(answer.status_code):
                answer.failure(f"HTTP {answer.status_code}: {(answer.text or '')[:120]}")
                return False
            if step.capture:
                try:
                    self.values.update(step.captured(answer.json()))
                except (JsonPathError, ValueError) as exc:
                    answer.failure(f"capture failed: {exc}")
                    return False
            answer.success()
            return True
