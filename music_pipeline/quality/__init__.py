"""Data quality: the asset checks (catalog.py declares them, rules.py evaluates them, asset_checks.py makes
them Dagster checks), the daily scorecard, and the pandera helpers every domain's `models.py` uses
(pandera_types.py). Importing pandera imports pyspark, so the models and the check logic are imported only
when a check runs; loading the code location stays light.
"""
