"""`chaosgate proxy serve` as a process: signals, exit codes, the config file and its errors."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from chaosgate.cli import cli

from .kit import connect, free_port, recv_exactly


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "chaosgate", "proxy", "serve", *args]


def wait_for_api(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/version", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("the API did not come up")


@contextmanager
def running(*args: str, port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        serve_command("--port", str(port), *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_api(port, proc)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_server_cleanly(signum: int, echo_port: int) -> None:
    port = free_port()
    with running(port=port) as proc:
        proxy = httpx.post(
            f"http://127.0.0.1:{port}/proxies",
            json={"name": "sig", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
        ).json()
        proxy_port = int(proxy["listen"].rsplit(":", 1)[1])
        client = connect(proxy_port)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=10)
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr
        with pytest.raises(ConnectionRefusedError):
            connect(port, timeout=1)
        with pytest.raises(ConnectionRefusedError):
            connect(proxy_port, timeout=1)
        client.settimeout(2)
        with suppress(ConnectionResetError):
            assert client.recv(10) == b""
        client.close()


def test_api_port_in_use_exits_3_with_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            serve_command("--port", str(port)), capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(port) in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", ("JSON",)),
        ('{"name": "x"}', ("array",)),
        ('[{"name": "x"}]', ("upstream", "[0]")),
        ('[{"name": "x", "upstream": "127.0.0.1:1", "listen": "10.1.2.3:5"}]', ("loopback", "[0]")),
        ('[{"name": "x", "upstream": "10.1.2.3:5"}]', ("10.1.2.3:5", "--upstream-allow", "[0]")),
    ],
)
def test_bad_config_exits_2_naming_the_file(tmp_path: Path, content: str, words: tuple[str, ...]) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(content)
    result = subprocess.run(
        serve_command("--port", str(free_port()), "--config", str(config)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "proxies.json" in lines[0]
    for word in words:
        assert word in lines[0]


def test_missing_config_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        serve_command("--port", str(free_port()), "--config", str(tmp_path / "absent.json")),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "absent.json" in result.stderr


def test_remote_api_host_needs_allow_remote() -> None:
    result = subprocess.run(
        serve_command("--host", "0.0.0.0", "--port", str(free_port())),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--allow-remote" in result.stderr


def test_upstream_allow_lets_config_proxies_lead_elsewhere(tmp_path: Path) -> None:
    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "db", "listen": "127.0.0.1:0", "upstream": "db.internal:5432"}]))
    port = free_port()
    with running("--config", str(config), "--upstream-allow", "db.internal", port=port):
        assert httpx.get(f"http://127.0.0.1:{port}/proxies").json()["db"]["upstream"] == "db.internal:5432"


def test_an_upstream_allow_entry_with_a_port_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["proxy", "serve", "--upstream-allow", "redis:6379"])
    assert result.exit_code == 2
    assert "--upstream-allow" in result.output
    assert "without a port" in result.output


def test_the_help_says_what_allow_remote_risks() -> None:
    result = CliRunner().invoke(cli, ["proxy", "serve", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "no authentication" in text
    assert "--upstream-allow" in text


def test_config_proxies_are_created_at_start(tmp_path: Path, echo_port: int) -> None:
    listen = free_port()
    config = tmp_path / "proxies.json"
    config.write_text(
        json.dumps([{"name": "cfg", "listen": f"127.0.0.1:{listen}", "upstream": f"127.0.0.1:{echo_port}"}])
    )
    port = free_port()
    with running("--config", str(config), port=port) as proc:
        listing = httpx.get(f"http://127.0.0.1:{port}/proxies").json()
        assert listing["cfg"]["listen"] == f"127.0.0.1:{listen}"
        with connect(listen) as sock:
            sock.sendall(b"configured")
            assert recv_exactly(sock, 10) == b"configured"
        proc.terminate()
        proc.communicate(timeout=10)
        assert proc.returncode == 0


def test_the_serve_process_freezes_its_startup_objects() -> None:
    """Once it listens, `proxy serve` has moved its startup objects out of the collector's sight."""
    watcher = (
        "import gc, os, signal, sys, threading, time\n"
        "def watch():\n"
        "    deadline = time.monotonic() + 20\n"
        "    while gc.get_freeze_count() == 0 and time.monotonic() < deadline:\n"
        "        time.sleep(0.02)\n"
        "    print(gc.get_freeze_count(), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGTERM)\n"
        "threading.Thread(target=watch, daemon=True).start()\n"
        "from chaosgate.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", watcher, "proxy", "serve", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "API listening" in result.stderr
    assert int(result.stdout) > 10_000  # imports, models and the API: tens of thousands of objects
