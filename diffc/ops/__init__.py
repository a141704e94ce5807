"""The operation catalogue: one record per primitive holding every fact about it (see op.py)."""
