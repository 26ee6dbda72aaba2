"""Scale-out on Ray: `ferops batch` (recording archives) and `ferops sweep` (training trials).

Needs the optional extra `ferops[scale]`; only `batch.py` and `sweep.py` import Ray, and nothing in
the core pipeline imports this package.
"""
