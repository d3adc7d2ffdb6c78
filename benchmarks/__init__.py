"""Benchmarks of the pipeline against hand-written references, measured side by side (`make bench`)."""
