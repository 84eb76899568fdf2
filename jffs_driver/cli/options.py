"""Option types and renamed options shared by the ``jffs`` commands (one convention for units).

Membrane lengths at the command line are in angstrom: :data:`LENGTH` takes ``-4.1`` as -4.1 A
and ``-0.41nm`` as -4.1 A (:func:`jffs_driver.units.parse_length_A`); :data:`LENGTHS` takes a
comma-separated list of such lengths. Each quantity has one option name across commands
(docs/correction.md lists the length options). An old option name that had another unit is refused
(:func:`refused`, exit code 2, the message names the new option and its unit), so a script
written for nm never runs silently with A; an old name with the same meaning stays a hidden
alias that prints one line naming the new option.
"""

from __future__ import annotations

from typing import Any, Optional

import click

from ..errors import UsageError
from ..units import parse_length_A

#: How every length option states its unit in ``--help`` (the same words everywhere).
LENGTH_HELP = "A (or with the suffix nm, e.g. 0.41nm)"


class LengthType(click.ParamType):
    """A length in A; a bare number is A, nm needs the suffix (``-0.41nm``)."""

    name = "length"

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:  # click 8.1 and 8.2
        return "LENGTH"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> float:
        try:
            return parse_length_A(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class LengthListType(click.ParamType):
    """Comma-separated lengths, each in A or with the suffix nm (``5,8.44,1.2nm``)."""

    name = "lengths"

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "LENGTH[,LENGTH...]"

    def convert(self, value: Any, param: Optional[click.Parameter], ctx: Optional[click.Context]) -> list[float]:
        if isinstance(value, (list, tuple)):
            return [parse_length_A(v) for v in value]
        items = [item.strip() for item in str(value).split(",") if item.strip()]
        if not items:
            self.fail("is empty; give lengths in A separated by commas, e.g. 5,8.4,11 (or 0.5nm,0.84nm)", param, ctx)
        out = []
        for item in items:
            try:
                out.append(parse_length_A(item))
            except ValueError as exc:
                self.fail(f"{exc}; separate several lengths by commas, e.g. 5,8.4,11", param, ctx)
        return out


LENGTH = LengthType()
LENGTHS = LengthListType()


def attach(*options: click.Option) -> Any:
    """Decorator: add ready-made :class:`click.Option` objects (the renamed options) to a command."""
    def wrap(f: Any) -> Any:
        f.__click_params__ = getattr(f, "__click_params__", []) + list(reversed(options))
        return f
    return wrap


def refused(old: str, new: str, old_unit: str, new_unit: str = LENGTH_HELP) -> click.Option:
    """A hidden option ``old`` that stops the command with exit code 2: it had another unit.

    Used where a quantity was renamed *and* changed its unit: taking the old number silently
    would be off by the unit ratio, so the message says what to write instead.
    """
    def _refuse(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None:
            return
        raise UsageError(f"{old} ({old_unit}) is no longer accepted: use {new} in {new_unit}; "
                         f"e.g. {old} {value} is {new} {value}{'nm' if old_unit == 'nm' else ''}", option=old)

    # its own parameter name: the new option may use the old one's (``z_c``), and click keys values by name
    dest = "refused_" + old.lstrip("-").replace("-", "_")
    return click.Option([old, dest], type=str, default=None, hidden=True, expose_value=False, callback=_refuse,
                        help=f"Replaced by {new} ({new_unit}).")


def deprecated(old: str, new: str, dest: str, type: Any = None) -> click.Option:
    """A hidden option ``old`` with the same meaning as ``new``: its value goes to parameter ``dest``.

    Prints one line on stderr naming the new option. The command resolves ``dest`` against
    the new option's value with :func:`prefer`.
    """
    def _note(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            click.echo(f"jffs: note: {old} is deprecated; use {new}", err=True)
        return value

    return click.Option([old, dest], type=type, default=None, hidden=True, callback=_note,
                        help=f"Deprecated: use {new}.")


def prefer(new_value: Any, new: str, old_value: Any, old: str) -> Any:
    """The value of option ``new``, or of its deprecated alias ``old``; both given is an error."""
    if new_value is not None and old_value is not None:
        raise UsageError(f"{new} and its old name {old} were both given; keep only {new}", option=new)
    return new_value if new_value is not None else old_value
