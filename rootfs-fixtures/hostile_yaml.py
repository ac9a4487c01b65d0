"""Hostile ``meta/snap.yaml`` and ``snap/snapcraft.yaml`` texts, built by code (no blobs).

Each function returns the text of one YAML file that once hung or crashed ldsim (issue: YAML
from hostile snaps must be bounded); :func:`snap_dirs` lays out a snap around such a text,
with a tiny base and an empty host, for ``ldsim compare --snap SNAP --base BASE --host HOST``
and ``ldsim lint SNAP --base BASE --host HOST`` (snap.yaml is read before anything else of the
trees is needed). Nothing here is executed by ldsim; the texts are only read.

The classes (see ``ldsim/snap/yamlload.py`` for the limits that answer them):

* :func:`alias_bomb` -- "billion laughs": nested anchors, each a list of aliases of the one
  before, small on disk and ``width ** levels`` nodes once expanded.
* :func:`big_int` -- an integer scalar longer than Python's 4,300-digit ``int()`` limit.
* :func:`sexagesimal_int` -- a YAML 1.1 base-60 integer (``1:0:0:...``) whose value has more
  than 4,300 digits, so that ``str()`` of it fails.
* :func:`deep_flow`, :func:`deep_block`, :func:`deep_flow_mapping` -- nesting far beyond
  Python's recursion limit.
* :func:`merge_chain` -- a chain of ``<<:`` merge keys, each merging the previous anchor.
* :func:`bad_date` -- a plain scalar that resolves as a timestamp but is no real date;
  :func:`bad_tag` -- an explicit tag whose constructor fails on the value.
* :func:`env_doubling` -- no YAML trick at all: snap-exec's ``$VAR`` expansion doubling a
  value at each variable.
* :func:`oversize` -- a valid document over the size limit.
* :func:`trailing_newline_name` -- ``name: "hello\\n"``.
"""

from __future__ import annotations

from pathlib import Path

# A snap.yaml of the shape Snapcraft writes (JSON-free, block style), to mutate and to wrap
# hostile values in.
REAL_SNAP_YAML = """\
name: hello-world
version: '6.4'
summary: The 'hello-world' of snaps
description: |
  This is a simple hello world example.
base: core22
grade: stable
confinement: strict
architectures:
- amd64
environment:
  LD_LIBRARY_PATH: ${SNAP_LIBRARY_PATH}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}:$SNAP/lib
  PATH: $SNAP/usr/sbin:$SNAP/usr/bin:$SNAP/sbin:$SNAP/bin:$PATH
apps:
  hello-world:
    command: bin/echo
    plugs: [home, network]
  env:
    command: bin/env
    command-chain: [snap/command-chain/desktop-launch]
    environment:
      EXTRA: ${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}x
plugs:
  gtk-3-themes:
    interface: content
    target: $SNAP/data-dir/themes
    default-provider: gtk-common-themes
"""

SNAPCRAFT_YAML_WITH_ANCHORS = """\
name: demo
base: core22
confinement: classic
parts:
  common: &common
    plugin: nil
    build-packages: [gcc, make]
  one:
    <<: *common
    source: one/
  two:
    <<: *common
    source: two/
lint:
  ignore:
    - classic:
      - &bin usr/bin/*
      - usr/lib/*
    - library:
      - *bin
    - rpath
"""
"""A snapcraft.yaml that uses anchors, aliases and merge keys as people do: it must still
load (two aliases, tiny expansion)."""


def _snap(field: str, value: str) -> str:
    """A minimal valid snap.yaml (one app) with ``field: value`` added as the last key."""
    return ("name: hostile\nbase: core22\nconfinement: strict\n"
            f"apps: {{a: {{command: bin/a}}}}\n{field}: {value}\n")


