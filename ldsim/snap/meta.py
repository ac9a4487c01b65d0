"""``meta/snap.yaml``: what ldsim needs of it, and snap-exec's environment expansion.

Fields follow snapd ``snap/info_snap_yaml.go``; defaults: ``type: app``, ``confinement:
strict``, a missing ``base`` means ``core``. Environment maps are applied in order, the
snap-level map first, then the app's (``snap-exec``'s ``EnvChain``); values expand
``$VAR``, ``${VAR}``, ``${VAR:+x}`` and ``${VAR:-x}``, an undefined variable being empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ldsim.errors import SnapError

_NAME = re.compile(r"^[a-z0-9](?:-?[a-z0-9])*$")


class Confinement(StrEnum):
    """A snap's confinement (``snap.yaml``), and the runtime view it runs in: ``classic`` on
    the host's root, ``strict`` (and ``devmode``, the same mount namespace) on the base's."""

    STRICT = "strict"
    DEVMODE = "devmode"
    CLASSIC = "classic"

    @property
    def view(self) -> Confinement:
        """The runtime view: classic, or strict for strict and devmode."""
        return Confinement.CLASSIC if self is Confinement.CLASSIC else Confinement.STRICT


CONFINEMENTS = tuple(c.value for c in Confinement)


@dataclass(frozen=True, slots=True)
class App:
    name: str
    command: str
    command_chain: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()

    @property
    def program(self) -> str:
        """The executable, relative to ``$SNAP`` (the first word of ``command``)."""
        word = self.command.split()[0]
        for prefix in ("$SNAP/", "${SNAP}/"):
            if word.startswith(prefix):
                word = word[len(prefix):]
        return word.lstrip("/")


@dataclass(frozen=True, slots=True)
class SnapMeta:
    name: str
    version: str
    base: str
    confinement: Confinement
    type: str
    apps: dict[str, App] = field(default_factory=dict)
    environment: tuple[tuple[str, str], ...] = ()


def _env(value: Any, path: str, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise SnapError(path, f"{where} environment must be a mapping, got {type(value).__name__}")
    out = []
    for k, v in value.items():
        if not isinstance(k, str):
            raise SnapError(path, f"{where} environment: key {k!r} is not a string")
        out.append((k, "" if v is None else str(v)))
    return tuple(out)


def parse_snap_yaml(text: str, path: str = "meta/snap.yaml") -> SnapMeta:
    """Parse and validate snap.yaml. Raises :class:`SnapError` naming the file and the problem."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SnapError(path, f"invalid YAML{where}: {problem}") from None
    if not isinstance(doc, dict):
        raise SnapError(path, "not a snap.yaml: the document is not a mapping")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SnapError(path, "missing 'name'")
    if not _NAME.match(name) or len(name) > 40:
        raise SnapError(path, f"invalid snap name {name!r}")
    confinement = doc.get("confinement", "strict")
    if not isinstance(confinement, str) or confinement not in CONFINEMENTS:
        raise SnapError(path, f"invalid confinement {confinement!r} (expected one of "
                        f"{', '.join(CONFINEMENTS)})")
    base = doc.get("base") or "core"
    if not isinstance(base, str) or not _NAME.match(base) or len(base) > 40:
        raise SnapError(path, f"invalid base {base!r} (a snap name, such as core22 or bare)")
    apps_raw = doc.get("apps") or {}
    if not isinstance(apps_raw, dict):
        raise SnapError(path, "'apps' must be a mapping")
    apps: dict[str, App] = {}
    for app_name, spec in apps_raw.items():
        if not isinstance(spec, dict):
            raise SnapError(path, f"app {app_name!r}: must be a mapping")
        command = spec.get("command")
        if not isinstance(command, str) or not command.strip():
            raise SnapError(path, f"app {app_name!r}: missing 'command'")
        chain = spec.get("command-chain") or []
        if not isinstance(chain, list) or not all(isinstance(c, str) for c in chain):
            raise SnapError(path, f"app {app_name!r}: 'command-chain' must be a list of strings")
        apps[str(app_name)] = App(str(app_name), command, tuple(chain),
                                  _env(spec.get("environment"), path, f"app {app_name!r}"))
    return SnapMeta(name=name, version=str(doc.get("version", "")), base=base,
                    confinement=Confinement(confinement), type=str(doc.get("type", "app")), apps=apps,
                    environment=_env(doc.get("environment"), path, "snap"))


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[+-])(?P<word>[^}]*))?\}"
                  r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


def expand(value: str, env: dict[str, str]) -> str:
    """snap-exec's expansion (``osutil.ExpandEnv`` with ``${VAR:+x}``/``${VAR:-x}``)."""

    def repl(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("plain")
        current = env.get(name, "")
        op = m.group("op")
        if op == "+":
            return expand(m.group("word"), env) if current else ""
        if op == "-":
            return current if current else expand(m.group("word"), env)
        return current

    return _VAR.sub(repl, value)


def app_environment(meta: SnapMeta, app: App | None, start: dict[str, str]) -> dict[str, str]:
    """The environment snap-exec gives the app: ``start``, then snap-level, then app-level."""
    env = dict(start)
    for key, value in (*meta.environment, *(app.environment if app else ())):
        env[key] = expand(value, env)
    return env
