"""`pyarrow.compute`, for the type checker: its functions (`pc.equal`, `pc.if_else`, ...) are generated when
the module is imported, so pyright cannot see them. The package uses them through this one untyped name
instead of an ignore at every call."""

from typing import Any

import pyarrow.compute

pc: Any = pyarrow.compute
