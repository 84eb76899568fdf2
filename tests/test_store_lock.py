"""Campaign store: exactly one writer; the lock names its holder and dies with it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest

from jffs_driver.errors import StoreError, StoreLockedError
from jffs_driver.store import CampaignStore

pytestmark = pytest.mark.quick

UNITS = {"length": "angstrom", "time": "fs", "velocity": "angstrom/fs"}

HOLDER = textwrap.dedent(
    """
    import sys, time
    from jffs_driver.store import CampaignStore
    store = CampaignStore.open(sys.argv[1], "a")
    print("locked", flush=True)
    time.sleep(120)
    """
)


def new_store(path):
    return CampaignStore.create(path, config_toml="", config={}, config_hash="h", versions={},
                                units=UNITS)


def test_second_writer_in_same_process_is_refused(tmp_path):
    path = tmp_path / "a.jffs"
    with new_store(path):
        with pytest.raises(StoreLockedError) as err:
            CampaignStore.open(path, "a")
        msg = str(err.value)
        assert f"process {os.getpid()} on host {socket.gethostname()}" in msg
        assert "wait for that process to finish or stop it" in msg
        assert err.value.context["holder_pid"] == str(os.getpid())
        assert isinstance(err.value, StoreError) and isinstance(err.value, OSError)
        with CampaignStore.open(path, "r") as reader:  # readers never lock
            assert reader.n_commits == 0
    with CampaignStore.open(path, "a"):  # released by close()
        pass


def test_lock_held_by_other_process_dies_with_it(tmp_path):
    path = tmp_path / "a.jffs"
    new_store(path).close()
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(StoreLockedError, match=f"process {child.pid} "):
            CampaignStore.open(path, "a")
        with pytest.raises(StoreLockedError):
            new_store(path)  # create also needs the lock (and the path is taken anyway)
        with CampaignStore.open(path, "r") as reader:
            assert reader.summary()["commits"] == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    with CampaignStore.open(path, "a") as store:  # kill -9 released the lock
        assert store.n_commits == 0
