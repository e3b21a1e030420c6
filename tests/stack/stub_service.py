"""A stand-in service for launcher tests: answers 200 on every path and records the env it got."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: the log is for errors
        pass


def main() -> None:
    name = sys.argv[1]
    env = {key: value for key, value in os.environ.items() if key.startswith(("SC_", "CHAOSGATE_"))}
    Path(os.environ["SC_RUN_DIR"], f"env-{name}.json").write_text(json.dumps(env), encoding="utf-8")
    ThreadingHTTPServer((os.environ["SC_HOST"], int(os.environ["SC_PORT"])), Health).serve_forever()


if __name__ == "__main__":
    main()
