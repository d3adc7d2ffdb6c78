"""Data quality: pandera contracts (models.py) and the asset checks' logic (rules.py).

Kept out of `music_pipeline.core.contracts` because importing pandera imports pyspark (pandera's
typing module registers pyspark types when pyspark is installed), and loading the code location
must stay light. `quality/asset_checks.py` imports this package only when a check runs.
"""
