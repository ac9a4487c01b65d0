"""``meta/snap.yaml``: what ldsim needs of it, and snap-exec's environment expansion.

Fields follow snapd ``snap/info_snap_yaml.go``; defaults: ``type: app``, ``confinement:
strict``, a missing ``base`` means ``core``. The file is read by :mod:`ldsim.snap.yamlload`
(bounded in size, nesting and alias expansion). Names are checked with snapd's patterns
(``snap/naming/validate.go``: ``ValidateSnap``, ``ValidApp``) matched against the whole
string: Go's ``$`` is the end of the text, Python's also matches before a final newline, so
the patterns here use :meth:`re.Pattern.fullmatch`. Environment maps are applied in order, the
snap-level map first, then the app's (``snap-exec``'s ``EnvChain``); values expand
``$VAR``, ``${VAR}``, ``${VAR:+x}`` and ``${VAR:-x}``, an undefined variable being empty. A
variable that expands beyond what ``execve`` accepts (``MAX_ARG_STRLEN``, 128 KiB for one
``NAME=value`` string, and 6 MiB for them all, the most Linux ``fs/exec.c`` ever allows) is
an error: snap-exec's ``exec`` of the app would fail with ``E2BIG``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from ldsim.errors import SnapError
from ldsim.records import field, record

_NAME = re.compile(r"[a-z0-9](?:-?[a-z0-9])*")  # fullmatch; snap and base names
_APP_NAME = re.compile(r"[a-zA-Z0-9](?:-?[a-zA-Z0-9])*")  # fullmatch; snapd naming.ValidApp
MAX_NAME = 40  # snapd naming.ValidateSnap
MAX_ARG_STRLEN = 32 * 4096  # linux include/uapi/linux/binfmts.h: one argv or envp string
MAX_ENV_TOTAL = 6 << 20  # fs/exec.c bprm_stack_limits: 3/4 of _STK_LIM (8 MiB), at most


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


@record(frozen=True, slots=True)
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


@record(frozen=True, slots=True)
class SnapMeta:
    name: str
    version: str
    base: str
    confinement: Confinement
    type: str
    apps: dict[str, App] = field(default_factory=dict)
    environment: tuple[tuple[str, str], ...] = ()
    path: str = field(default="meta/snap.yaml", compare=False)
    """The file it was read from, for errors found later (environment expansion)."""


def _show(value: Any) -> str:
    """A value for an error message, at most 60 characters: a string in quotes as it is (what
    prints a message escapes it, :mod:`ldsim.safetext`), anything else as ``repr``."""
    text = f"'{value}'" if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _env(value: Any, path: str, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise SnapError(path, f"{where} environment must be a mapping, got {type(value).__name__}")
    out = []
    for k, v in value.items():
        if not isinstance(k, str):
            raise SnapError(path, f"{where} environment: key {_show(k)} is not a string")
        out.append((k, "" if v is None else str(v)))
    return tuple(out)


def parse_snap_yaml(text: str, path: str = "meta/snap.yaml") -> SnapMeta:
    """Parse and validate snap.yaml. Raises :class:`SnapError` naming the file and the problem."""
    from ldsim.snap.yamlload import load_yaml

    doc = load_yaml(text, path)
    if not isinstance(doc, dict):
        raise SnapError(path, "not a snap.yaml: the document is not a mapping")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise SnapError(path, "missing 'name'")
    if len(name) > MAX_NAME or not _NAME.fullmatch(name):
        raise SnapError(path, f"invalid snap name {_show(name)}")
    confinement = doc.get("confinement", "strict")
    if not isinstance(confinement, str) or confinement not in CONFINEMENTS:
        raise SnapError(path, f"invalid confinement {_show(confinement)} (expected one of "
                        f"{', '.join(CONFINEMENTS)})")
    base = doc.get("base") or "core"
    if not isinstance(base, str) or len(base) > MAX_NAME or not _NAME.fullmatch(base):
        raise SnapError(path, f"invalid base {_show(base)} (a snap name, such as core22 or bare)")
    apps_raw = doc.get("apps") or {}
    if not isinstance(apps_raw, dict):
        raise SnapError(path, "'apps' must be a mapping")
    apps: dict[str, App] = {}
    for app_name, spec in apps_raw.items():
        if not _APP_NAME.fullmatch(str(app_name)):
            raise SnapError(path, f"invalid app name {_show(app_name)}: use letters, digits, "
                            "and dash as separator")
        if not isinstance(spec, dict):
            raise SnapError(path, f"app {_show(app_name)}: must be a mapping")
        command = spec.get("command")
        if not isinstance(command, str) or not command.strip():
            raise SnapError(path, f"app {_show(app_name)}: missing 'command'")
        chain = spec.get("command-chain") or []
        if not isinstance(chain, list) or not all(isinstance(c, str) for c in chain):
            raise SnapError(path, f"app {_show(app_name)}: 'command-chain' must be a list of "
                            "strings")
        apps[str(app_name)] = App(str(app_name), command, tuple(chain),
                                  _env(spec.get("environment"), path, f"app {_show(app_name)}"))
    return SnapMeta(name=name, version=str(doc.get("version", "")), base=base,
                    confinement=Confinement(confinement), type=str(doc.get("type", "app")), apps=apps,
                    environment=_env(doc.get("environment"), path, "snap"), path=path)


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<op>[+-])(?P<word>[^}]*))?\}"
                  r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class _TooLong(Exception):
    """An expansion past its budget (:func:`expand`)."""


def expand(value: str, env: dict[str, str], limit: int | None = None) -> str:
    """snap-exec's expansion (``osutil.ExpandEnv`` with ``${VAR:+x}``/``${VAR:-x}``).

    With ``limit``, raises :class:`ValueError` instead of building a result of more than
    ``limit`` characters."""
    budget = [len(value)]

    def repl(m: re.Match[str]) -> str:
        name = m.group("braced") or m.group("plain")
        current = env.get(name, "")
        op = m.group("op")
        if op == "+":
            out = expand(m.group("word"), env, limit) if current else ""
        elif op == "-":
            out = current if current else expand(m.group("word"), env, limit)
        else:
            out = current
        budget[0] += len(out) - len(m.group())
        if limit is not None and budget[0] > limit:
            raise _TooLong
        return out

    try:
        return _VAR.sub(repl, value)
    except _TooLong:
        raise ValueError(f"expands to more than {limit} characters") from None


def app_environment(meta: SnapMeta, app: App | None, start: dict[str, str]) -> dict[str, str]:
    """The environment snap-exec gives the app: ``start``, then snap-level, then app-level.

    Raises :class:`SnapError` when a variable, or all of them, would be too large for
    ``execve`` (see the module docstring)."""
    env = dict(start)
    total = sum(len(k) + len(v) + 2 for k, v in env.items())
    for key, value in (*meta.environment, *(app.environment if app else ())):
        try:
            new = expand(value, env, MAX_ARG_STRLEN - len(key) - 2)
        except ValueError:
            raise SnapError(meta.path, f"snap.yaml environment variable {_show(key)} expands "
                            f"beyond {MAX_ARG_STRLEN} bytes (MAX_ARG_STRLEN): execve would fail "
                            "(E2BIG)") from None
        total += len(key) + len(new) + 2 - (len(key) + len(env[key]) + 2 if key in env else 0)
        if total > MAX_ENV_TOTAL:
            raise SnapError(meta.path, f"snap.yaml environment grows beyond "
                            f"{MAX_ENV_TOTAL >> 20} MiB at {_show(key)}: execve would fail (E2BIG)")
        env[key] = new
    return env
