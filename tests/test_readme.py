"""Every command and path in the README is checked: `mesaworld` commands parse with the real
command line and name presets and tasks that exist, folders they read are folders that an earlier
README command writes, scripts and figures exist, and the Python examples run. A slow test runs
the train / eval / baselines / plot commands as written, with the budget made tiny."""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mesaworld.analysis.runfolder import baseline_dir
from mesaworld.envs.registry import get_task
from mesaworld.experiments.cli.main import build_parser, resolve_env_id
from mesaworld.experiments.training.config import presets

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def _commands() -> list[list[str]]:
    """Every shell command in the README's bash blocks, comments dropped, `&&` chains split."""
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            out += [shlex.split(part) for part in line.split("&&")]
    return out


def _outputs(args) -> list[Path]:
    """The folders a README command writes (to check later commands read existing ones)."""
    if args.command == "train":
        cfg = presets()[args.preset]
        knob = cfg.train_knob if args.cfg_knob is None else float(args.cfg_knob)
        seed = cfg.seed if args.cfg_seed is None else int(args.cfg_seed)
        return [
            Path(args.out)
            if args.out
            else Path(args.root) / f"{args.preset}_knob{knob:g}_seed{seed}"
        ]
    if args.command == "sweep":
        return [Path(args.out or f"runs/sweep_{args.preset}")]
    if args.command == "demo":
        return [Path(args.out)]
    if args.command == "baselines":
        names = [p.name for p in get_task(args.task).anchors().by_role().values()] + ["random"]
        return [baseline_dir(args.root, get_task(args.task).name, n) for n in names]
    return []


def test_every_mesaworld_command_in_the_readme_parses_and_reads_what_another_writes():
    written: list[Path] = []
    commands = [c for c in _commands() if c[0] == "mesaworld"]
    assert len(commands) >= 10
    for argv in commands:
        if "--help" in argv:
            with pytest.raises(SystemExit) as exc:
                build_parser(argv[1:]).parse_args(argv[1:])
            assert exc.value.code == 0
            continue
        args = build_parser(argv[1:]).parse_args(argv[1:])  # argparse exits on a bad command
        if getattr(args, "preset", None) is not None:
            assert args.preset in presets(), argv
        if args.command == "baselines" or (
            args.command == "demo" and args.task != "mesa-optimizer"
        ):
            get_task(args.task)
        if args.command == "play":
            resolve_env_id(args.env)
            assert args.level is None or (ROOT / args.level).is_file(), args.level
        written += _outputs(args)
        read = {"plot": "root", "analyze": "path", "eval": "run", "readout": "path"}
        read = read.get(args.command) or ("run" if args.command == "probe" else None)
        if read and getattr(args, read) != "<run>":
            path = Path(getattr(args, read))
            ok = any(w == path or path in w.parents or w in path.parents for w in written)
            assert ok, f"{' '.join(argv)} reads {path}, which no earlier README command writes"


def test_scripts_and_figures_named_in_the_readme_exist():
    for argv in _commands():
        if argv[:2] == ["python", "-m"] and argv[2] != "pytest":
            assert importlib.util.find_spec(argv[2]) is not None, argv[2]
        elif argv[0] == "python" and argv[1].endswith(".py"):
            assert (ROOT / argv[1]).is_file(), argv[1]
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / image).is_file(), image
    for link in re.findall(r"\]\(((?:docs|tests|envs|experiments|analysis)/[^)]+)\)", README):
        assert (ROOT / link).exists(), link


def test_python_examples_import_and_the_quick_start_runs(tmp_path):
    for block in _blocks("python"):
        for line in block.splitlines():
            if line.startswith(("from ", "import ")):
                exec(line.split("#")[0], {})  # every import the README shows works
    quick = _blocks("python")[0]
    assert "gym.make" in quick
    exec(textwrap.dedent(quick), {})


RUN_IN_TURN = """
import json, sys
from mesaworld.experiments.cli.main import main
for argv in json.loads(sys.argv[1]):
    status = main(argv)
    if status != 0:
        sys.exit(f"mesaworld {' '.join(argv)}: exit status {status}")
    print("mesaworld: ran", *argv, flush=True)
"""


@pytest.mark.slow
def test_the_train_eval_baselines_plot_commands_run_as_written(tmp_path):
    tiny = {
        "train": ["--total-steps", "8192", "--eval-levels", "8"],
        "baselines": ["--levels", "8"],
    }
    wanted = ("train", "eval", "baselines", "plot")
    commands = []
    for argv in _commands():
        if argv[0] != "mesaworld" or argv[1] not in wanted or "<run>" in " ".join(argv):
            continue
        if argv[1] == "train" and "--help" in argv:
            continue
        commands.append([*argv[1:], *tiny.get(argv[1], [])])
    # One process runs them in turn (one interpreter start-up, not one per command: ~5 s each
    # beside a busy core); the first failure ends it, naming the command.
    done = subprocess.run([sys.executable, "-c", RUN_IN_TURN, json.dumps(commands)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=1200,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ran = done.stdout.count("mesaworld: ran ")
    assert ran == len(commands), done.stdout[-3000:]
    assert ran >= 4
