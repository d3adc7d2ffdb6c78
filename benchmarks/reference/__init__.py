"""Independent end-to-end references for the benchmark (issue 15): the landed CSV of a lake folder ->
validated, rejected and gold Parquet tables, by the product's rules (docs/design.md section 3), written
the way a person would write one script with no framework.

`duckdb_script` and `polars_script` share no code and no SQL with `music_pipeline` (neither imports
it) nor with each other; `compare` (harness code) checks the project's lake against a reference's
output, or two references against each other.
"""
