"""What every DVC stage shares: a clean one-line failure instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ferops.core.lock import Busy

def main(fn: Callable[[], None]) -> None:
    try:
        fn()
    except (FileNotFoundError, ValueError, Busy) as e:  # IngestError, bad params, StoreError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
