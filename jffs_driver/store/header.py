"""The campaign header ``campaign.h5``: configuration, hash, versions, units; written once.

The header is built in memory and published with temp file + fsync + rename, so a store
either has a complete header or none (a directory without one is not a store yet). It ends
with a digest trailer (:mod:`.digest`) and says so in its ``integrity`` attribute; that
attribute also tells readers that every data file of the store must carry a trailer.
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
from pathlib import Path
from typing import Any, Mapping, Optional

import h5py
import numpy as np

from .. import __version__
from ..errors import StoreError, UsageError
from . import layout as L
from .digest import INTEGRITY, INTEGRITY_ATTR, check_file, damaged, read_trailer, trailer_for
from .durable import write_bytes_atomically
from .records import StoreHeader

VERSION_PREFIX = "version_"


def default_versions() -> dict[str, str]:
    """Versions the store can tell by itself (the caller adds LAMMPS's)."""
    return {"jffs_driver": __version__, "h5py": h5py.__version__, "numpy": np.__version__,
            "hdf5": h5py.version.hdf5_version}


def _check_units(units: Mapping[str, str]) -> dict[str, str]:
    missing = [k for k in L.REQUIRED_UNITS if k not in units]
    if missing:
        raise UsageError(f"units must name {', '.join(L.REQUIRED_UNITS)}; missing "
                         f"{', '.join(missing)} (e.g. {{'length': 'angstrom', 'time': 'fs', "
                         f"'velocity': 'angstrom/fs'}})")
    bad = {k: v for k, v in units.items() if not isinstance(v, str) or not v}
    if bad:
        raise UsageError(f"unit names must be non-empty strings, got {bad}")
    return dict(units)


def make_header(*, config_toml: str, config: Mapping[str, Any], config_hash: str,
                versions: Mapping[str, str], units: Mapping[str, str],
                info: Optional[Mapping[str, Any]]) -> StoreHeader:
    """Validate the header fields and fill in defaults (creation time, known versions)."""
    try:
        config_json = json.dumps(config, sort_keys=True, allow_nan=False)
        json.dumps(info or {}, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"config and info must be JSON-serialisable: {exc}") from exc
    merged = default_versions()
    merged.update({str(k): str(v) for k, v in versions.items()})
    created = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return StoreHeader(
        config=json.loads(config_json), config_toml=str(config_toml),
        config_hash=str(config_hash), versions=merged, units=_check_units(units),
        info=dict(info or {}), created=created, schema_version=L.SCHEMA_VERSION,
    )


def write_header(root: Path, header: StoreHeader) -> None:
    """Publish ``campaign.h5`` atomically."""
    with h5py.File(f"header-{uuid.uuid4().hex}.h5", "w", driver="core",
                   backing_store=False) as f:
        f.attrs["format"] = L.FORMAT_NAME
        f.attrs["schema_version"] = header.schema_version
        f.attrs["config_hash"] = header.config_hash
        f.attrs["created"] = header.created
        f.attrs[INTEGRITY_ATTR] = INTEGRITY
        for name, version in header.versions.items():
            f.attrs[VERSION_PREFIX + name] = version
        text = h5py.string_dtype()
        f.create_dataset("config/toml", data=header.config_toml, dtype=text)
        f.create_dataset("config/resolved_json",
                         data=json.dumps(dict(header.config), sort_keys=True), dtype=text)
        f.create_dataset("info_json", data=json.dumps(dict(header.info), sort_keys=True),
                         dtype=text)
        units = f.create_group("units")
        for kind, unit in header.units.items():
            units.attrs[kind] = unit
        f.flush()
        image = f.id.get_file_image()
    write_bytes_atomically(root / L.HEADER_FILE,
                           bytes(image) + trailer_for(image, {}).encode())


def read_header(root: Path) -> StoreHeader:
    """Read ``campaign.h5`` (checked against its digest)."""
    return load_header(root)[0]


def load_header(root: Path) -> tuple[StoreHeader, bool]:
    """Read ``campaign.h5``; also say whether the store was written with digests.

    Returns
    -------
    (StoreHeader, bool)
        The header, and True when the header carries a (verified) digest trailer, which
        means every data file of the store must carry one too.

    Raises
    ------
    DamagedFileError
        The header differs from its digest, cannot be read, or lost its trailer.
    StoreError
        ``root`` is not a store, or one of a newer layout.
    """
    path = root / L.HEADER_FILE
    if not path.is_file():
        raise StoreError(f"{root} is not a jffs campaign store ({L.HEADER_FILE} missing); "
                         "create one with `jffs init` / CampaignStore.create", path=str(root))
    trailer = read_trailer(path)
    if trailer is not None:
        check_file(path, trailer)  # a few kB: always checked in full
    try:
        with h5py.File(path, "r", locking=False) as f:
            if f.attrs.get("format") != L.FORMAT_NAME:
                if trailer is not None:
                    raise damaged(path, "no format attribute")
                raise StoreError(f"{path} is not a jffs campaign store header", path=str(path))
            if trailer is None and INTEGRITY_ATTR in f.attrs:
                raise damaged(path, "its digest trailer is missing or its end was overwritten")
            version = int(f.attrs["schema_version"])
            if version > L.SCHEMA_VERSION:
                raise StoreError(f"store schema version {version} is newer than this "
                                 f"jffs_driver supports ({L.SCHEMA_VERSION}); upgrade",
                                 path=str(path))
            return (StoreHeader(
                config=json.loads(f["config/resolved_json"].asstr()[()]),
                config_toml=f["config/toml"].asstr()[()],
                config_hash=str(f.attrs["config_hash"]),
                versions={k[len(VERSION_PREFIX):]: str(v) for k, v in f.attrs.items()
                          if k.startswith(VERSION_PREFIX)},
                units={k: str(v) for k, v in f["units"].attrs.items()},
                info=json.loads(f["info_json"].asstr()[()]),
                created=str(f.attrs["created"]), schema_version=version,
            ), trailer is not None)
    except StoreError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise damaged(path, f"HDF5 cannot read it: {exc}") from exc
