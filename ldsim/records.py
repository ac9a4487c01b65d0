"""Records: the value classes of ldsim, as ``dataclasses.dataclass`` would make them, made
for a fraction of the cost.

Why not ``dataclasses`` itself: importing it costs about 7 ms (it imports ``inspect``, which
imports ``ast``, ``dis`` and ``tokenize``), and each class about 0.3 ms (six ``exec`` calls,
one per generated method). With some 40 classes on its path, that was a third of a whole
``ldsim explain`` of one program. A record costs one small ``compile`` (its ``__init__``,
made when it is first used); ``__eq__``, ``__hash__`` and ``__repr__`` are shared functions
over a C-level ``operator.attrgetter``; a frozen slotted record's ``__init__`` sets each slot
through the slot's own descriptor, which makes an instance in about half the time a frozen
dataclass takes (a scan makes hundreds of thousands of them).

For everyone else a record still is a dataclass: ``dataclasses.is_dataclass``, ``fields``,
``replace`` and ``asdict`` work on it, assigning to a frozen one raises
``dataclasses.FrozenInstanceError``, one without a docstring has the ``__doc__`` dataclasses
gives it, and a ``repr`` that meets the record again writes ``...``. Their
``__dataclass_fields__`` is made by ``dataclasses`` itself, from the same annotations and
defaults, the first time something asks for it.

The semantics are ``dataclass``'s for the options ldsim uses: ``frozen``, ``slots``, ``eq``;
fields with ``default``, ``default_factory``, ``init``, ``repr``, ``compare``; ``ClassVar``
annotations are not fields; ``__post_init__`` is called; the hash follows dataclasses' table
(``unsafe_hash=False``); frozen slotted records pickle. ``tests/unit/test_records.py``
compares records with dataclasses made from the same class bodies.
"""

from __future__ import annotations

from _thread import allocate_lock, get_ident
from operator import attrgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")
else:
    def dataclass_transform(**_kwargs):  # what type checkers read; nothing at run time
        return lambda f: f


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class _Factory:
    """The default of an ``__init__`` parameter whose field has a ``default_factory`` (its
    ``repr`` is the one ``dataclasses`` shows in signatures)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY: Any = _Factory()


class Field:
    """One field of a record, as :func:`field` describes it."""

    __slots__ = ("compare", "default", "default_factory", "init", "lazy", "name", "repr",
                 "type")

    def __init__(self, default: Any, default_factory: Any, init: bool, repr: bool,
                 compare: bool, lazy: bool = False) -> None:
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.init = init
        self.repr = repr
        self.compare = compare
        self.lazy = lazy

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING,
          init: bool = True, repr: bool = True, compare: bool = True,
          lazy: bool = False) -> Any:
    """As ``dataclasses.field``, for the options records have; and ``lazy`` (a frozen
    slotted record's only): the field may be given a :class:`Lazy`, whose function makes
    its value when it is first read (by anyone: attribute, ``==``, ``repr``, pickling,
    ``replace``, ``asdict``), once."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, init, repr, compare, lazy)


class Lazy:
    """The value of a ``lazy`` field not made yet: ``fn()`` makes it, once, when the field is
    first read. For a value that costs something to make and that most readers of the
    record never ask for."""

    __slots__ = ("fn", "lock")

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.lock = allocate_lock()


def lazy(fn: Callable[[], _T]) -> _T:
    """What to give a ``lazy`` field: its value, made by ``fn`` when first read (typed as
    that value; it is a :class:`Lazy` until then, which nothing reading the field sees)."""
    return Lazy(fn)  # type: ignore[return-value]  # read through the field, it is a _T


class _LazyField:
    """The class attribute of a ``lazy`` field, in place of its slot's descriptor: reading
    a :class:`Lazy` there makes the value and keeps it in the slot."""

    __slots__ = ("slot",)

    def __init__(self, slot: Any) -> None:
        self.slot = slot

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.slot.__get__(obj, owner)
        if type(value) is Lazy:
            with value.lock:  # two threads reading it first make it once
                now = self.slot.__get__(obj, owner)
                if now is value:
                    now = value.fn()
                    self.slot.__set__(obj, now)
            value = now
        return value

    def __set__(self, obj: object, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: object) -> None:
        self.slot.__delete__(obj)


@dataclass_transform(field_specifiers=(field, Field))
def record(*, frozen: bool = False, slots: bool = False, eq: bool = True
           ) -> Callable[[type[_T]], type[_T]]:
    """The class decorator: ``@record(frozen=True, slots=True)`` as ``@dataclass(...)``."""
    def wrap(cls: type[_T]) -> type[_T]:
        made: type[_T] = _process(cls, frozen, slots, eq)
        return made
    return wrap


def _is_classvar(annotation: object) -> bool:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return isinstance(text, str) and (text.startswith(("ClassVar", "typing.ClassVar"))
                                      or text == "ClassVar")


def _fields_of(cls: type) -> list[Field]:
    fields: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        for f in base.__dict__.get("__record_fields__", ()):
            fields[f.name] = f
    ns = cls.__dict__
    for name, annotation in ns.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        if isinstance(annotation, str) and annotation.startswith(("InitVar", "KW_ONLY")):
            raise TypeError(f"{cls.__name__}.{name}: records have no InitVar or KW_ONLY")
        value = ns.get(name, MISSING)
        f = value if isinstance(value, Field) else Field(value, MISSING, True, True, True)
        if f.default is not MISSING and type(f.default).__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not "
                             "allowed: use default_factory")
        f.name = name
        f.type = annotation
        fields[name] = f
    seen_default = False
    for f in fields.values():
        if not f.init:
            continue
        if f.default is not MISSING or f.default_factory is not MISSING:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    return list(fields.values())


