"""The loader's default directories are found by searching near the first "/\\0/" only: the
same first run as a search of the whole file, on real loaders and on made-up data."""

from __future__ import annotations

import glob
import random

import pytest

from ldsim.config import loader_profile
from ldsim.config.loader_profile import _DIR_RUN, glibc_profile_from_bytes


def _whole_file_dirs(data: bytes) -> tuple[str, ...]:
    m = _DIR_RUN.search(data)
    if not m:
        return ()
    return tuple(s.decode().rstrip("/") or "/" for s in m.group(1).split(b"\x00") if s)


LOADERS = sorted({p for pattern in ("/lib64/ld-linux-*.so*", "/lib/ld-linux*.so*",
                                    "/var/cache/ldsim-roots/*/lib*/ld-linux*.so*",
                                    "/usr/*-linux-gnu*/lib/ld-linux*.so*")
                  for p in glob.glob(pattern)})


@pytest.mark.parametrize("path", LOADERS or ["(none)"])
def test_real_loaders_give_the_directories_a_whole_file_search_gives(path: str) -> None:
    if path == "(none)":
        pytest.skip("no glibc loader on this machine")
    with open(path, "rb") as f:
        data = f.read()
    prof = glibc_profile_from_bytes(data, path, 62)
    assert prof.source == path and prof.system_dirs == _whole_file_dirs(data)
    assert all(d.startswith("/") for d in prof.system_dirs)


def test_made_up_data_gives_what_a_whole_file_search_gives() -> None:
    rng = random.Random(1)
    pieces = [b"/", b"\x00", b"/lib/", b"/usr/lib/\x00", b"a", b"-", b"\xff", b"/\x00/",
              b"/" + b"a" * 4094 + b"/\x00", b"/" + b"b" * 4095 + b"/\x00", b"x" * 5000,
              b"/lib64/\x00/usr/lib64/\x00", b"ORIGIN\x00PLATFORM\x00LIB\x00lib64\x00"]
    for _ in range(3000):
        data = b"".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12)))
        assert glibc_profile_from_bytes(data, "ld.so", 62).system_dirs in (
            _whole_file_dirs(data), loader_profile.fallback_profile(62).system_dirs)
        if _whole_file_dirs(data):
            assert glibc_profile_from_bytes(data, "ld.so", 62).system_dirs == \
                _whole_file_dirs(data)
