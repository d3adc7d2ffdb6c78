"""pandera model of the scorecard, and which check catches each SQL reject reason."""

# pandera's annotation style: `Series[arrow(schema, column)]` is a runtime-computed dtype, not a type form
# pyright: reportInvalidTypeForm=false

from music_pipeline.core.contracts import Reason
from music_pipeline.quality.pandera_import import Series, pdr
from music_pipeline.quality.pandera_types import Contract, arrow
from music_pipeline.quality.tables import DATA_QUALITY_DAILY


class DataQualityDaily(Contract):
    """processed/data_quality_daily: one scorecard row per day with rows read; every figure in [0, 1]."""

    date: Series[arrow(DATA_QUALITY_DAILY.contract, "date")]
    rows_read: Series[arrow(DATA_QUALITY_DAILY.contract, "rows_read")] = pdr.Field(ge=1)
    rows_validated: Series[arrow(DATA_QUALITY_DAILY.contract, "rows_validated")] = pdr.Field(ge=0)
    rows_rejected: Series[arrow(DATA_QUALITY_DAILY.contract, "rows_rejected")] = pdr.Field(ge=0)
    completeness: Series[arrow(DATA_QUALITY_DAILY.contract, "completeness")] = pdr.Field(ge=0, le=1)
    validity: Series[arrow(DATA_QUALITY_DAILY.contract, "validity")] = pdr.Field(ge=0, le=1)
    consistency: Series[arrow(DATA_QUALITY_DAILY.contract, "consistency")] = pdr.Field(ge=0, le=1)
    uniqueness: Series[arrow(DATA_QUALITY_DAILY.contract, "uniqueness")] = pdr.Field(ge=0, le=1)
    latest_landing_at: Series[arrow(DATA_QUALITY_DAILY.contract, "latest_landing_at")] = pdr.Field(nullable=True)
    timeliness_seconds: Series[arrow(DATA_QUALITY_DAILY.contract, "timeliness_seconds")] = pdr.Field(nullable=True)
    rejected_by_reason: Series[arrow(DATA_QUALITY_DAILY.contract, "rejected_by_reason")]

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["date"]


# Which check catches a row that the SQL rejects with each reason, had it slipped into the
# validated table: `contract` (this module's field rules), `unique_keys` (Config.unique) or
# `known_references` (a validated listen's track and user exist in songs / users). A reason the
# SQL can produce that is missing here fails test_checks.py.
SQL_RULE_COVERAGE = {
    "validate_streams": {
        Reason.MISSING_USER_ID: "contract",
        Reason.MISSING_TRACK_ID: "contract",
        Reason.UNKNOWN_TRACK_ID: "contract",  # no genre / duration without a song; also known_references
        Reason.UNKNOWN_USER_ID: "known_references",
        Reason.DUPLICATE_LISTEN: "unique_keys",
    },
    "validate_songs": {
        Reason.MISSING_TRACK_ID: "contract",
        Reason.MISSING_GENRE: "contract",
        Reason.INVALID_GENRE: "contract",
        Reason.INVALID_DURATION_MS: "contract",
        Reason.DUPLICATE_TRACK_ID: "unique_keys",
    },
    "validate_users": {
        Reason.MISSING_USER_ID: "contract",
        Reason.DUPLICATE_USER_ID: "unique_keys",
    },
}
