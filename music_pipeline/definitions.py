"""The code location: each domain's definitions, built from one `Settings`, merged.

`build_definitions(settings)` is what tests call with other settings in-process; Dagster (`dagster dev -m`,
`dg`) loads `defs`, a lazy `@definitions` function, so importing this module reads no environment.
"""

import dagster as dg

from music_pipeline.core.resources import resources_from_settings
from music_pipeline.core.settings import Settings
from music_pipeline.engines.policies import engine_executor
from music_pipeline.ingestion import defs as ingestion
from music_pipeline.kpis import defs as kpis
from music_pipeline.operations import defs as operations
from music_pipeline.quality import defs as quality
from music_pipeline.reference import defs as reference
from music_pipeline.serving import defs as serving
from music_pipeline.validation import defs as validation

DOMAINS = (reference, ingestion, validation, kpis, quality, serving, operations)


def build_definitions(settings: Settings) -> dg.Definitions:
    return dg.Definitions.merge(
        *(domain.defs(settings) for domain in DOMAINS),
        dg.Definitions(resources=resources_from_settings(settings), executor=engine_executor(settings.engine)),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(Settings.from_env())
