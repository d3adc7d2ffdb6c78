"""Asset definitions, one module per layer. Assets stay thin: what, when, with which metadata."""

import warnings

from dagster import BetaWarning, PreviewWarning

# backfill_policy and partitioned checks are marked beta/preview in Dagster 1.13; we rely on them
# deliberately (DESIGN.md section 4), so the warnings only add noise to every command.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=PreviewWarning)
