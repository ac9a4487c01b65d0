"""Dynamic string tokens, glibc rules (rule 9 of ``docs/loader-model.md``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ldsim.loader.tokens import TokenValues, count_dst, is_trusted, substitute

V = TokenValues(origin="/opt/app/bin", platform="x86_64", lib="lib/x86_64-linux-gnu")


def test_origin_forms() -> None:
    assert substitute("$ORIGIN/../lib", V) == "/opt/app/bin/../lib"
    assert substitute("${ORIGIN}/../lib", V) == "/opt/app/bin/../lib"
    assert substitute("$ORIGIN_x", V) == "$ORIGIN_x"  # not a token: stays literal
    assert substitute("$ORIGINX", V) == "$ORIGINX"
    assert substitute("${ORIGIN", V) == "${ORIGIN"


def test_lib_platform_unknown() -> None:
    assert substitute("/x/$LIB", V) == "/x/lib/x86_64-linux-gnu"
    assert substitute("/x/$PLATFORM/y", V) == "/x/x86_64/y"
    assert substitute("/x/$FOO", V) == "/x/$FOO"
    assert count_dst("/x/$FOO:$LIB:${PLATFORM}") == 2


def test_missing_value_drops_element() -> None:
    assert substitute("$ORIGIN/lib", TokenValues(None, "x86_64", "lib")) == ""


def test_secure_origin_rules() -> None:
    trusted = ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib")
    exe = TokenValues("/usr/lib/myapp/bin", "x86_64", "lib", True, True, trusted)
    assert substitute("$ORIGIN/../lib", exe) == "/usr/lib/myapp/bin/../lib"
    untrusted = TokenValues("/opt/app/bin", "x86_64", "lib", True, True, trusted)
    assert substitute("$ORIGIN/../lib", untrusted) == ""
    lib = TokenValues("/opt/app/lib", "x86_64", "lib", True, False, trusted)
    assert substitute("$ORIGIN/x", lib) == "/opt/app/lib/x"
    assert substitute("/a/$ORIGIN", lib) == ""  # not first in the element
    assert is_trusted("/usr/lib/myapp/bin/../lib", trusted)
    assert not is_trusted("/usr/lib/../../opt", trusted)


@given(st.text(alphabet="$ORIGINLBPATFM{}/_x", max_size=30))
def test_substitute_never_crashes_and_keeps_tokenless_text(s: str) -> None:
    out = substitute(s, V)
    if count_dst(s) == 0:
        assert out == s
