"""The typed model description (architecture issue item 1; :mod:`jffs_driver.models.description`).

One frozen record per model, stored as JSON in the store header with a schema version, read
back by every consumer with one time step and one unit system. Checked: the JSON round trip of
each model's description (built by the real model setups), the reading of stores written
before the schema existed (units text under ``units``, missing time steps taken from the
configuration or the model type's default), that unknown keys survive, and that a toy
campaign's store holds schema 1 and gives the same time step to ``jffs results`` as the
scheduler used.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from jffs_driver.config import load_config
from jffs_driver.models import make_model
from jffs_driver.models.description import (
    DESCRIPTION_SCHEMA, BrownianDescription, MembraneDescription, ModelDescription, ToyChainDescription,
    as_description, description_from_json, stored_description,
)

DATA = Path(__file__).parent / "data"


@pytest.mark.quick
@pytest.mark.parametrize("name, cls, units, timestep", [
    ("toy_chain.toml", ToyChainDescription, "toy", 1.0),
    ("brownian_small.toml", BrownianDescription, "lj", None),
])
def test_model_setups_give_typed_descriptions_that_round_trip(name: str, cls: type, units: str,
                                                             timestep: float | None) -> None:
    config, _text = load_config(DATA / name)
    setup = make_model(config.model, config.interfaces, config.engine, with_exact=False)
    d = setup.description
    assert type(d) is cls and d.units == units == setup.units and d.schema == DESCRIPTION_SCHEMA
    want = timestep if timestep is not None else float(config.model["timestep"])
    assert d.timestep == want and d.has_timestep
    js = d.to_json()
    assert js["schema"] == DESCRIPTION_SCHEMA and js["units"] == units and js["type"] == d.type
    assert description_from_json(js) == d


@pytest.mark.quick
def test_membrane_description_round_trip_keeps_every_key_readers_use() -> None:
    d = MembraneDescription(type="membrane", units="real", timestep=1.0, units_text="real (A, fs)",
                            temperature_K=300.0, system="/x/system", preset="tiny", build_seed=4, natoms=2406,
                            replica_files=("/x/r0.data", "/x/r1.data"),
                            pore={"xc_A": 1.0, "yc_A": 2.0, "radius_A": 3.35, "z_in_A": 40.0, "z_out_A": 46.7,
                                  "lx_A": 22.1, "ly_A": 21.3, "length_A": 6.7},
                            filtrate_z_A=46.7, feed_z_A=40.0, groups={"ions": [1, 18], "cations": [1, 9]},
                            species={"cation": "Na+", "anion": "Cl-"}, lammps_args=("-sf", "omp"))
    js = d.to_json()
    # the keys every store has held (analyses written against them keep working)
    for key in ("type", "timestep", "temperature_K", "system", "natoms", "replica_files", "pore", "groups",
                "species", "lammps_args", "filtrate_z_A", "feed_z_A"):
        assert key in js
    assert js["replica_files"] == ["/x/r0.data", "/x/r1.data"] and js["lammps_args"] == ["-sf", "omp"]
    assert description_from_json(js) == d and as_description(js) == d and as_description(d) is d


@pytest.mark.quick
def test_stores_written_before_the_schema_are_read_with_one_rule() -> None:
    # schema 0: units in words under "units"; the unit system follows from the type
    old_membrane = {"type": "membrane", "units": "real (A, fs, kcal/mol, e)", "timestep": 2.0,
                    "temperature_K": 298.0, "pore": {"lx_A": 20.0}, "groups": {}, "species": {}}
    d = description_from_json(old_membrane)
    assert isinstance(d, MembraneDescription) and d.schema == 0
    assert (d.units, d.units_text, d.timestep, d.temperature_K) == ("real", "real (A, fs, kcal/mol, e)", 2.0, 298.0)
    # no time step stored: the configuration's, else the type's default, else unknown (NaN)
    assert description_from_json({"type": "brownian"}, {"type": "brownian", "timestep": 0.002}).timestep == 0.002
    assert description_from_json({"type": "membrane"}, {"timestep_fs": 0.5}).timestep == 0.5
    assert description_from_json({"type": "toy-chain"}).timestep == 1.0
    unknown = description_from_json({}, {"type": "brownian"})
    assert unknown.type == "brownian" and math.isnan(unknown.timestep) and not unknown.has_timestep
    # keys this version does not know are kept and written back
    future = description_from_json({"type": "toy-chain", "schema": 1, "units": "toy", "timestep": 1.0,
                                    "start_site": 3, "new_key": [1, 2]})
    assert future.extra == {"new_key": [1, 2]} and future.to_json()["new_key"] == [1, 2]
    other = description_from_json({"type": "some-plugin", "schema": 1, "units": "lj", "timestep": 0.1})
    assert type(other) is ModelDescription and other.units == "lj"


@pytest.mark.quick
def test_a_campaign_stores_schema_1_and_results_use_its_time_step(tmp_path: Path) -> None:
    from jffs_driver.campaign import run_campaign
    from jffs_driver.results import compute_results
    from jffs_driver.store import CampaignStore

    text = (DATA / "toy_chain.toml").read_text().replace("steps_per_run = 40000", "steps_per_run = 4000") \
        .replace("segment_steps = 20000", "segment_steps = 2000").replace("target_successes = 50", "target_successes = 5")
    toml = tmp_path / "toy.toml"
    toml.write_text(text)
    config, config_text = load_config(toml)
    run_campaign(config, config_text, store_path=tmp_path / "toy.jffs", max_work=200)
    with CampaignStore.open(tmp_path / "toy.jffs", mode="r") as st:
        stored = dict(st.header.info)["model"]
        d = stored_description(dict(st.header.info))
    assert stored["schema"] == DESCRIPTION_SCHEMA and stored["units"] == "toy"
    assert isinstance(d, ToyChainDescription) and d.timestep == 1.0
    out = compute_results(tmp_path / "toy.jffs", n_bootstrap=0)
    # basin time (steps x timestep) is what results report, in the description's step
    assert out["basin"]["steps"] > 0 and out["basin"]["time"] == pytest.approx(out["basin"]["steps"] * d.timestep)
