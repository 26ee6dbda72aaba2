"""ferops: MLOps for facial emotion recognition on FER-2013."""

import os

# TensorFlow prints a page of start-up notices per process otherwise; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The most pixels an image may have (about 5000x5000: a photo, not a decompression bomb). runtime.imaging
# checks it from the header; OpenCV's own decoder limit (default about 1 Gpixel), read once when cv2 is
# first imported, is set to it here, before any ferops module imports cv2: a backstop for a header that
# check misreads.
MAX_IMAGE_PIXELS = 25_000_000
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))

from ferops.core.fer2013 import EMOTIONS, NUM_CLASSES  # noqa: E402

__all__ = ["EMOTIONS", "NUM_CLASSES"]
__version__ = "0.1.0"
