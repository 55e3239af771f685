"""A task's documentation cannot go stale: what its SPEC declares (registered ids, objectives and
which one is the reward, the knob, horizon, baselines, presets) is generated from SPEC at
registration (`mesaworld.envs.registry.describe`) and printed by `mesaworld list`; the hand-written
docstrings of a task file say only what SPEC cannot. A copied task file documents its own ids."""

import ast
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

from mesaworld.envs import tasks as task_package
from mesaworld.envs.registry import (
    DOC_MARK,
    NAMESPACE,
    TASKS,
    describe,
    env_ids,
    register_module,
    spec_rows,
    unregister_task,
)
from mesaworld.experiments.cli.main import main

TASK_DIR = Path(task_package.__file__).parent
TASK_FILES = sorted(p for p in TASK_DIR.glob("*.py") if p.name != "__init__.py")
SPEC_OF = {
    spec.task_cls.__module__.rsplit(".", 1)[-1]: spec
    for spec in TASKS.values()
    if spec.task_cls.__module__.startswith("mesaworld.envs.tasks.")
}
ANY_ID = re.compile(rf"{NAMESPACE}/[A-Za-z0-9]+(-[A-Za-z]+)?-v\d")


def hand_written(path: Path) -> list[tuple[str, str]]:
    """(where, text) of every docstring in a task file's source: what a person wrote."""
    tree = ast.parse(path.read_text())
    nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef)]
    out = []
    for node in nodes:
        doc = ast.get_docstring(node, clean=True)
        if doc:
            where = f"{path.name}:{getattr(node, 'lineno', 1)} ({getattr(node, 'name', 'module')})"
            out.append((where, doc))
    return out


def spec_owned_statements(doc: str, spec) -> list[str]:
    """The lines of a hand-written docstring that state what `spec` declares."""
    shift = spec.shift
    knobs = {shift.knob_name} | ({shift.knob} if len(shift.knob) > 2 else set())
    knob_def = re.compile(
        rf"^\s*`?({'|'.join(map(re.escape, knobs))})`?\s*[:,=]"  # a knob line: `name: ...`
        rf"|`?({'|'.join(map(re.escape, knobs))})`?\s*(=|\(\s*[0-9.])"  # name = 0.5, name (0.8)
    )
    bad = []
    for line in doc.splitlines():
        if re.match(r"^\s*(Registered ids|Knob|Presets)\s*:", line):
            bad.append(f"a {line.strip()!r} section (SPEC's: generated at registration)")
        elif ANY_ID.search(line):
            bad.append(f"a registered id: {line.strip()!r}")
        elif knob_def.search(line):
            bad.append(f"the knob: {line.strip()!r}")
        elif "(= reward)" in line:
            bad.append(f"which objective is the reward: {line.strip()!r}")
    return bad


def test_every_task_file_is_a_registered_task():
    assert {p.stem for p in TASK_FILES} == set(SPEC_OF)


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: p.stem)
def test_hand_written_docstrings_do_not_repeat_the_spec(path):
    spec = SPEC_OF[path.stem]
    problems = [
        f"{where}: states {what}"
        for where, doc in hand_written(path)
        for what in spec_owned_statements(doc, spec)
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", TASK_FILES, ids=lambda p: p.stem)
def test_the_hand_written_objectives_are_the_specs(path):
    # The meanings of the objectives are hand-written (SPEC cannot know them); their names must
    # be SPEC's, so a copy that renames an objective fails here instead of going stale.
    spec = SPEC_OF[path.stem]
    doc = inspect.cleandoc(
        next(d for w, d in hand_written(path) if f"({spec.task_cls.__name__})" in w)
    )
    section = re.search(r"^Objectives[^\n]*:\n((?:    .*\n?)+)", doc, re.M)
    assert section, f"{path.name}: {spec.task_cls.__name__} documents no Objectives section"
    named = re.findall(r"^    ([a-z_]+)\s{2,}\S", section.group(1), re.M)
    assert tuple(named) == spec.objectives, f"{path.name}: documents {named}"


def test_the_generated_docs_state_the_spec(capsys):
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    for spec in TASKS.values():
        module = sys.modules[spec.task_cls.__module__]
        section = describe(spec)
        for doc in (inspect.getdoc(spec.task_cls), inspect.cleandoc(module.__doc__)):
            assert doc.count(DOC_MARK) == 1 and doc.endswith(section.rstrip("\n"))
            assert all(i in doc for i in env_ids(spec.name))
        assert f"{spec.name}: {', '.join(env_ids(spec.name))}" in listed
        for heading, lines in spec_rows(spec):  # `mesaworld list` prints the same rows
            assert heading == "Registered ids" or all(line in listed for line in lines)
        knob = f"{spec.shift.knob_name}, {spec.shift.knob_range[0]:g} to"
        assert knob in section and spec.shift.knob_doc in section.replace("\n        ", " ")


def test_a_copied_task_file_documents_its_own_ids(tmp_path):
    # Copy lava.py as a new task: a new name, id and preset, the hand-written text unchanged.
    source = (TASK_DIR / "lava.py").read_text()
    for old, new in (('name = "lava"', 'name = "lava-copy"'), ('name="lava"', 'name="lava-copy"'),
                     ('id_name="Lava"', 'id_name="LavaCopy"'), ('Preset("lava"', 'Preset("lava-copy"')):  # fmt: skip
        assert source.count(old) == 1, old
        source = source.replace(old, new)
    path = tmp_path / "lava_copy.py"
    path.write_text(source)
    loader = importlib.util.spec_from_file_location("lava_copy", path)
    module = importlib.util.module_from_spec(loader)
    sys.modules["lava_copy"] = module
    try:
        loader.loader.exec_module(module)
        register_module(module)
        try:
            for doc in (module.__doc__, module.Lava.__doc__):
                assert "mesaworld/LavaCopy-v0" in doc and "mesaworld/LavaCopy-Deploy-v0" in doc
                assert "mesaworld/Lava-v0" not in doc and doc.count(DOC_MARK) == 1
                assert "lava-copy (demo): one 7x9 training map" in doc
            original = sys.modules[TASKS["lava"].task_cls.__module__]
            assert "LavaCopy" not in original.__doc__ + TASKS["lava"].task_cls.__doc__
            assert "mesaworld/Lava-v0" in original.__doc__
            before = module.__doc__, module.Lava.__doc__
            unregister_task("lava-copy")
            register_module(module)  # registering again replaces the generated section
            assert (module.__doc__, module.Lava.__doc__) == before
        finally:
            unregister_task("lava-copy")
    finally:
        del sys.modules["lava_copy"]