def alias_bomb(levels: int = 9, width: int = 10, field: str = "version") -> str:
    """``a0: &a0 [lol, lol, ...]``, ``a1: &a1 [*a0, *a0, ...]``... then ``field: *aN``:
    about 1 KB of text, ``width ** levels`` scalars once expanded."""
    lines = ["name: hostile", "base: core22", "confinement: strict",
             "apps: {a: {command: bin/a}}",
             "lol: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    if field == "environment":
        lines.append(f"environment: {{BOMB: *a{levels - 1}}}")
    else:
        lines.append(f"{field}: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def alias_bomb_mapping(levels: int = 9, width: int = 10) -> str:
    """The same with mappings: ``environment`` is an alias of a mapping whose values are
    aliases... (a dict is walked by ``_env``, a list by ``str()``)."""
    lines = ["name: hostile", "base: core22", "apps: {a: {command: bin/a}}",
             "m0: &m0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
    for i in range(1, levels):
        lines.append(f"m{i}: &m{i} {{" + ", ".join(f"k{j}: *m{i - 1}" for j in range(width))
                     + "}")
    lines.append(f"environment: *m{levels - 1}")
    return "\n".join(lines) + "\n"


def big_int(digits: int = 5000, field: str = "version") -> str:
    """``field: 111...1`` with ``digits`` digits (Python refuses ``int()`` of more than
    4,300 decimal digits)."""
    if field == "environment":
        return _snap("environment", "{BIG: " + "1" * digits + "}")
    if field == "name":
        return "name: " + "1" * digits + "\nbase: core22\napps: {a: {command: bin/a}}\n"
    return _snap(field, "1" * digits)


def hex_int(digits: int = 20_000, field: str = "version") -> str:
    """``0xfff...``: ``int(x, 16)`` has no digit limit, but ``str()`` of the result has."""
    return _snap(field, "0x" + "f" * digits)


def sexagesimal_int(parts: int = 2600, field: str = "version") -> str:
    """``1:0:0:...:0`` (YAML 1.1 base 60): each part is small, the value has about
    ``1.78 * parts`` decimal digits."""
    return _snap(field, "1" + ":0" * parts)


def deep_flow(depth: int = 100_000, field: str = "version") -> str:
    """``field: [[[[...]]]]``, ``depth`` levels."""
    return _snap(field, "[" * depth + "]" * depth)


def deep_flow_mapping(depth: int = 100_000, field: str = "environment") -> str:
    """``field: {a: {a: {a: ...}}}``, ``depth`` levels."""
    return _snap(field, "{a: " * depth + "x" + "}" * depth)


def deep_block(depth: int = 100_000, field: str = "version") -> str:
    """``- - - - x`` on one line under ``field``: block sequences nested ``depth`` deep."""
    return _snap(field, "\n  " + "- " * depth + "x")


def merge_chain(length: int = 4000) -> str:
    """``m1: &m1 {<<: *m0, k1: v}``, ``m2: &m2 {<<: *m1, k2: v}``...: each mapping holds
    every key before it, so PyYAML's merge flattening does ``length ** 2 / 2`` steps."""
    lines = ["name: hostile", "base: core22", "apps: {a: {command: bin/a}}",
             "m0: &m0 {k0: v}"]
    lines += [f"m{i}: &m{i} {{<<: *m{i - 1}, k{i}: v}}" for i in range(1, length)]
    lines.append(f"environment: *m{length - 1}")
    return "\n".join(lines) + "\n"


def recursive_alias() -> str:
    """An anchor used inside itself (PyYAML builds a cyclic object; go-yaml refuses it)."""
    return _snap("environment", "&e {A: x, B: [*e]}")


def bad_date(field: str = "version") -> str:
    """``2024-02-30`` matches YAML 1.1's timestamp pattern, so PyYAML builds a
    ``datetime.date`` of it and fails (``ValueError: day is out of range for month``)."""
    return _snap(field, "2024-02-30")


def bad_tag(field: str = "version") -> str:
    """An explicit tag its constructor cannot build: ``!!bool maybe`` (PyYAML raises
    ``KeyError``; ``!!int abc`` a ``ValueError``, ``!!timestamp abc`` an ``AttributeError``)."""
    return _snap(field, "!!bool maybe")


def env_doubling(levels: int = 60) -> str:
    """``A1: $A0$A0``, ``A2: $A1$A1``...: snap-exec's expansion doubles the value at each
    variable (``2 ** levels`` bytes); not a YAML trick, the same bound answers it."""
    env = ["  A0: xxxxxxxxxxxxxxxx"] + [f"  A{i}: $A{i - 1}$A{i - 1}" for i in range(1, levels)]
    return ("name: hostile\nbase: core22\nconfinement: strict\napps: {a: {command: bin/a}}\n"
            "environment:\n" + "\n".join(env) + "\n")


def oversize(size: int = (1 << 20) + 1) -> str:
    """A valid snap.yaml padded with a comment to ``size`` bytes."""
    head = _snap("version", "'1.0'")
    return head + "#" + "x" * max(0, size - len(head) - 2) + "\n"


def trailing_newline_name() -> str:
    """``name: "hello\\n"``: ``re.match(r'...$')`` accepts it (``$`` matches before a final
    newline), snapd (Go's ``$`` is the end of the text) does not."""
    return 'name: "hello\\n"\nbase: core22\napps: {a: {command: bin/a}}\n'


def trailing_newline_app() -> str:
    """An app named ``"a\\n"``."""
    return 'name: hello\nbase: core22\napps: {"a\\n": {command: bin/a}}\n'


def snapcraft_lint_yaml(hostile_value: str) -> str:
    """A ``snap/snapcraft.yaml`` whose ``lint: ignore:`` holds a hostile value."""
    return f"name: hostile\nlint:\n  ignore:\n    - classic: {hostile_value}\n"


def snap_dirs(top: Path, snap_yaml: str, snapcraft_yaml: str | None = None,
              ) -> tuple[Path, Path, Path]:
    """(snap, base, host) under ``top``: the snap is ``meta/snap.yaml`` (and
    ``snap/snapcraft.yaml``) only, the base a ``core22`` with its own snap.yaml, the host an
    empty directory."""
    snap, base, host = top / "snap", top / "base", top / "host"
    (snap / "meta").mkdir(parents=True)
    (snap / "meta/snap.yaml").write_text(snap_yaml, encoding="utf-8")
    if snapcraft_yaml is not None:
        (snap / "snap").mkdir()
        (snap / "snap/snapcraft.yaml").write_text(snapcraft_yaml, encoding="utf-8")
    (base / "meta").mkdir(parents=True)
    (base / "meta/snap.yaml").write_text("name: core22\ntype: base\n", encoding="utf-8")
    host.mkdir()
    return snap, base, host


__all__ = ["REAL_SNAP_YAML", "SNAPCRAFT_YAML_WITH_ANCHORS", "alias_bomb", "alias_bomb_mapping",
           "bad_date", "bad_tag", "big_int", "deep_block", "deep_flow", "deep_flow_mapping",
           "env_doubling", "hex_int", "merge_chain", "oversize", "recursive_alias",
           "sexagesimal_int", "snap_dirs", "snapcraft_lint_yaml", "trailing_newline_app",
           "trailing_newline_name"]
