"""The `mesaworld` console script. It imports the command line inside a guard, so that a task
file whose declaration is wrong (found when the registry is imported) is one line, exit 2."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from mesaworld.experiments.cli.main import (
            main as cli_main,  # imports the registry: validates tasks
        )
    except ValueError as e:  # TaskSpecError and LevelError are ValueErrors
        print(f"mesaworld: error: {e}", file=sys.stderr)
        return 2
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
