"""The daily schedule (yesterday through the whole graph; on by default only where the arrival sensors are off)
and the freshness expectation on the serving tables (Dagster time-partition freshness checks, evaluated by the
freshness sensor's runs, alerted once per incident)."""

from __future__ import annotations

import datetime as dt

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    build_schedule_context,
    materialize,
)

from music_pipeline.core import registry
from music_pipeline.core.settings import Settings
from music_pipeline.definitions import build_definitions
from music_pipeline.lake.store import Lake
from music_pipeline.serving import tables as serving_tables
from music_pipeline.serving.dynamodb import ServingTables
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations_harness import OperationsHarness


def statuses(environ: dict) -> dict[str, object]:
    defs = build_definitions(Settings.from_env(environ))
    out = {s.name: s.default_status for s in defs.sensors}
    out.update({s.name: s.default_status for s in defs.schedules})
    return out


def test_the_schedule_is_on_by_default_only_where_the_arrival_sensors_are_off():
    folder = statuses({})
    assert folder["daily_schedule"] == DefaultScheduleStatus.STOPPED
    assert folder["stream_files_sensor"] == folder["reference_files_sensor"] == DefaultSensorStatus.RUNNING
    s3 = statuses({"MUSIC_PIPELINE_LAKE": "s3://bucket/lake"})
    assert s3["daily_schedule"] == DefaultScheduleStatus.RUNNING
    assert s3["stream_files_sensor"] == s3["reference_files_sensor"] == DefaultSensorStatus.STOPPED
    assert s3["serving_freshness_sensor"] == DefaultSensorStatus.RUNNING
    for environ in ({}, {"MUSIC_PIPELINE_LAKE": "s3://bucket/lake"}):  # alerts are on everywhere
        assert {statuses(environ)[n] for n in ("alerts_sensor", "run_failure_alert_sensor")} == {DefaultSensorStatus.RUNNING}
    assert statuses({"MUSIC_PIPELINE_DAILY_SCHEDULE": "on"})["daily_schedule"] == DefaultScheduleStatus.RUNNING


def test_the_daily_schedule_materializes_yesterday_through_the_whole_graph(tmp_path, fresh_moto):
    lake = Lake(str(tmp_path / "lake"))
    write_songs(lake, [song_row("s1", "pop"), song_row("s2", "rock", index=1)])
    write_users(lake, ["u1", "u2"])
    land(
        lake,
        "raw/streams/2024/06/02/a.csv",
        stream_csv(
            [("u1", "s1", "2024-06-02 08:00:00"), ("u2", "s2", "2024-06-02 09:00:00"), ("u2", "s1", "2024-06-03 00:10:00")]
        ),
    )
    defs = build_defs(lake.uri, fresh_moto, MUSIC_PIPELINE_SCHEDULE_TIME="01:30")
    schedule = defs.resolve_schedule_def("daily_schedule")
    assert schedule.cron_schedule == "30 1 * * *"
    tick = dt.datetime(2024, 6, 3, 1, 30, tzinfo=dt.UTC)
    [request] = schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=tick)).run_requests
    assert request.partition_key == "2024-06-02"
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("daily_job").execute_in_process(
        partition_key=request.partition_key, instance=instance, tags=request.tags
    )
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert materialized == {a.key.to_user_string() for a in defs.assets}  # songs and users included
    items = ServingTables(endpoint_url=fresh_moto).day_items(serving_tables.DAILY_GENRE_KPIS_SERVING.table, "2024-06-02")
    assert {i["genre"]: int(i["listen_count"]) for i in items} == {"pop": 1, "rock": 1}  # the 3rd listen is 06-03


def test_missed_freshness_is_alerted_once_and_closes_when_the_day_is_published(tmp_path, fresh_moto):
    h = OperationsHarness(
        build_defs(str(tmp_path / "lake"), fresh_moto, MUSIC_PIPELINE_FRESHNESS_DEADLINE="06:00"), DagsterInstance.ephemeral()
    )
    check = next(c for c in h.defs.asset_checks if any(k.name == "freshness_check" for k in c.check_keys))
    assert {k.asset_key.to_user_string() for k in check.check_keys} == set(registry.SERVING_ASSETS)
    h.alert_ticks()
    h.tick_sensor("serving_freshness_sensor")  # nothing was ever published: every serving table is overdue
    assert [(job, ok) for job, _, ok in h.outcomes] == [("checks", True)]  # a failed WARN check fails no run
    h.alert_ticks()
    h.alert_ticks()
    alerts = [e for e in h.asset_events if "music_pipeline/alert" in e.metadata]
    assert sorted((e.asset_key.to_user_string(), e.metadata["music_pipeline/alert"].value) for e in alerts) == sorted(
        (name, "freshness missed") for name in registry.SERVING_ASSETS
    )
    # the days are published (the latest two, whichever side of the deadline the clock is): the checks pass
    today = dt.datetime.now(dt.UTC).date()
    for name in registry.SERVING_ASSETS:
        for back in (1, 2):
            h.instance.report_runless_asset_event(
                AssetMaterialization(asset_key=AssetKey(name), partition=(today - dt.timedelta(days=back)).isoformat())
            )
    run = materialize(
        [*h.defs.assets, check],
        instance=h.instance,
        resources=h.defs.resources,
        selection=AssetSelection.checks(*check.check_keys),
    )
    assert [e.passed for e in run.get_asset_check_evaluations()] == [True] * len(registry.SERVING_ASSETS)
    before = len(h.asset_events)
    h.alert_ticks()
    assert h.asset_events[before:] == []
