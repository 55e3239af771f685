"""Every package folder of the project is in pyproject.toml's explicit package list, so a wheel
installs all of it (a new subpackage left out installs fine in editable mode and breaks only
the wheel: the slow wheel test found one, experiments/training/samplers)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("envs", "agents", "analysis", "experiments")


def test_every_package_folder_is_listed():
    text = (ROOT / "pyproject.toml").read_text()  # no tomllib: Python 3.10 is supported
    packages = re.search(r"\npackages = \[(.*?)\]", text, re.S).group(1)
    names = set(re.findall(r'"([\w.]+)"', packages))
    mapping = dict(re.findall(r'^"([\w.]+)" = "([\w/]+)"$', text, re.M))
    assert names == set(mapping)
    folders = {
        init.parent.relative_to(ROOT).as_posix()
        for top in TOP
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    listed = set(mapping.values())
    assert folders == listed, f"not in pyproject.toml: {sorted(folders - listed)}"
