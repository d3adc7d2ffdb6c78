"""music_pipeline: listen events -> validated Parquet -> daily KPIs -> DynamoDB, as Dagster assets.

One package per domain (ingestion, reference, validation, kpis, serving, quality, operations), each
owning its Dagster definitions and its logic, over the shared `core` (settings, the table registry,
Dagster helpers), `lake` (storage) and `engines`. `definitions.py` is the code location.
"""

import warnings

from dagster import BetaWarning, PreviewWarning

# backfill_policy and partitioned checks are marked beta/preview in Dagster 1.13; we rely on them
# deliberately (docs/design.md section 4), so the warnings only add noise to every command.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
