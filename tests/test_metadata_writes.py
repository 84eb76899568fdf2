"""metadata.json of a build is rewritten by every equilibration job (``jffs equilibrate --first``
splits replicas over jobs): concurrent writers must never fail nor expose a partial file."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from jffs_driver.system.builder import load_metadata, write_metadata

WRITERS, WRITES = 4, 150


def _writer(out: str, who: int, start) -> None:
    start.wait()
    for i in range(WRITES):
        # a metadata-sized payload, so that a write takes several system calls
        write_metadata(out, {"writer": who, "write": i, "pad": ["x" * 64] * 200})


@pytest.mark.quick
def test_concurrent_metadata_writers_neither_fail_nor_expose_a_partial_file(tmp_path: Path) -> None:
    write_metadata(tmp_path, {"writer": -1, "write": -1, "pad": []})
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, start)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    start.set()
    reads = 0
    while any(p.is_alive() for p in procs) or reads == 0:
        meta = load_metadata(tmp_path)            # raises on a partial file (JSONDecodeError)
        assert -1 <= meta["writer"] < WRITERS
        reads += 1
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * WRITERS      # no writer lost its temp file
    last = json.loads((tmp_path / "metadata.json").read_text())
    assert last["write"] == WRITES - 1
    assert sorted(x.name for x in tmp_path.iterdir()) == ["metadata.json"]   # no temp file left behind
