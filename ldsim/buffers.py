"""The bytes of a file as ldsim holds them: read into memory, or memory-mapped.

Views (``ldsim.fs``) hand out file contents as a :data:`Buffer`; the ELF layer
(``ldsim.elf``) parses any :data:`Buffer` without knowing where it came from.
"""

from __future__ import annotations

import mmap

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeAlias


Buffer: TypeAlias = bytes | bytearray | memoryview | mmap.mmap

__all__ = ["Buffer"]
