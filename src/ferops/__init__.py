"""ferops: MLOps for facial emotion recognition on FER-2013."""

import os

# TensorFlow prints a page of start-up notices per process otherwise; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ferops.core.fer2013 import EMOTIONS, NUM_CLASSES  # noqa: E402

__all__ = ["EMOTIONS", "NUM_CLASSES"]
__version__ = "0.1.0"
