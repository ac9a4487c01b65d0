"""The manual page ``ldsim(1)``, written in roff (man(7)) from the argument parser: every
command, option, choice and help text that the ``--help`` screens show, and the sections a
manual page has besides (exit status, environment, see also).

``scripts/gen_manpage.py`` writes it to ``ldsim/man/ldsim.1``, which ships in the package; a
test regenerates it and compares. The page is deterministic: no date, nothing from the
terminal's width or this machine.
"""

from __future__ import annotations

import argparse
import re

from ldsim._version import __version__

EXIT_STATUS = (
    ("0", "success: the program starts; nothing to report."),
    ("1", "a program does not start, a real run of it fails, something leaks or is "
     "reported: each command's section says what."),
    ("2", "bad usage or unreadable input (one line on standard error naming the file), or "
     "the output cannot be written (a full disk, a closed pipe)."),
    ("3", "an internal error, a bug in ldsim (one line on standard error; LDSIM_DEBUG=1 "
     "shows the traceback)."),
    ("130", "interrupted."),
)

ENVIRONMENT = (
    ("NO_COLOR", "when set and not empty, --color auto does not colour "
     "(https://no-color.org); neither does TERM=dumb."),
    ("COLUMNS", "the width text is wrapped to when --width is not given (else the terminal's "
     "width, else 80)."),
    ("LDSIM_DEBUG", "when set, an internal error prints its Python traceback, and scan "
     "--scheduler lets Dask's own log lines through (otherwise kept off the terminal: the "
     "scan says in one line what went wrong)."),
)

ENVIRONMENT_NOTE = (
    "The simulated process's environment is never taken from ldsim's own: its "
    "LD_LIBRARY_PATH and LD_PRELOAD are the --ld-library-path and --preload options "
    "(unset by default).")

SEE_ALSO = (("ld.so", "8"), ("ldd", "1"), ("ldconfig", "8"))


def render(parser: argparse.ArgumentParser) -> str:
    """The manual page of ``parser`` (``ldsim.cli.main.build_parser()``), as roff text."""
    name = parser.prog
    commands = _commands(parser)
    out = [
        '.\\" Generated from ldsim\'s argument parser by scripts/gen_manpage.py: do not edit.',
        f'.TH {name.upper()} 1 "" "{name} {__version__}" "User Commands"',
        ".SH NAME",
        _line(f"{name} - {_summary(parser.description or '')}"),
        ".SH SYNOPSIS",
        f".SY {name}",
        *[f".OP {_text(action.option_strings[0])}" for action in _optionals(parser)],
        ".YS",
    ]
    for cmd, sub, _ in commands:
        out += _synopsis(f"{name} {cmd}", sub)
    out += [".SH DESCRIPTION", *_paragraphs(parser.description or "", raw=False),
            ".PP", _line(f"The commands (`{name} COMMAND --help` prints the same as each "
                         "command's section below):")]
    for cmd, _, help_ in commands:
        out += [".TP", f"\\fB{_text(cmd)}\\fR", _line(help_)]
    out += [".SH OPTIONS", *_options(parser)]
    out.append(".SH COMMANDS")
    for cmd, sub, _ in commands:
        raw = isinstance(sub._get_formatter(), argparse.RawDescriptionHelpFormatter)
        out += [f'.SS "{name} {_text(cmd)}"', *_synopsis(f"{name} {cmd}", sub),
                *_paragraphs(sub.description or "", raw=raw), *_options(sub),
                *_paragraphs(sub.epilog or "", raw=raw)]
    out.append(".SH EXIT STATUS")
    for status, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{status}\\fR", _line(meaning)]
    out.append(".SH ENVIRONMENT")
    for var, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{var}\\fR", _line(meaning)]
    out += [".PP", _line(ENVIRONMENT_NOTE), ".SH SEE ALSO"]
    out.append(",\n".join(f".BR {page} ({section})" for page, section in SEE_ALSO))
    return "\n".join(out) + "\n"


