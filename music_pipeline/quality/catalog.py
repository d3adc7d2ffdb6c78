"""Every asset check by asset: name, whether it blocks downstream assets, what it asserts.

Light on purpose (no pandera, no duckdb): `defs/checks.py` builds the Dagster specs from it when
the code location loads; `rules.py` implements each entry.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

MAX_REJECTED_SHARE_ENV = "MUSIC_PIPELINE_MAX_REJECTED_SHARE"
DEFAULT_MAX_REJECTED_SHARE = 0.05
NEAR_DUPLICATE_SECONDS_ENV = "MUSIC_PIPELINE_NEAR_DUPLICATE_SECONDS"
DEFAULT_NEAR_DUPLICATE_SECONDS = 5


@dataclass(frozen=True)
class CheckDef:
    name: str
    blocking: bool
    description: str


@dataclass(frozen=True)
class Thresholds:
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE
    near_duplicate_seconds: int = DEFAULT_NEAR_DUPLICATE_SECONDS

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Thresholds":
        env = os.environ if environ is None else environ
        share = env.get(MAX_REJECTED_SHARE_ENV, str(DEFAULT_MAX_REJECTED_SHARE))
        seconds = env.get(NEAR_DUPLICATE_SECONDS_ENV, str(DEFAULT_NEAR_DUPLICATE_SECONDS))
        try:
            max_share = float(share)
        except ValueError as exc:
            raise ValueError(f"{MAX_REJECTED_SHARE_ENV}={share!r} is not a number between 0 and 1") from exc
        if not 0 <= max_share <= 1:
            raise ValueError(f"{MAX_REJECTED_SHARE_ENV}={share!r} is not a number between 0 and 1")
        if not seconds.isdigit():
            raise ValueError(f"{NEAR_DUPLICATE_SECONDS_ENV}={seconds!r} is not a whole number of seconds")
        return cls(max_rejected_share=max_share, near_duplicate_seconds=int(seconds))


def _contract(table: str) -> CheckDef:
    return CheckDef("contract", True, f"Every row satisfies the pandera contract of {table}: columns, Arrow types, "
                                      "nullability, value ranges and row rules (read in record batches).")


def _unique(key: str) -> CheckDef:
    return CheckDef("unique_keys", True, f"No two rows share the key ({key}).")


_IN_DAY = CheckDef("rows_in_day", True, "Every row's `date` is the partition's day (and its listen_time falls in it).")

CHECKS: dict[str, list[CheckDef]] = {
    "songs": [
        _contract("validated songs"), _unique("track_id"),
        CheckDef("rows_conserved", True, "Rows of songs.csv = validated songs + rejected songs."),
    ],
    "users": [
        _contract("validated users"), _unique("user_id"),
        CheckDef("rows_conserved", True, "Rows of users.csv = validated users + rejected users."),
    ],
    "raw_streams": [
        _contract("bronze streams"), _IN_DAY, _unique("source_file, source_line"),
        CheckDef("rows_conserved", True, "For every landed file with rows in the day: its manifest's rows of the day = "
                                         "its bronze slice rows, its rejects = its bad-records rows, and rows read = "
                                         "bronze rows + rejects over all days."),
    ],
    "validated_streams": [
        _contract("validated streams"), _IN_DAY, _unique("user_id, track_id, listen_time"),
        CheckDef("rows_conserved", True, "Bronze rows of the day = validated + rejected listens (per day and per file)."),
        CheckDef("known_references", True, "Every validated listen's track is in songs (with the same genre) and its "
                                           "user in users."),
        CheckDef("rejected_share", False, f"Rejected rows of the day (ingestion + validation) / rows read stay at or "
                                          f"below {MAX_REJECTED_SHARE_ENV} (default {DEFAULT_MAX_REJECTED_SHARE})."),
        CheckDef("near_duplicates", False, f"WARN when the same user plays the same track again within "
                                           f"{NEAR_DUPLICATE_SECONDS_ENV} seconds (default {DEFAULT_NEAR_DUPLICATE_SECONDS})."),
    ],
    "genre_daily_kpis": [
        _contract("genre_daily_kpis (avg = total / unique_listeners)"), _IN_DAY, _unique("date, genre"),
        CheckDef("matches_validated_streams", True, "Per genre, listen_count, unique_listeners and total listening "
                                                    "time equal the validated listens; sum of listen_count = "
                                                    "validated rows."),
    ],
    "top_songs_per_genre": [
        _contract("top_songs_per_genre"), _IN_DAY, _unique("date, genre, rank"),
        CheckDef("top_n_ranks", True, "Per genre exactly min(3, tracks) rows, ranks 1..n, ordered by play_count desc "
                                      "then track_id asc, play counts equal to validated listens."),
    ],
    "top_genres_daily": [
        _contract("top_genres_daily"), _IN_DAY, _unique("date, rank"),
        CheckDef("top_n_ranks", True, "Exactly min(5, genres) rows, ranks 1..n, ordered by listen_count desc then "
                                      "genre asc, equal to the genre KPIs, no genre left out with more listens."),
    ],
    "dynamodb_daily_genre_kpis": [CheckDef("matches_gold", False, "The day's DynamoDB items equal the day's gold rows.")],
    "dynamodb_top_songs_per_genre": [CheckDef("matches_gold", False, "The day's DynamoDB items equal the day's gold rows.")],
    "dynamodb_top_genres_daily": [CheckDef("matches_gold", False, "The day's DynamoDB items equal the day's gold rows.")],
}
