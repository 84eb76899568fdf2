"""docs/campaign.md is generated from the key declarations and must be up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from jffs_driver.config_doc import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "campaign.md"


@pytest.mark.quick
def test_campaign_reference_is_generated_from_the_schema() -> None:
    assert DOC.read_text() == render(), (
        "docs/campaign.md is out of date: run `python -m jffs_driver.config_doc > docs/campaign.md`")
    assert "| `histogram_bins` | int | 200 |" in render()
