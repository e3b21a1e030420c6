"""The default open-loop load: GET one path (CHAOSGATE_LOAD_PATH, "/" unless set) at the plan's rate.

Loaded only by `python -m locust -f <this file>`, never imported by the harness. A target's own
locustfile (`load.locustfile` in chaos.yaml) subclasses chaosgate.load.openloop.OpenLoopUser the same
way, with an action per feature; chaos.yaml's `load.requests` run through requests_locustfile.py.
"""

from __future__ import annotations

import os

from chaosgate.load.openloop import OpenLoopUser, action

PATH = os.environ.get("CHAOSGATE_LOAD_PATH", "/")


class DefaultUser(OpenLoopUser):
    @action(1)
    def get(self) -> None:
        self.client.get(PATH, name=PATH)
