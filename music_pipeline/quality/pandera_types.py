"""What every domain's pandera models share: the column type of a contract (its exact Arrow type), non-blank
strings, strict frames (`Contract`), and the UTC day of a timestamp.

Each domain keeps its tables' models in its own `models.py` (`music_pipeline/<group>/models.py`), next to their
declarations and SQL; a model is derived from the Arrow contract of its table (column names, order and exact
types: frames are read with `types_mapper=pd.ArrowDtype`) and adds what a schema cannot say: nullability, value
ranges, row rules and the table's key (`Config.unique`). Importing pandera imports pyspark, so models are
imported only when a check runs (`generic.model_of`), never when the code location loads.
"""

from typing import Annotated

import pandas as pd
import pyarrow as pa

from music_pipeline.quality.pandera_import import BaseConfig, pdr

AVG_RELATIVE_TOLERANCE = 1e-9


def arrow(schema: pa.Schema, column: str):
    """The pandas dtype of a contract column: its exact Arrow type."""
    return Annotated[pd.ArrowDtype, schema.field(column).type]


def non_blank(**kwargs):
    return pdr.Field(str_length={"min_value": 1}, **kwargs)


class Contract(pdr.DataFrameModel):
    """Every table model's base: strict frames. pandera merges the `Config` of a model's bases into its own (a
    `Config` inheriting another `Config` class would not carry these: pandera reads only its own attributes)."""

    class Config(BaseConfig):
        strict = True  # no missing or extra columns
        ordered = True  # in the contract's order
        coerce = False  # types must already be right


def day_of(timestamps: pd.Series | pd.DataFrame) -> pd.Series | pd.DataFrame:
    """The UTC calendar day of naive UTC timestamps, as Arrow date32 (comparable with `date`)."""
    return timestamps.astype(pd.ArrowDtype(pa.date32()))
