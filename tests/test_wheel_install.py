"""A wheel install works as well as the editable one: built from this checkout, installed (no
dependencies: they come from the running environment) into a fresh venv, and used from a folder
with its own `experiments/` and `analysis/`, far from the repository."""

from __future__ import annotations

import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_wheel_installs_and_runs_away_from_the_repository(tmp_path):
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(wheels)]
    subprocess.run(build, check=True, timeout=300)
    (wheel,) = wheels.glob("mesaworld-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    # The dependencies (torch, numpy, ...) come from the environment running the tests.
    Path(purelib, "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    user = tmp_path / "project"
    for name in ("experiments", "analysis", "envs", "agents"):
        (user / name).mkdir(parents=True)
        (user / name / "__init__.py").write_text("raise ImportError('the user project')\n")
    code = (
        "import mesaworld.experiments.cli.main, mesaworld.analysis.labels as l; "
        "from mesaworld.experiments.instruments.registry import INSTRUMENTS; "
        "from mesaworld.agents.registry import ARCHITECTURES; "
        "print(l.__file__); print(sorted(INSTRUMENTS)); print(sorted(ARCHITECTURES))"
    )
    out = subprocess.run([py, "-c", code], cwd=user, capture_output=True, text=True, check=True)
    assert str(env_dir) in out.stdout and str(ROOT) not in out.stdout
    assert "basin" in out.stdout and "planner" in out.stdout
    listed = subprocess.run(
        [env_dir / "bin" / "mesaworld", "list"], cwd=user, capture_output=True, text=True
    )
    assert listed.returncode == 0 and "mesaworld/Roomba-v0" in listed.stdout
