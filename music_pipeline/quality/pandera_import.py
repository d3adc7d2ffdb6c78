"""pandera, as every module of the package imports it: without the integrations the package never uses.

pandera imports optional libraries whenever they are installed: `pyspark.pandas` (pandera.typing registers the
pandas-on-Spark frame types, and pyspark.pandas imports setuptools' distutils) and, at the first validation,
`hypothesis` (pandera's data synthesis strategies). That is 0.3 s and 0.2 s of every process that runs a check (each
step process under `dagster dev`), for frames the package never validates (its Spark checks are SQL,
`quality/engine_sql.py`) and strategies it never draws from (`hypothesis` is a test dependency only). So the first
import of pandera in a process comes through here with those modules marked absent, and the modules that would
import them are imported then, while they are; pandera leaves the integrations out. The marks are removed at once:
both libraries stay importable for anything else. A library already imported is left as it is.
"""

import sys

_UNUSED = ("pyspark.pandas", "hypothesis")

if "pandera" not in sys.modules:
    marked = [name for name in _UNUSED if name not in sys.modules]
    for name in marked:
        sys.modules[name] = None  # type: ignore[assignment]  # `import <name>` raises ImportError
    try:
        import pandera.backends.pandas.builtin_checks  # noqa: F401  # at the first validation: the strategies
        import pandera.pandas  # noqa: F401
        import pandera.typing.pyspark  # noqa: F401  # when a schema is first built: pandas-on-Spark types
    finally:
        for name in marked:
            del sys.modules[name]

import pandera.pandas as pdr  # noqa: E402
from pandera.api.pandas.model_config import BaseConfig  # noqa: E402
from pandera.typing import Series  # noqa: E402

__all__ = ["BaseConfig", "Series", "pdr"]
