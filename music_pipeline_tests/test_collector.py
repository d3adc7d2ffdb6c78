"""While a run executes, the objects its process held before are frozen out of the cyclic collector's full passes
(`core/collector.py`, through `EngineResource`); after the run they are collected as usual again."""

from __future__ import annotations

import gc

from dagster import asset, materialize

from music_pipeline.core import collector
from music_pipeline.core.resources import EngineResource


def test_a_run_freezes_what_existed_before_it_and_unfreezes_at_its_end():
    seen: dict[str, int] = {}

    @asset
    def probe(engine: EngineResource) -> None:
        seen["frozen"] = gc.get_freeze_count()
        seen["engine"] = engine.get().name

    assert gc.get_freeze_count() == 0
    result = materialize([probe], resources={"engine": EngineResource(kind="duckdb")})
    assert result.success
    assert seen["frozen"] > 10_000  # the modules, Dagster's objects, this test's: all the process held
    assert seen["engine"] == "duckdb"
    assert gc.get_freeze_count() == 0


def test_nested_holders_unfreeze_with_the_last():
    collector.freeze()
    collector.freeze()
    collector.unfreeze()
    assert gc.get_freeze_count() > 0
    collector.unfreeze()
    assert gc.get_freeze_count() == 0
    collector.unfreeze()  # one too many changes nothing
    assert gc.get_freeze_count() == 0
