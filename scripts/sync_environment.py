"""Write environment.yml (for conda users) from requirements.lock, with the same pins.

Run by `make lock`; tests/test_environment.py fails when the two files drift apart.
Only the packages that the lock selects for Linux and Python 3.11 are listed.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trustlib.run.environment import locked_pins  # noqa: E402


def main() -> int:
    pins = locked_pins(ROOT / "requirements.lock")
    lines = ["# Conda environment with the same pins as requirements.lock (written by scripts/sync_environment.py).",
             "# conda env create -f environment.yml && conda activate trustlib && pip install --no-deps -e .",
             "name: trustlib", "channels:", "  - conda-forge", "dependencies:", "  - python=3.11", "  - pip",
             "  - pip:"]
    lines += [f"      - {name}=={version}" for name, version in sorted(pins.items())]
    (ROOT / "environment.yml").write_text("\n".join(lines) + "\n")
    print(f"environment.yml: {len(pins)} pinned packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
