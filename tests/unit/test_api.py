"""The public API on in-memory targets: finished immutable results, realms attributed by the
view, the renderer registry, a snap composed from three trees without touching the disk."""

from __future__ import annotations

import dataclasses
import inspect
import json

import memroot as m
import pytest
from memroot import ENV, MemRoot, where

import ldsim
from ldsim.fs.memory import MemoryView


def test_every_public_name_is_documented_and_typed() -> None:
    for name in ldsim.__all__:
        obj = getattr(ldsim, name)
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            assert sig.return_annotation is not inspect.Signature.empty, name
            assert all(p.annotation is not inspect.Parameter.empty
                       for p in sig.parameters.values()), name
        elif not inspect.isclass(obj):
            continue  # constants and type aliases
        doc = (obj.__doc__ or "").strip()
        assert doc and not doc.startswith(f"{obj.__name__}("), f"ldsim.{name} has no docstring"


def test_a_resolution_is_finished_and_immutable() -> None:
    root = MemRoot()
    root.exe("/usr/bin/app", needed=["libnope.so.1"])
    res = ldsim.resolve(root.open(), "/usr/bin/app", ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.error = None  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.objects[0].realm = ldsim.Realm.HOST  # type: ignore[misc]
    assert isinstance(res.link_map, tuple) and isinstance(res.lookups[0].attempts, tuple)
    assert {o.realm for o in res.objects} == {ldsim.Realm.ROOT}
    assert res.loader is ldsim.Libc.GLIBC and not res.ok


def test_a_missing_interpreter_is_the_load_error() -> None:
    root = MemRoot()
    root.exe("/usr/bin/app", interp="/lib/ld-nowhere.so.1")
    res = ldsim.resolve(root.open(), "/usr/bin/app", ENV)
    assert res.error is not None and res.error.name == "/lib/ld-nowhere.so.1"


def test_render_formats_and_errors() -> None:
    root = MemRoot()
    root.exe("/usr/bin/app")
    target = root.open()
    expl = ldsim.explain(target, "/usr/bin/app", ENV)
    assert set(ldsim.formats(expl)) == {"text", "tree", "findings", "json", "check-text",
                                        "check-json"}
    doc = json.loads(ldsim.render(expl, "json"))
    assert doc["schema"] == "ldsim.explain/1" and doc["findings"] == []
    assert "Result: all 2 dependencies resolve." in str(ldsim.render(expl, "text"))
    with pytest.raises(ldsim.LdsimError, match="no such output format"):
        ldsim.render(expl, "sarif")


def _snap_trees() -> tuple[MemoryView, MemoryView, MemRoot]:
    """A classic snap whose app has RPATH into its own lib/ and the base; libpay needs
    libshared, which neither the payload nor its RPATH covers: it leaks from the host."""
    host = MemRoot()
    host.lib(f"{m.USRLIBDIR}/libshared.so.1", soname="libshared.so.1")
    base = MemRoot()
    base.lib(f"{m.LIBDIR}/libbase.so.1", soname="libbase.so.1")
    base.open()  # writes the base's cache
    payload = MemoryView("<payload>")
    payload.add_file("/meta/snap.yaml", m.snaproots_yaml("leaky", "core22", "classic",
                                                         {"app": "bin/app"}))
    payload.add_file("/lib/libpay.so.1", m.elf(soname="libpay.so.1",
                                               needed=["libshared.so.1", "libc.so.6"]))
    interp = "/snap/core22/current/lib64/ld-linux-x86-64.so.2"
    payload.add_file("/bin/app", m.elf(interp=interp, needed=["libpay.so.1", "libbase.so.1",
                                                              "libc.so.6"],
                                       rpath="$ORIGIN/../lib:/snap/core22/current" + m.LIBDIR,
                                       flags_1=m.DF_1_PIE), 0o755)
    host.open()
    return payload, base.view, host


def test_a_snap_in_memory_has_realms_from_its_views() -> None:
    payload, base, host = _snap_trees()
    target = ldsim.open_snap(payload, base=base, host=host.view)
    prog = target.app_programs()[0]
    classic = ldsim.resolve(target, prog, ENV)
    realms = {o.name: o.realm for o in classic.objects}
    assert realms["libpay.so.1"] is ldsim.Realm.PAYLOAD
    assert realms["libbase.so.1"] is ldsim.Realm.BASE
    assert realms["libshared.so.1"] is ldsim.Realm.HOST  # the leak
    strict = ldsim.resolve(target, prog, ENV, confinement=ldsim.Confinement.STRICT)
    assert where(strict, "libshared.so.1") is None  # the base does not ship it
    comparison = ldsim.compare(target, env=ENV)
    leaks = [r.name for r in comparison.rows if r.leak]
    assert leaks == ["libshared.so.1"]
