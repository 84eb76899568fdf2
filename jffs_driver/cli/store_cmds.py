"""``jffs verify`` and ``jffs salvage``: check a store file by file, copy its intact part.

Both only read the store they check (no writer lock, nothing modified). Exit codes: 0 intact
(``verify``) or copied (``salvage``), 2 bad arguments, 4 damaged or unreadable store.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError


def _mb(n: int) -> str:
    return f"{n / 1e6:.3g} MB"


def _print_report(report: Any, all_files: bool) -> None:
    order = {"damaged": 0, "unverified": 1, "superseded": 2, "ignored": 3, "ok": 4}
    shown = [f for f in report.files if all_files or f.status != "ok"]
    for f in sorted(shown, key=lambda f: (order[f.status], f.first_commit, f.name)):
        click.echo(f"  {f.status.upper() if f.status == 'damaged' else f.status:<10} {f.name}: {f.detail}")
    ok = [f for f in report.files if f.status == "ok"]
    if ok and not all_files:
        click.echo(f"  ok         {len(ok)} file(s), {_mb(sum(f.size_bytes for f in ok))}: every byte "
                   "matches the digest written at commit")
    intact = (f"commits 1..{report.intact_commits}" if report.intact_commits else "no commits")
    click.echo(f"intact: {intact}, {report.intact_configs} configurations, {report.intact_trials} "
               f"trial records, {report.intact_basin} basin segments")
    unverified = report.count("unverified")
    if unverified:
        click.echo(f"note: {unverified} file(s) were written before stores carried digests; they "
                   "read back completely and their HDF5 checksums pass, but byte-level damage in "
                   "them cannot be excluded")


@click.command("verify")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@click.option("--files", "all_files", is_flag=True, help="List every file, also the intact ones.")
def verify(store: Path, as_json: bool, all_files: bool) -> None:
    """Check every file of STORE: digests, HDF5 checksums, continuity of commits and ids.

    Says which commits are intact. Read-only (no lock; works while `jffs run` writes).
    Exit code 0 when the store is intact, 4 when anything is damaged or missing.
    """
    from ..store.integrity import check_store  # noqa: PLC0415

    report = check_store(store)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        click.echo(f"store {store}: {'intact' if report.ok else 'DAMAGED'} "
                   f"({len(report.files)} files checked)")
        _print_report(report, all_files)
        for p in report.problems:
            click.echo(f"problem: {p}", err=True)
        if not report.ok and report.header_ok:
            click.echo(f"to continue from the intact commits: jffs salvage {store} NEW_STORE, then "
                       "jffs run CAMPAIGN.toml --store NEW_STORE (the lost work is redone "
                       "identically)", err=True)
    if not report.ok:
        sys.exit(4)


@click.command("salvage")
@click.argument("store", type=click.Path(path_type=Path))
@click.argument("new_store", type=click.Path(path_type=Path))
def salvage(store: Path, new_store: Path) -> None:
    """Copy the longest intact prefix of commits of STORE into a new store NEW_STORE.

    `jffs run CAMPAIGN.toml --store NEW_STORE` then continues the campaign and redoes the lost
    work identically. STORE is only read. Exit codes: 0 copied, 2 NEW_STORE not usable,
    4 STORE unreadable (e.g. its header is damaged).
    """
    from ..store.salvage import salvage as do_salvage  # noqa: PLC0415

    if not (store / "campaign.h5").is_file():
        raise UsageError(f"{store} is not a jffs store (no campaign.h5 inside); pass the store "
                         "directory that 'jffs run' created")
    res = do_salvage(store, new_store)
    lost = (f"; {res.lost_commits} later commit(s) were not intact and are left behind"
            if res.lost_commits else "" if res.report.ok else "; the damaged part is left behind")
    click.echo(f"copied commits 1..{res.commits} ({res.configs} configurations, {res.trials} "
               f"trial records, {res.basin} basin segments, {len(res.files)} files) into "
               f"{new_store}{lost}")
    if res.unverified:
        click.echo(f"note: {res.unverified} copied file(s) carry no digest (older store)")
    click.echo(f"continue with: jffs run CAMPAIGN.toml --store {new_store}")
