"""What every DVC stage shares: a clean one-line failure instead of a traceback, for the problems ferops words."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ferops.core.errors import FerOpsError


def main(fn: Callable[[], None]) -> None:
    """Runs the stage. A FerOpsError (bad params or data, an unusable store, a busy checkpoint) or a missing
    file (params.yaml, an earlier stage's output) is one `error:` line and exit 1; anything else is a bug
    and keeps its traceback."""
    try:
        fn()
    except (FerOpsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
