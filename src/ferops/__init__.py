"""ferops: MLOps for facial emotion recognition on FER-2013."""

import os

# TensorFlow prints a page of start-up notices per process otherwise; errors still show.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# OpenCV's own limit on the pixels of an image it decodes (default about 1 Gpixel), read once when cv2
# is first imported, so set here before any ferops module imports it: a backstop behind the header
# check in runtime.imaging (MAX_IMAGE_PIXELS, the same number) for a header that check misreads.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", "25000000")

from ferops.core.fer2013 import EMOTIONS, NUM_CLASSES  # noqa: E402

__all__ = ["EMOTIONS", "NUM_CLASSES"]
__version__ = "0.1.0"