def _process(klass: type, frozen: bool, slots: bool, eq: bool) -> Any:
    cls: Any = klass
    fields = _fields_of(cls)
    ns = cls.__dict__
    own = [f for f in fields if f.name in ns.get("__annotations__", {})]
    if slots:
        if "__slots__" in ns:
            raise TypeError(f"{cls.__name__} already specifies __slots__")
        body = {k: v for k, v in ns.items() if k not in ("__dict__", "__weakref__")}
        for f in own:
            body.pop(f.name, None)
        body["__slots__"] = tuple(f.name for f in own)
        new = type(cls)(cls.__name__, cls.__bases__, body)
        new.__qualname__ = cls.__qualname__
        cls = new
        for f in own:
            if f.lazy:
                if not frozen:
                    raise TypeError(f"{cls.__name__}.{f.name}: only a frozen record's field "
                                    "can be lazy")
                type.__setattr__(cls, f.name, _LazyField(cls.__dict__[f.name]))
    else:
        if any(f.lazy for f in own):
            raise TypeError(f"{cls.__name__}: only a slotted record's field can be lazy")
        for f in own:  # the class attribute is the default, as dataclasses leaves it
            if isinstance(ns.get(f.name), Field):
                if f.default is MISSING:
                    delattr(cls, f.name)
                else:
                    setattr(cls, f.name, f.default)
    names = tuple(f.name for f in fields)
    cls.__record_fields__ = tuple(fields)
    cls.__record_params__ = (frozen, eq)
    cls.__dataclass_fields__ = _AsDataclass("__dataclass_fields__")
    cls.__dataclass_params__ = _AsDataclass("__dataclass_params__")
    if not ns.get("__doc__"):
        type.__setattr__(cls, "__doc__", _Signature())
    if "__init__" not in ns:
        cls.__init__ = _LazyInit(cls, fields, frozen, slots)
    if "__repr__" not in ns:
        cls.__repr__ = _make_repr(tuple(f.name for f in fields if f.repr))
    if "__match_args__" not in ns:
        setattr(cls, "__match_args__", tuple(f.name for f in fields if f.init))  # noqa: B010
    class_hash = ns.get("__hash__", MISSING)
    explicit_hash = not (class_hash is MISSING or (class_hash is None and "__eq__" in ns))
    if eq:
        key = _key(tuple(f.name for f in fields if f.compare))
        if "__eq__" not in ns:
            cls.__eq__ = _make_eq(key)
        if not explicit_hash:
            cls.__hash__ = _make_hash(key) if frozen else None
    if frozen:
        for name in ("__setattr__", "__delattr__"):
            if name in ns:
                raise TypeError(f"cannot overwrite attribute {name} in class {cls.__name__}")
        cls.__setattr__, cls.__delattr__ = _make_frozen(cls, frozenset(names))
        if slots:
            if "__getstate__" not in ns:
                cls.__getstate__ = _make_getstate(names)
            if "__setstate__" not in ns:
                cls.__setstate__ = _make_setstate(names)
    return cls


