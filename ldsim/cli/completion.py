"""``ldsim completion``: (being written)."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    pass


__all__ = ["add_parser"]
