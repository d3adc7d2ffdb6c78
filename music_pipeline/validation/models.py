"""pandera model of validated_streams."""

# pandera's annotation style: `Series[arrow(schema, column)]` is a runtime-computed dtype, not a type form
# pyright: reportInvalidTypeForm=false

import pandas as pd

from music_pipeline.quality.pandera_import import Series, pdr
from music_pipeline.quality.pandera_types import Contract, arrow, day_of, non_blank
from music_pipeline.validation.tables import VALIDATED_STREAMS


class ValidatedStreams(Contract):
    """validated/streams: typed, reference-checked, de-duplicated listens."""

    date: Series[arrow(VALIDATED_STREAMS.contract, "date")]
    user_id: Series[arrow(VALIDATED_STREAMS.contract, "user_id")] = non_blank()
    track_id: Series[arrow(VALIDATED_STREAMS.contract, "track_id")] = non_blank()
    listen_time: Series[arrow(VALIDATED_STREAMS.contract, "listen_time")]
    genre: Series[arrow(VALIDATED_STREAMS.contract, "genre")] = non_blank()
    listening_time_ms: Series[arrow(VALIDATED_STREAMS.contract, "listening_time_ms")] = pdr.Field(ge=0)
    stream_id: Series[arrow(VALIDATED_STREAMS.contract, "stream_id")] = pdr.Field(nullable=True, str_length={"min_value": 1})
    completed: Series[arrow(VALIDATED_STREAMS.contract, "completed")] = pdr.Field(nullable=True)
    device_type: Series[arrow(VALIDATED_STREAMS.contract, "device_type")] = non_blank()
    source_file: Series[arrow(VALIDATED_STREAMS.contract, "source_file")] = non_blank()
    source_line: Series[arrow(VALIDATED_STREAMS.contract, "source_line")] = pdr.Field(ge=1)

    class Config(Contract.Config):  # with the base model's, merged by pandera
        unique = ["user_id", "track_id", "listen_time"]  # exact duplicates are rejected

    @pdr.dataframe_check(error="date is not the UTC day of listen_time")
    def date_is_day_of_listen(cls, df: pd.DataFrame) -> Series[bool]:
        return day_of(df["listen_time"]) == df["date"]
