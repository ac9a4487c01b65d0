"""ldsim.records against dataclasses: the same class bodies, the same behaviour."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar

import pytest

from ldsim import records
from ldsim.records import field, record

OPTIONS = [dict(frozen=True, slots=True), dict(frozen=True), dict(slots=True), {},
           dict(frozen=True, slots=True, eq=False), dict(slots=True, eq=False)]


def _pair(options: dict[str, bool]) -> tuple[type, type]:
    """The same class body made by records and by dataclasses (``dataclasses.field`` for the
    latter, as its decorator wants)."""
    def body(fld):
        class Point:
            limit: ClassVar[int] = 3
            x: int
            y: str = "y"
            tags: list[str] = fld(default_factory=list)
            note: str | None = fld(default=None, repr=False, compare=False)
            cache: dict[str, int] = fld(default_factory=dict, init=False, repr=False,
                                        compare=False)

            def norm(self) -> int:
                return self.x * 2
        return Point

    ours = record(**options)(body(field))
    theirs = dataclasses.dataclass(**options)(body(dataclasses.field))
    return ours, theirs


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_a_record_behaves_as_the_dataclass_of_the_same_body(options: dict[str, bool]) -> None:
    ours, theirs = _pair(options)
    for cls in (ours, theirs):
        a = cls(1)
        assert a.tags == [] and a.tags is not cls(1).tags  # a new list per instance
        assert a.cache == {} and a.norm() == 2 and cls.limit == 3
    oa, ob, oc = ours(1), ours(1, "y", [], note="other"), ours(2, "z", ["t"])
    ta, tb, tc = theirs(1), theirs(1, "y", [], note="other"), theirs(2, "z", ["t"])
    assert (oa == ob) == (ta == tb)
    assert (oa == oc) == (ta == tc)
    assert (oa == 1) == (ta == 1) is False
    assert repr(oa) == repr(ta).replace(theirs.__qualname__, ours.__qualname__)
    assert ours.__match_args__ == theirs.__match_args__ == ("x", "y", "tags", "note")
    assert hasattr(ours(1), "__dict__") == hasattr(theirs(1), "__dict__")
    assert (ours.__hash__ is None) == (theirs.__hash__ is None)
    if ours.__hash__ is not None and options.get("eq", True):
        for cls in (ours, theirs):  # the hash of the compared fields: a list is not hashable
            with pytest.raises(TypeError, match="unhashable type: 'list'"):
                hash(cls(5, "q"))
    if options.get("frozen"):
        for obj in (oa, ta):
            with pytest.raises(dataclasses.FrozenInstanceError):
                obj.x = 3  # type: ignore[misc]
            with pytest.raises(dataclasses.FrozenInstanceError):
                del obj.x  # type: ignore[misc]
    else:
        oa.x = ta.x = 9
        assert oa.x == ta.x == 9
    for cls in (ours, theirs):
        with pytest.raises(TypeError):
            cls()  # x has no default
        with pytest.raises(TypeError):
            cls(1, cache={})  # not an __init__ parameter


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_a_record_is_a_dataclass_for_dataclasses(options: dict[str, bool]) -> None:
    ours, theirs = _pair(options)
    obj = ours(1, "y", ["t"], note="n")
    assert dataclasses.is_dataclass(ours) and dataclasses.is_dataclass(obj)
    assert [f.name for f in dataclasses.fields(obj)] == \
        [f.name for f in dataclasses.fields(theirs)] == ["x", "y", "tags", "note", "cache"]
    assert [(f.init, f.repr, f.compare) for f in dataclasses.fields(ours)] == \
        [(f.init, f.repr, f.compare) for f in dataclasses.fields(theirs)]
    assert dataclasses.asdict(obj) == records.asdict(obj) == dataclasses.asdict(
        theirs(1, "y", ["t"], note="n"))
    changed = dataclasses.replace(obj, x=7)
    assert type(changed) is ours and changed.x == 7 and changed.tags == ["t"]
    again = records.replace(obj, y="w")
    assert (again.x, again.y, again.tags, again.note) == (1, "w", ["t"], "n")
    with pytest.raises(ValueError):
        records.replace(obj, cache={})
    assert ours.__dataclass_params__.frozen == theirs.__dataclass_params__.frozen


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_records_pickle_and_copy(options: dict[str, bool]) -> None:
    global Pickled  # pickle finds a class by its module and name
    Pickled, _ = _pair(options)
    Pickled.__qualname__ = "Pickled"
    obj = Pickled(4, "p", ["a"], note="n")
    for again in (pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)):
        assert type(again) is Pickled
        assert (again.x, again.y, again.tags, again.note) == (4, "p", ["a"], "n")
        if options.get("eq", True):
            assert again == obj


def test_a_default_before_a_field_without_one_is_refused_as_by_dataclasses() -> None:
    class Body:
        a: int = 1
        b: int

    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        record(frozen=True)(Body)


def test_post_init_and_explicit_methods_are_kept() -> None:
    @record(frozen=True, slots=True)
    class Pair:
        a: int
        b: int = 0

        def __post_init__(self) -> None:
            object.__setattr__(self, "b", self.b or self.a)

        def __repr__(self) -> str:
            return "pair"

    assert Pair(3).b == 3 and repr(Pair(1)) == "pair"
    assert Pair(3) == Pair(3, 3) and len({Pair(3), Pair(3, 3)}) == 1


def test_frozen_records_of_ldsim_are_records_and_dataclasses() -> None:
    from ldsim.config.env import LoaderEnv
    from ldsim.result import Resolution

    env = LoaderEnv()
    assert records.is_record(env) and dataclasses.is_dataclass(env)
    assert dataclasses.replace(env, cwd="/tmp").cwd == "/tmp"
    assert "_split" not in Resolution.__match_args__


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_a_record_has_the_signature_of_the_dataclass(options: dict[str, bool]) -> None:
    import inspect

    ours, theirs = _pair(options)
    mine, want = inspect.signature(ours), inspect.signature(theirs)
    assert [(p.name, p.kind, p.annotation) for p in mine.parameters.values()] == \
        [(p.name, p.kind, p.annotation) for p in want.parameters.values()]
    assert [repr(p.default) for p in mine.parameters.values()] == \
        [repr(p.default) for p in want.parameters.values()]  # a factory's: <factory>
    assert ours.__doc__ == theirs.__doc__  # no docstring: name and signature, as dataclasses


def test_a_docstring_is_kept() -> None:
    @record(frozen=True)
    class Told:
        """What it is."""

        x: int

    assert Told.__doc__ == "What it is." and Told(1).__doc__ == "What it is."


def test_what_dataclasses_refuse_records_refuse() -> None:
    class Shared:
        items: list[str] = []  # noqa: RUF012

    with pytest.raises(ValueError, match="mutable default"):
        record(frozen=True)(Shared)
    with pytest.raises(ValueError, match="mutable default"):
        dataclasses.dataclass(frozen=True)(Shared)

    class Init:
        x: InitVar[int]  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(TypeError, match="no InitVar"):
        record()(Init)


def test_init_is_made_when_first_used_whoever_uses_it() -> None:
    @record(frozen=True, slots=True)
    class Point:
        x: int
        y: int = 2

    class Named(Point):  # not a record: inherits the record's __init__
        pass

    assert not hasattr(vars(Point)["__init__"], "__code__")  # not compiled yet
    first = Named(1)  # the subclass makes the first instance
    assert (first.x, first.y) == (1, 2) and isinstance(first, Point)
    made = vars(Point)["__init__"]
    assert made.__code__.co_filename == "<record test_init_is_made_when_first_used_whoever_" \
        "uses_it.<locals>.Point>"
    assert Point(3, 4) == Point(3, 4) and vars(Point)["__init__"] is made  # made once
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.x = 5  # type: ignore[misc]


def test_a_record_inside_itself_is_written_as_dataclasses_write_it() -> None:
    def body(fld):
        class Node:
            name: str
            children: list[object] = fld(default_factory=list)
        return Node

    ours = record()(body(field))
    theirs = dataclasses.dataclass()(body(dataclasses.field))
    a, b = ours("a"), theirs("a")
    a.children.append(a)
    b.children.append(b)
    assert repr(a) == repr(b).replace(theirs.__qualname__, ours.__qualname__) \
        == f"{ours.__qualname__}(name='a', children=[...])"


@record(frozen=True, slots=True)
class _WithLazy:
    name: str
    items: tuple[int, ...] = field(default=(), lazy=True)


def test_a_lazy_field_is_made_once_when_first_read_by_whoever_reads_it() -> None:
    import threading

    calls: list[int] = []

    def make() -> tuple[int, ...]:
        calls.append(1)
        return (1, 2, 3)

    given = _WithLazy("a", records.lazy(make))
    assert calls == []  # nothing made it yet
    assert given.items == (1, 2, 3) and given.items is given.items
    assert calls == [1]
    # every way of reading a record reads the value, never the promise of it
    readers = [repr, hash, pickle.dumps, copy.copy, records.asdict,
               lambda r: records.replace(r, name="b"), lambda r: r == _WithLazy("a", (1, 2, 3)),
               dataclasses.astuple]
    for read in readers:
        one = _WithLazy("a", records.lazy(make))
        calls.clear()
        read(one)
        assert calls == [1], read
    assert repr(_WithLazy("a", records.lazy(make))) == "_WithLazy(name='a', items=(1, 2, 3))"
    assert pickle.loads(pickle.dumps(_WithLazy("a", records.lazy(make)))).items == (1, 2, 3)
    assert records.replace(_WithLazy("a", records.lazy(make)), name="b") == \
        _WithLazy("b", (1, 2, 3))
    # a plain value, and the default, are kept as they are
    assert _WithLazy("a", (4,)).items == (4,) and _WithLazy("a").items == ()
    # two threads reading it first: made once, both see the same value
    slow = threading.Event()

    def make_slowly() -> tuple[int, ...]:
        calls.append(1)
        slow.wait(0.2)
        return (5,)

    calls.clear()
    shared = _WithLazy("a", records.lazy(make_slowly))
    seen: list[tuple[int, ...]] = []
    threads = [threading.Thread(target=lambda: seen.append(shared.items)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and len(seen) == 4 and all(s is seen[0] for s in seen)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shared.items = ()  # type: ignore[misc]


def test_only_a_frozen_slotted_record_has_lazy_fields() -> None:
    for options in (dict(slots=True), dict(frozen=True), {}):
        with pytest.raises(TypeError, match="lazy"):
            @record(**options)
            class Bad:
                items: tuple[int, ...] = field(default=(), lazy=True)
