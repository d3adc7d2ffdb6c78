"""Review of rejected rows (issue 26, item 4): `music-pipeline rejects` lists a day's (or a range's) rejected
rows by reason with counts and samples; `--mark-reviewed` records who reviewed a reason's rows and when
(kept in the lake, the rows untouched); a corrected file landed under the same key replaces the rows, and the
review of what is gone no longer shows."""

from __future__ import annotations

import json

import pytest

from music_pipeline.core import layout
from music_pipeline_tests.helpers import land, song_row, stream_csv, validate, write_songs, write_users
from music_pipeline_tools import cli

D1, D2 = "2024-06-01", "2024-06-02"
KEY = f"{layout.RAW_STREAMS}/{D1}.csv"
ROWS_D1 = [
    ("u1", "s1", f"{D1} 10:00:00"),
    ("u1", "nope", f"{D1} 10:05:00"),  # unknown_track_id
    ("u2", "nope", f"{D1} 10:06:00"),  # unknown_track_id
    ("", "s1", f"{D1} 10:07:00"),  # missing_user_id
    ("u2", "s1", "yesterday-ish"),  # unparseable_listen_time: no readable day
]
ROWS_D2 = [("u9", "s1", f"{D2} 11:00:00")]  # unknown_user_id


def rejects(monkeypatch, capsys, lake_root, *args: str) -> list[dict]:
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", str(lake_root))
    assert cli.main(["rejects", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def lake_root(tmp_path):
    root = tmp_path / "lake"
    write_songs(root, [song_row("s1", "pop")])
    write_users(root, ["u1", "u2"])
    land(root, KEY, stream_csv(ROWS_D1))
    land(root, f"{layout.RAW_STREAMS}/{D2}.csv", stream_csv(ROWS_D2))
    validate(root, [D1, D2])
    return root


def test_rejected_rows_by_reason_reviewed_then_replaced_by_a_corrected_file(lake_root, monkeypatch, capsys):
    listed = rejects(monkeypatch, capsys, lake_root, "--date", D1, "--until", D2)
    assert [(g["date"], g["reason"], g["rows"], g["status"]) for g in listed] == [
        (D1, "missing_user_id", 1, "to review"),
        (D1, "unknown_track_id", 2, "to review"),
        (D2, "unknown_user_id", 1, "to review"),
    ]
    unknown = next(g for g in listed if g["reason"] == "unknown_track_id")
    assert [(r["source_line"], r["track_id"]) for r in unknown["sample"]] == [(3, "nope"), (4, "nope")]
    assert all(r["source_file"] == KEY for r in unknown["sample"])

    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", str(lake_root))
    assert (
        cli.main(["rejects", "--date", D1, "--reason", "unknown_track_id", "--mark-reviewed", "--by", "ana", "--note", "typo"])
        == 0
    )
    assert capsys.readouterr().out.startswith(f"{D1} unknown_track_id: 2 rows reviewed by ana at ")
    [group] = rejects(monkeypatch, capsys, lake_root, "--date", D1, "--reason", "unknown_track_id")
    assert (group["status"], group["review"]["by"], group["review"]["note"], group["review"]["rows"]) == (
        "reviewed",
        "ana",
        "typo",
        2,
    )
    assert (lake_root / "bad-records/_reviews" / D1 / "unknown_track_id.json").exists()
    assert (lake_root / "bad-records/validated_streams" / f"date={D1}" / "data.parquet").exists()  # rows kept

    # a corrected file under the same key: its content replaces the slices and rejects of the old one
    land(lake_root, KEY, stream_csv([r if r[1] != "nope" else (r[0], "s1", r[2]) for r in ROWS_D1]))
    validate(lake_root, [D1])
    assert [(g["reason"], g["rows"]) for g in rejects(monkeypatch, capsys, lake_root, "--date", D1)] == [("missing_user_id", 1)]


def test_a_review_needs_a_reason_and_a_reviewer(lake_root, monkeypatch, capsys):
    monkeypatch.setenv("MUSIC_PIPELINE_LAKE", str(lake_root))
    assert cli.main(["rejects", "--date", D1, "--mark-reviewed", "--by", "ana"]) == 2
    assert "--mark-reviewed needs --reason" in capsys.readouterr().err
    assert cli.main(["rejects", "--date", D1, "--reason", "unknown_track_id", "--mark-reviewed"]) == 2
    assert "needs a reviewer" in capsys.readouterr().err
    assert not (lake_root / "bad-records/_reviews").exists()
