"""`make bench`: the load benchmark (no pytest tests live here; see bench.py)."""