def _commands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser,
                                                             str]]:
    """(name, parser, one-line help) of each subcommand, in the order ``--help`` lists them."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._get_subactions():
                if choice.help != argparse.SUPPRESS:
                    found.append((choice.dest, action._name_parser_map[choice.dest],
                                  choice.help or ""))
    return found


def _optionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.help != argparse.SUPPRESS]


def _synopsis(command: str, parser: argparse.ArgumentParser) -> list[str]:
    """``.SY command [options] ARGS``: the required options and the positional arguments
    (every option is listed in the command's section)."""
    out = [f".SY {_arg(command)}"]
    optionals = [a for a in _optionals(parser) if not isinstance(a, argparse._HelpAction)]
    for action in optionals:
        if action.required:
            out.append(f".B {_text(action.option_strings[0])}")
            if action.nargs != 0:
                out.append(f".I {_arg(_metavar(parser, action))}")
    if any(not a.required for a in optionals):
        out.append(".RI [ options ]")
    for action in parser._get_positional_actions():
        if action.help != argparse.SUPPRESS and not isinstance(action,
                                                               argparse._SubParsersAction):
            out.append(f"\\fI{_text(_metavar(parser, action))}\\fR")
    out.append(".YS")
    return out


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """Each argument of ``parser`` as ``.TP`` items, grouped as ``--help`` groups them; the
    groups other than the two standard ones get their title and description as a lead."""
    out = []
    formatter = parser._get_formatter()
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS
                   and not isinstance(a, argparse._SubParsersAction)]
        if parser._subparsers is None:  # a command: -h is said once, at the top level
            actions = [a for a in actions if not isinstance(a, argparse._HelpAction)]
        if not actions:
            continue
        if group not in (parser._positionals, parser._optionals) and group.title:
            lead = f"\\fI{_text(group.title[:1].upper() + group.title[1:])}:\\fR"
            if group.description:
                lead += " " + _text(" ".join(group.description.split()))
            out += [".PP", _safe(lead)]
        for action in actions:
            out += [".TP", _tag(parser, action)]
            if action.help:
                out.append(_line(" ".join(formatter._expand_help(action).split())))
    return out


def _tag(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.option_strings:
        return f"\\fI{_text(_metavar(parser, action))}\\fR"
    tag = ", ".join(f"\\fB{_text(s)}\\fR" for s in action.option_strings)
    if action.nargs != 0:
        tag += f" \\fI{_text(_metavar(parser, action))}\\fR"
    return _safe(tag)


def _metavar(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    formatter = parser._get_formatter()
    if action.option_strings:
        default = formatter._get_default_metavar_for_optional(action)
    else:
        default = formatter._get_default_metavar_for_positional(action)
    return formatter._format_args(action, default)


def _summary(description: str) -> str:
    """The NAME line's words: the description's first sentence, lower case first."""
    first = " ".join(description.split()).split(". ")[0].rstrip(".")
    return first[:1].lower() + first[1:]


def _paragraphs(text: str, *, raw: bool) -> list[str]:
    """Paragraphs of a description or epilog. Reflowed as ``--help`` reflows them, or, from a
    parser with a raw formatter, split at blank lines, with indented lines shown as
    examples (literal, in a monospace block)."""
    if not text.strip():
        return []
    if not raw:
        return [".PP", _line(" ".join(text.split()))]
    out = []
    for para in re.split(r"\n\s*\n", text.strip("\n")):
        out.append(".PP")
        prose: list[str] = []
        for line in para.splitlines():
            if line.startswith((" ", "\t")):
                if prose:
                    out.append(_line(" ".join(" ".join(prose).split())))
                    prose = []
                out += [".RS", ".EX", _safe(_text(line.strip())), ".EE", ".RE"]
            else:
                prose.append(line)
        if prose:
            out.append(_line(" ".join(" ".join(prose).split())))
    # consecutive examples form one block
    joined = "\n".join(out).replace("\n.EE\n.RE\n.RS\n.EX\n", "\n")
    return joined.split("\n")


def _arg(text: str) -> str:
    """A macro argument: quoted (a double quote in it doubled)."""
    return '"' + _text(text).replace('"', '""') + '"'


def _line(text: str) -> str:
    """One line of running text: escaped, `code` spans in bold."""
    parts = re.split(r"`([^`\n]+)`", text)
    out = "".join(f"\\fB{_text(p)}\\fR" if i % 2 else _text(p) for i, p in enumerate(parts))
    return _safe(out)


def _safe(line: str) -> str:
    """A text line that roff does not take for a request (a leading ``.`` or ``'``) or a
    break (a leading space)."""
    line = line.strip(" ")
    return "\\&" + line if line.startswith((".", "'")) else line


_ESCAPES = {"\\": "\\e", "-": "\\-", "'": "\\(aq", "`": "\\(ga", "^": "\\(ha", "~": "\\(ti"}


def _text(text: str) -> str:
    """Escape text for roff: backslashes, hyphen-minus as ``\\-`` (so options and paths are
    typed back as they are shown), quotes and accents as their ASCII selves, control
    characters as spaces, anything else outside printable ASCII as a Unicode escape."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        elif ch < " " or "\x7f" <= ch <= "\x9f":
            out.append(" ")
        else:
            out.append(f"\\[u{ord(ch):04X}]")
    return "".join(out)


__all__ = ["render"]
