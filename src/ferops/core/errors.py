"""The one base of the errors ferops raises on purpose: bad input, a missing model, an unusable store, a busy folder.

Each says, in its message, what is wrong and what to do. The edges report a FerOpsError as one line,
`error: <message>` (the CLI's commands, the DVC stages through `core.stage.main`), or as an HTTP status
(the registered model, the session app); any other exception is a bug and keeps its traceback. The
classes keep their older bases too (ValueError, RuntimeError, OSError), for callers that catch those.
"""

from __future__ import annotations


class FerOpsError(Exception):
    """A problem ferops knows and words for the user: its message is the whole report."""
