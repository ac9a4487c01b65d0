#!/usr/bin/env python3
"""Write the manual page ``ldsim/man/ldsim.1`` from the argument parser of this checkout
(:func:`ldsim.cli.manpage.render`). Run it after changing any command, option or help text;
``tests/test_completion.py`` fails while the shipped page is not current.

    python scripts/gen_manpage.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "ldsim" / "man" / "ldsim.1"
sys.path.insert(0, str(REPO))

from ldsim.cli.main import build_parser  # noqa: E402
from ldsim.cli.manpage import render  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 if the page is not current")
    args = ap.parse_args()
    text = render(build_parser())
    current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else None
    rel = PAGE.relative_to(REPO)
    if text == current:
        print(f"{rel} is current")
        return 0
    if args.check:
        print(f"{rel} is not current: run python scripts/gen_manpage.py", file=sys.stderr)
        return 1
    PAGE.parent.mkdir(exist_ok=True)
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