class _LazyInit:
    """A record's ``__init__`` until it is first looked up (its first instance, or anything
    asking the class for it, as ``inspect.signature`` does): then made (:func:`_make_init`)
    and put in its place. Of the records a command imports, most are never made; each one
    not compiled is some 50 microseconds less to start ``ldsim``."""

    __slots__ = ("fields", "frozen", "owner", "slots")

    def __init__(self, owner: type, fields: list[Field], frozen: bool, slots: bool) -> None:
        self.owner, self.fields, self.frozen, self.slots = owner, fields, frozen, slots

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        init = _make_init(self.owner, self.fields, self.frozen, self.slots)
        type.__setattr__(self.owner, "__init__", init)
        return init if obj is None else init.__get__(obj, owner)


def _make_init(cls: Any, fields: list[Field], frozen: bool, slots: bool) -> Any:
    params: list[str] = []
    lines: list[str] = []
    glb: dict[str, Any] = {"_FACTORY": _FACTORY, "_osa": object.__setattr__}
    for f in fields:
        name = f.name
        if f.default is not MISSING:
            glb[f"_d_{name}"] = f.default
        if f.default_factory is not MISSING:
            glb[f"_f_{name}"] = f.default_factory
        if f.init:
            if f.default is not MISSING:
                params.append(f"{name}=_d_{name}")
                value = name
            elif f.default_factory is not MISSING:
                params.append(f"{name}=_FACTORY")
                value = f"_f_{name}() if {name} is _FACTORY else {name}"
            else:
                params.append(name)
                value = name
        elif f.default is not MISSING:
            value = f"_d_{name}"
        elif f.default_factory is not MISSING:
            value = f"_f_{name}()"
        else:
            continue  # no value until one is set (as dataclasses)
        slot = _slot(cls, name) if frozen and slots else None
        if slot is not None:
            glb[f"_s_{name}"] = slot.__set__  # the slot's own descriptor
            lines.append(f"_s_{name}(self, {value})")
        elif frozen:
            lines.append(f"_osa(self, {name!r}, {value})")
        else:
            lines.append(f"self.{name} = {value}")
    if hasattr(cls, "__post_init__"):
        lines.append("self.__post_init__()")
    src = f"def __init__(self, {', '.join(params)}):\n    " + ("\n    ".join(lines) or "pass")
    ns: dict[str, Any] = {}
    exec(compile(src, f"<record {cls.__qualname__}>", "exec"), glb, ns)
    init = ns["__init__"]
    init.__annotations__ = {**{f.name: f.type for f in fields if f.init}, "return": "None"}
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    return init


def _slot(cls: type, name: str) -> Any:
    """The member descriptor of slot ``name`` (None: not a slot)."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            found = klass.__dict__[name]
            if type(found) is _LazyField:
                found = found.slot  # __init__ stores what it is given, Lazy or not
            return found if type(found).__name__ == "member_descriptor" else None
    return None


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The values compared, as one tuple (``attrgetter`` of one name gives no tuple)."""
    if not names:
        return _empty
    if len(names) == 1:
        return attrgetter(names[0], names[0])
    return attrgetter(*names)


def _empty(_obj: object) -> tuple[()]:
    return ()


def _make_eq(key: Callable[[Any], tuple[Any, ...]]) -> Any:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented
    return __eq__


def _make_hash(key: Callable[[Any], tuple[Any, ...]]) -> Any:
    def __hash__(self: Any) -> int:
        return hash(key(self))
    return __hash__


_IN_REPR: set[tuple[int, int]] = set()  # (record, thread) whose repr is being made


