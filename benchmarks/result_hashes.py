"""Before/after check for structural changes: SHA-256 of the result files of tiny runs.

Trains every preset (every task x every architecture the presets cover) for two tiny updates,
evaluates it on 8 levels per split, writes every task's scripted baselines, and prints one
SHA-256 per result file. It drives only the `mesaworld` command, so the same script runs on the
commit before a move and on the commit after it; identical output means identical science.

    python benchmarks/result_hashes.py --out /tmp/hashes_new > new.txt
    diff old.txt new.txt

Hashed: episodes.csv, eval_*.npz, agent.pt, train_log.csv without its wall-clock columns
(`time/...`), and agent.json / config.json without the fields that name the moment or machine
(`created`, `versions`, `git_commit`). A subprocess per run; ~3 min on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
from pathlib import Path

TINY = ["--total-steps", "512", "--num-envs", "16", "--num-steps", "16", "--eval-levels", "8"]
VOLATILE = ("created", "versions", "git_commit")


def _presets() -> list[str]:
    """Every preset `mesaworld list` names: on one line ("  presets: a, b") or, in newer
    versions, one per line under "  presets:" ("    a (demo): what it is")."""
    text = subprocess.run(["mesaworld", "list"], capture_output=True, text=True, check=True).stdout
    one_line = re.findall(r"^  presets: ([a-z0-9-]+(?:, [a-z0-9-]+)*)$", text, flags=re.M)
    out = [p for line in one_line for p in line.split(", ")]
    out += re.findall(r"^  presets: ([a-z0-9-]+)(?: \(demo\))?: ", text, flags=re.M)
    return out + re.findall(r"^    ([a-z0-9-]+)(?: \(demo\))?: ", text, flags=re.M)


def _tasks() -> list[str]:
    text = subprocess.run(["mesaworld", "list"], capture_output=True, text=True, check=True).stdout
    return re.findall(r"^(\S+): ", text, flags=re.M)


def _digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "train_log.csv":
        rows = list(csv.reader(io.StringIO(data.decode())))
        keep = [i for i, c in enumerate(rows[0]) if not c.startswith("time/")]
        data = "\n".join(",".join(r[i] for i in keep) for r in rows).encode()
    elif path.suffix == ".json":
        meta = json.loads(data)
        data = json.dumps({k: v for k, v in meta.items() if k not in VOLATILE}, sort_keys=True)
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def _hash_folder(folder: Path, label: str) -> None:
    names = ("episodes.csv", "train_log.csv", "agent.pt", "agent.json", "config.json")
    for path in sorted(folder.iterdir()):
        if path.name in names or (path.name.startswith("eval_") and path.suffix == ".npz"):
            print(f"{label}/{path.name} {_digest(path)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="an empty folder for the runs")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        sys.exit(f"result_hashes: --out {args.out} is not empty")
    args.out.mkdir(parents=True, exist_ok=True)
    for preset in _presets():
        run = args.out / preset
        cmd = ["mesaworld", "train", preset, "--out", str(run), "--quiet", *TINY]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        _hash_folder(run, preset)
    for task in _tasks():
        root = args.out / f"baselines_{task}"
        cmd = ["mesaworld", "baselines", task, "--root", str(root), "--levels", "8"]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            _hash_folder(folder, f"baselines_{task}/{folder.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
