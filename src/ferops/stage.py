"""What every DVC stage shares: a clean one-line failure instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ferops.ingest import IngestError


def main(fn: Callable[[], None]) -> None:
    try:
        fn()
    except (IngestError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
