"""CSV -> validated table -> arrays: ingest parses and validates, split makes the per-split arrays."""
