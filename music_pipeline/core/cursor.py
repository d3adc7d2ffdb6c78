"""The one sensor-cursor type: a sensor's state as a dataclass, stored in Dagster's cursor as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, Self


class SensorCursor:
    """Base of every sensor's cursor dataclass: `parse` the stored text (none: a fresh cursor), `dump` it."""

    @classmethod
    def parse(cls, text: str | None) -> Self:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        state: dict[str, Any] = asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses
        return json.dumps(state, sort_keys=True)
