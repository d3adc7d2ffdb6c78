"""pandera model of raw_streams (bronze slices)."""

# pandera's annotation style: `Series[arrow(schema, column)]` is a runtime-computed dtype, not a type form
# pyright: reportInvalidTypeForm=false

import pandas as pd

from music_pipeline.core import contracts as c
from music_pipeline.ingestion.tables import RAW_STREAMS
from music_pipeline.quality.pandera_import import Series, pdr
from music_pipeline.quality.pandera_types import Contract, arrow, day_of, non_blank


class BronzeStreams(Contract):
    """bronze/streams: every readable landed row; ids may still be blank (validation rejects them)."""

    date: Series[arrow(RAW_STREAMS.contract, "date")]
    user_id: Series[arrow(RAW_STREAMS.contract, "user_id")] = pdr.Field(nullable=True)
    track_id: Series[arrow(RAW_STREAMS.contract, "track_id")] = pdr.Field(nullable=True)
    listen_time: Series[arrow(RAW_STREAMS.contract, "listen_time")]
    listen_duration_ms: Series[arrow(RAW_STREAMS.contract, "listen_duration_ms")] = pdr.Field(
        ge=0, le=c.STREAM_DURATION_MAX_SECONDS * 1000, nullable=True
    )
    stream_id: Series[arrow(RAW_STREAMS.contract, "stream_id")] = pdr.Field(nullable=True, str_length={"min_value": 1})
    completed: Series[arrow(RAW_STREAMS.contract, "completed")] = pdr.Field(nullable=True)
    device_type: Series[arrow(RAW_STREAMS.contract, "device_type")] = non_blank()
    source_file: Series[arrow(RAW_STREAMS.contract, "source_file")] = non_blank()
    source_line: Series[arrow(RAW_STREAMS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["source_file", "source_line"]

    @pdr.dataframe_check(error="date is not the UTC day of listen_time")
    def date_is_day_of_listen(cls, df: pd.DataFrame) -> Series[bool]:
        return day_of(df["listen_time"]) == df["date"]