def _make_repr(names: tuple[str, ...]) -> Any:
    def __repr__(self: Any) -> str:
        # a record met again inside its own repr is "...", as dataclasses writes it
        key = (id(self), get_ident())
        if key in _IN_REPR:
            return "..."
        _IN_REPR.add(key)
        try:
            inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        finally:
            _IN_REPR.discard(key)
        return f"{self.__class__.__qualname__}({inner})"
    return __repr__


def _frozen_error(message: str) -> Exception:
    import dataclasses  # only when something tries to change a frozen record

    return dataclasses.FrozenInstanceError(message)


def _make_frozen(cls: Any, names: frozenset[str]) -> tuple[Any, Any]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise _frozen_error(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise _frozen_error(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)
    return __setattr__, __delattr__


def _make_getstate(names: tuple[str, ...]) -> Any:
    def __getstate__(self: Any) -> list[Any]:
        return [getattr(self, name) for name in names]
    return __getstate__


def _make_setstate(names: tuple[str, ...]) -> Any:
    def __setstate__(self: Any, state: Any) -> None:
        for name, value in zip(names, state, strict=False):
            object.__setattr__(self, name, value)
    return __setstate__


class _AsDataclass:
    """``__dataclass_fields__`` or ``__dataclass_params__`` of a record: asked for, made by
    ``dataclasses`` from the record's fields (then a plain class attribute)."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: object, owner: type) -> Any:
        value = getattr(_as_dataclass(owner), self.attr)
        type.__setattr__(owner, self.attr, value)
        return value


class _Signature:
    """The ``__doc__`` of a record without a docstring, as ``dataclasses`` writes it (the
    class's name and signature), made when first read (``help``, ``pydoc``): ``inspect`` is
    imported then, not at start-up."""

    def __get__(self, obj: object, owner: type) -> str:
        import inspect

        try:
            text = str(inspect.signature(owner)).replace(" -> 'None'", "").replace(" -> None", "")
        except (TypeError, ValueError):
            text = "()"
        doc = owner.__name__ + text
        type.__setattr__(owner, "__doc__", doc)
        return doc


def _as_dataclass(cls: Any) -> type:
    import dataclasses

    frozen, eq = cls.__record_params__
    ns: dict[str, Any] = {"__annotations__": {}, "__module__": cls.__module__,
                          "__qualname__": cls.__qualname__}
    for f in cls.__record_fields__:
        ns["__annotations__"][f.name] = f.type
        kw: dict[str, Any] = {}
        if f.default is not MISSING:
            kw["default"] = f.default
        if f.default_factory is not MISSING:
            kw["default_factory"] = f.default_factory
        ns[f.name] = dataclasses.field(init=f.init, repr=f.repr, compare=f.compare, **kw)
    return dataclasses.dataclass(frozen=frozen, eq=eq)(type(cls.__name__, (), ns))


def replace(obj: _T, /, **changes: Any) -> _T:
    """As ``dataclasses.replace``: a new record with ``changes``, the other fields kept."""
    for f in obj.__record_fields__:  # type: ignore[attr-defined]
        if not f.init:
            if f.name in changes:
                raise ValueError(f"field {f.name} is declared with init=False, it cannot be "
                                 "specified with replace()")
        elif f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def asdict(obj: Any) -> dict[str, Any]:
    """As ``dataclasses.asdict``: the fields, records and containers within copied."""
    return {f.name: _asdict_inner(getattr(obj, f.name)) for f in obj.__record_fields__}


def _asdict_inner(value: Any) -> Any:
    if hasattr(type(value), "__record_fields__"):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_asdict_inner(v) for v in value])
    if isinstance(value, (list, tuple)):
        return type(value)(_asdict_inner(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_asdict_inner(k), _asdict_inner(v)) for k, v in value.items())
    import copy

    return copy.deepcopy(value)


def is_record(obj: object) -> bool:
    """Whether ``obj`` is a record or a record class."""
    return hasattr(obj if isinstance(obj, type) else type(obj), "__record_fields__")


__all__ = ["MISSING", "Field", "Lazy", "asdict", "field", "is_record", "lazy", "record",
           "replace"]
