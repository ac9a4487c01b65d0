#!/usr/bin/env python3
"""Write the hostile-input corpus: every crafted input of the regression tests, as files.

The inputs are built by code (``rootfs-fixtures/hostile_elf.py``, ``hostile_yaml.py``,
``hostile_fs.py``), never stored as binary blobs; this script lays them out for a fuzzer's
seed directory, a bug report or a look with other tools:

    python scripts/hostile_corpus.py OUT          # OUT/elf/*, OUT/cache/*, OUT/loader/*,
                                                  # OUT/yaml/*, OUT/squashfs/*.snap
    python scripts/fuzz.py --atheris elf -- OUT/elf -max_total_time=3600

Each file is named after the builder that made it; ``OUT/INDEX`` says what each one breaks
(the builder's docstring). Building the SquashFS images needs mksquashfs.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "rootfs-fixtures")]


def _first_line(fn: Callable[..., object]) -> str:
    doc = inspect.getdoc(fn) or ""
    return " ".join(doc.split("\n\n")[0].split())


def build(out: Path) -> list[tuple[str, str]]:
    import hostile_elf as he
    import hostile_yaml as hy

    index: list[tuple[str, str]] = []

    def put(kind: str, name: str, data: bytes, fn: Callable[..., object]) -> None:
        path = out / kind / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        index.append((f"{kind}/{name}", _first_line(fn)))

    for fn in (he.many_needed_one_string, he.strings_without_nul, he.overlapping_verneed,
               he.verneed_section_claiming, he.huge_section_no_entsize):
        put("elf", fn.__name__, fn(), fn)
    put("cache", "ld_so_cache_one_string", he.ld_so_cache_one_string(),
        he.ld_so_cache_one_string)
    for fn in (he.loader_without_nul, he.loader_release_digits):
        put("loader", fn.__name__, fn(), fn)
    for yfn in (hy.alias_bomb, hy.alias_bomb_mapping, hy.big_int, hy.hex_int,
                hy.sexagesimal_int, hy.deep_flow, hy.deep_flow_mapping, hy.deep_block,
                hy.merge_chain, hy.recursive_alias, hy.bad_date, hy.bad_tag, hy.env_doubling,
                hy.oversize, hy.trailing_newline_name, hy.trailing_newline_app):
        put("yaml", f"{yfn.__name__}.yaml", yfn().encode("utf-8", "surrogateescape"), yfn)
    if shutil.which("mksquashfs") is None:
        print("hostile_corpus.py: no mksquashfs: SquashFS images left out", file=sys.stderr)
        return index
    import hostile_fs as hf

    with tempfile.TemporaryDirectory(prefix="ldsim-corpus-") as tmp:
        work = Path(tmp)
        images: list[tuple[str, Callable[..., Path], dict[str, object]]] = [
            ("sparse_snap", hf.sparse_snap, {}),
            ("sparse_elf_snap", hf.sparse_snap, {"elf_header": True}),
            ("cycle_root_snap", hf.cycle_snap, {"to": "root"}),
            ("cycle_parent_snap", hf.cycle_snap, {"to": "parent"}),
            ("bad_name_snap", hf.bad_name_snap, {"name": b"t/ol"}),
            ("shared_listing_snap", hf.shared_listing_snap, {}),
            ("lzma_dict_snap", hf.lzma_dict_snap, {"comp": "lzma"}),
            ("xz_dict_snap", hf.lzma_dict_snap, {"comp": "xz"}),
            ("zstd_bomb_snap", hf.zstd_bomb_snap, {}),
            ("fix_temp_snap", hf.fix_temp_snap, {}),
        ]
        for i, (name, ifn, kw) in enumerate(images):
            sub = work / str(i)
            sub.mkdir()
            try:
                image = ifn(sub, **kw)
            except Exception as exc:  # a compressor this machine's mksquashfs lacks
                print(f"hostile_corpus.py: {name}: {exc}", file=sys.stderr)
                continue
            put("squashfs", f"{name}.snap", image.read_bytes(), ifn)
    return index


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="directory to write (created)")
    args = p.parse_args(argv)
    index = build(args.out)
    (args.out / "INDEX").write_text("".join(f"{path}\t{what}\n" for path, what in index))
    print(f"{len(index)} inputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
