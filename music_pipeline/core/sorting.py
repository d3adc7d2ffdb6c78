"""Sorting a day's worth of integers in this process (numpy's sort of 10M 64-bit values: ~0.1 s, where a DuckDB
window or aggregate over them takes ~1 s): the repeated key hashes of validated_streams' step
(`engines/duckdb.py`) and the listen keys of the repeated-listens check (`quality/repeats.py`)."""

import numpy as np
import pyarrow as pa


def sorted_values(column: pa.ChunkedArray) -> np.ndarray:
    """The values of an integer column without nulls, sorted, in one new array. Sorted in place: memory this
    process has not touched yet is slow to get (~2 s a GB on a virtual machine), so no second copy is made."""
    if not column.num_chunks:
        return np.array([], dtype=column.type.to_pandas_dtype())
    values = np.concatenate([chunk.to_numpy(zero_copy_only=False) for chunk in column.chunks])
    values.sort()
    return values
