"""The JSON Schemas (Draft-07) of ldsim's machine-readable documents, as shipped data.

Every JSON document ldsim prints names its schema in its ``schema`` key (``ldsim.explain/1``);
the schema itself ships with the package as ``ldsim/schemas/ldsim.explain-1.json``, so a
program can validate what it reads against the contract of the ldsim that wrote it::

    import jsonschema
    from ldsim.renderers.schema import load_schema

    jsonschema.validate(doc, load_schema(doc["schema"]))

Import-light on purpose: only the standard library (no networkx, no pyelftools).
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from ldsim.errors import LdsimError

SCHEMAS = ("ldsim.explain/1", "ldsim.check/1", "ldsim.compare/1", "ldsim.lint/1",
           "ldsim.graph/1", "ldsim.scan-summary/1")
"""The documents ldsim emits, by the name their ``schema`` key carries."""


def schema_file_name(name: str) -> str:
    """``ldsim.explain/1`` (or ``ldsim.explain-1``) → ``ldsim.explain-1.json``."""
    stem = name.removesuffix(".json")
    if "/" not in stem:
        head, _, version = stem.rpartition("-")
        stem = f"{head}/{version}"
    if stem not in SCHEMAS:
        raise LdsimError(name, f"unknown JSON schema (ldsim ships {', '.join(SCHEMAS)})")
    head, _, version = stem.rpartition("/")
    return f"{head}-{version}.json"


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of a document, by the name in its ``schema`` key (``ldsim.lint/1``) or
    by its file name (``ldsim.lint-1``). Raises :class:`LdsimError` for an unknown name."""
    resource = files("ldsim") / "schemas" / schema_file_name(name)
    try:
        schema = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LdsimError(name, f"cannot load the schema shipped with ldsim: {exc}") from None
    if not isinstance(schema, dict):
        raise LdsimError(name, "the schema shipped with ldsim is not a JSON object")
    return schema


__all__ = ["SCHEMAS", "load_schema", "schema_file_name"]
