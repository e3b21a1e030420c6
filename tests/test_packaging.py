"""Installed, chaosgate is one namespace: the wheel holds `chaosgate` (with `chaosgate.injectors` and
`chaosgate.target_system` mapped from the repository's top-level folders) and nothing else."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_puts_only_chaosgate_into_site_packages(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            str(ROOT),
            "-w",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("chaosgate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"chaosgate"}
    assert "chaosgate/injectors/toxiproxy.py" in names
    assert "chaosgate/target_system/__main__.py" in names
    schemas = {f"chaosgate/scenario/{n}.schema.json" for n in ("scenario", "chaos", "result")}
    assert schemas <= set(names)
