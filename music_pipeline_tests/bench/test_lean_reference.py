"""The lean reference (benchmarks/reference/lean_duckdb.py, issue 25) computes what the product computes on clean data:
on the benchmark's generated lake (clean listens with exact duplicates and a skewed popularity, songs.csv with
repeated track ids and a song without a genre), its genre KPIs and top lists equal the pipeline's, every column,
and it keeps as many listens as validated_streams; the comparison notices one changed value."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest

from benchmarks.reference import compare, lean_duckdb
from music_pipeline_tests.helpers import run_all_steps
from music_pipeline_tools import sample_data, sample_reference

DAYS = ["2024-06-01", "2024-06-02"]


@pytest.fixture(scope="module")
def lakes(tmp_path_factory):
    base = tmp_path_factory.mktemp("lean")
    root = base / "lake"
    tracks = sample_reference.write_songs_csv(root / "raw/songs/songs.csv", seed=5, n_tracks=300)
    users = sample_reference.write_users_csv(root / "raw/users/users.csv", seed=5, n_users=400)
    for k, day in enumerate(DAYS):
        d = dt.date.fromisoformat(day)
        sample_data.write_stream_csv(
            root / f"raw/streams/{d:%Y/%m/%d}/listens.csv",
            seed=5 + k,
            start_date=d,
            days=1,
            listens_per_day=20_000,
            track_ids=tracks,
            user_ids=users,
        )
    run_all_steps(root, DAYS)
    out = base / "lean"
    done = lean_duckdb.run(str(root), str(out))
    return root, out, done


def test_lean_genre_kpis_equal_the_pipelines(lakes):
    root, out, done = lakes
    result = compare.compare_lean(str(root), str(out), DAYS)
    assert result["identical"], result
    assert result["rows"]["genre_daily_kpis"] > 10 and result["rows"]["top_genres_daily"] == 10
    assert (
        2 * result["rows"]["genre_daily_kpis"] < result["rows"]["top_songs_per_genre"] <= 3 * result["rows"]["genre_daily_kpis"]
    )
    # the generator's skewed draws repeat some (user, track, second): both drop the repeats
    assert result["rows"]["validated_streams"] == done["rows"]["listens"] < 40_000


def test_a_changed_kpi_is_found(lakes, tmp_path):
    import shutil

    root, out, _ = lakes
    changed = tmp_path / "lean"
    shutil.copytree(out, changed)
    path = next((changed / "genre_daily_kpis" / f"date={DAYS[1]}").glob("*.parquet"))
    table = pq.read_table(path)
    counts = table["unique_listeners"].to_pylist()
    counts[0] += 1
    pq.write_table(table.set_column(table.schema.get_field_index("unique_listeners"), "unique_listeners", [counts]), path)
    assert compare.compare_lean(str(root), str(changed), DAYS)["different"] == ["genre_daily_kpis"]
