"""Threshold rules on rollup aggregates: stored definitions, CRUD and a dry run."""
