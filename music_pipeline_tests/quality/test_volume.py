"""volume_anomaly (issue 24): a day at 10 % of its recent days' volume fails the WARN check with both numbers
and gives one alert; days with fewer than 3 earlier published days pass with "not enough history"; a day
within 50-200 % of the median passes. One real Dagster range run, the alerts sensor ticked twice."""

from __future__ import annotations

from dagster import AssetKey, DagsterInstance, materialize

from music_pipeline.core import layout
from music_pipeline.core.dagster_internals import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG
from music_pipeline.lake.store import Lake
from music_pipeline_tests.arrival_harness import build_defs
from music_pipeline_tests.helpers import land, song_row, stream_csv, write_songs, write_users
from music_pipeline_tests.operations.test_alerts import BASE, texts, webhook  # noqa: F401 - the local webhook fixture
from music_pipeline_tests.operations_harness import OperationsHarness

DAYS = [f"2024-06-0{d}" for d in range(1, 9)]  # seven normal days, then a thin one
NORMAL, THIN = 20, 2


def listens(day: str, n: int) -> str:
    return stream_csv([(f"u{i}", "s1", f"{day} {10 + i // 60:02d}:{i % 60:02d}:00") for i in range(n)])


def test_a_thin_day_fails_the_volume_check_and_alerts_once(tmp_path, fresh_moto, webhook):  # noqa: F811
    url, received = webhook
    lake = Lake(str(tmp_path / "lake"))
    harness = OperationsHarness(
        build_defs(lake.uri, fresh_moto, MUSIC_PIPELINE_ALERT_WEBHOOK_URL=url, MUSIC_PIPELINE_WEBSERVER_URL=BASE),
        DagsterInstance.local_temp(str(tmp_path)),
    )
    harness.alert_ticks()  # the alert sensors start from "now"
    write_songs(lake, [song_row("s1", "pop")])
    write_users(lake, [f"u{i}" for i in range(NORMAL)])
    for day in DAYS:
        land(lake, f"{layout.RAW_STREAMS}/{day}.csv", listens(day, THIN if day == DAYS[-1] else NORMAL))
    defs = harness.defs
    result = materialize(
        [*defs.assets, *(defs.asset_checks or [])],
        instance=harness.instance,
        resources=defs.resources,
        selection=[AssetKey(name) for name in ("songs", "users", "raw_streams", "validated_streams")],
        tags={ASSET_PARTITION_RANGE_START_TAG: DAYS[0], ASSET_PARTITION_RANGE_END_TAG: DAYS[-1]},
    )
    assert result.success  # a WARN check does not fail the run
    volume = {e.partition: e for e in result.get_asset_check_evaluations() if e.check_name == "volume_anomaly"}
    assert sorted(volume) == DAYS
    for day in DAYS[:3]:
        assert volume[day].passed and volume[day].description.startswith("not enough history")
    for day in DAYS[3:-1]:
        assert volume[day].passed and f"{NORMAL} rows read on {day} = 100% of the median {NORMAL}" in volume[day].description
    thin = volume[DAYS[-1]]
    assert not thin.passed
    assert thin.description == (
        f"{THIN} rows read on {DAYS[-1]} = 10% of the median {NORMAL} of the previous 7 published days "
        f"({DAYS[0]}..{DAYS[-2]}), outside 50%-200%"
    )
    assert thin.metadata["rows_read"].value == THIN and thin.metadata["history_median"].value == NORMAL
    harness.alert_ticks()
    harness.alert_ticks()
    [message] = texts(received)
    assert message.startswith(f"[music_pipeline] volume anomaly: validated_streams {DAYS[-1]} (check volume_anomaly)\n")
    assert f"{THIN} rows read" in message and f"median {NORMAL}" in message
