"""Ids that begin with ``-`` taken as arguments: the older base64url request ids (one in 64
begins with ``-``) work with every command that takes an id (issue 14 section 3)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

# A request id of the older base64url form (32 characters; one in 64 begins with "-").
# At least 32 characters long, so that a mistyped option (--pasphrase-file) is still
# reported as "No such option", not taken for an id.
_ID_TOKEN = re.compile(r"^-[A-Za-z0-9_-]{31,}$")


def _options(params: list[Any]) -> tuple[dict[str, bool], tuple[str, ...]]:
    """({option name: whether it takes a value}, the short options that take a value)."""
    names: dict[str, bool] = {}
    for param in params:
        if getattr(param, "param_type_name", None) != "option":
            continue
        takes_value = not (getattr(param, "is_flag", False) or getattr(param, "count", False))
        for name in [*param.opts, *param.secondary_opts]:
            names[name] = takes_value
    short = tuple(n for n, v in names.items() if v and len(n) == 2 and n[1] != "-")
    return names, short


def ids_as_arguments(params: list[Any], args: list[str]) -> list[str]:
    """``args`` with every token that is no option of this command but looks like an id
    (``-`` then 31 or more letters, digits, ``-`` or ``_``) read as an argument.

    Such a token would otherwise fail with "No such option". The options come first, then
    ``--``, then the arguments in their order; ``--`` given by the user keeps its meaning
    (everything after it is an argument), and so does a short option's attached value
    (``-oFILE``). When there is no such token, ``args`` is returned as it is.
    """
    names, short = _options(params)
    options: list[str] = []
    arguments: list[str] = []
    moved = False
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            arguments.extend(args[i + 1 :])
            break
        if word in names:
            options.append(word)
            if names[word] and i + 1 < len(args):
                options.append(args[i + 1])  # its value, whatever it looks like
                i += 1
        elif word.startswith("--") and word.split("=", 1)[0] in names:
            options.append(word)
        elif _ID_TOKEN.match(word) and not word.startswith(short):
            arguments.append(word)
            moved = True
        elif word.startswith("-") and word != "-":
            options.append(word)  # a short option's cluster or value, or an unknown option
        else:
            arguments.append(word)
        i += 1
    if not moved:
        return args
    return [*options, "--", *arguments]


def accept_dash_ids(command: Any) -> None:
    """Make every command under ``command`` take ids that begin with ``-`` as arguments
    (:func:`ids_as_arguments`): ``padlock review reject -_gaab... --reason R`` works."""
    subcommands = getattr(command, "commands", None)
    if subcommands is not None:
        for sub in subcommands.values():
            accept_dash_ids(sub)
        return
    parse: Callable[[Any, list[str]], list[str]] = command.parse_args

    def parse_args(ctx: Any, args: list[str]) -> list[str]:
        return parse(ctx, ids_as_arguments(command.get_params(ctx), args))

    setattr(command, "parse_args", parse_args)  # noqa: B010 - an instance's own parser
