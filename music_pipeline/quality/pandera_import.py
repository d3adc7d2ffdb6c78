"""pandera, as every module of the package imports it: without its pandas-on-Spark types.

Importing pandera imports `pyspark.pandas` whenever pyspark is installed (pandera.typing registers the
pandas-on-Spark frame types), and with it setuptools' distutils: 0.3 s of the 0.45 s import, paid by every
process that runs a check (each step process under `dagster dev`). The package validates pandas frames only (its
Spark checks are SQL, `quality/engine_sql.py`), so the first import of pandera in a process comes through here
with `pyspark.pandas` marked absent; pandera then leaves those types out. The mark is removed at once:
`pyspark.pandas` stays importable for anything else. When pandera or pyspark.pandas was imported before, this
changes nothing.
"""

import sys

_SKIPPED = "pyspark.pandas"

if "pandera" not in sys.modules and _SKIPPED not in sys.modules:
    sys.modules[_SKIPPED] = None  # type: ignore[assignment]  # `import pyspark.pandas` raises ImportError
    try:
        import pandera.pandas  # noqa: F401
        import pandera.typing.pyspark  # noqa: F401  # imported lazily by pandera when it builds a schema
    finally:
        del sys.modules[_SKIPPED]

import pandera.pandas as pdr  # noqa: E402
from pandera.api.pandas.model_config import BaseConfig  # noqa: E402
from pandera.typing import Series  # noqa: E402

__all__ = ["BaseConfig", "Series", "pdr"]
