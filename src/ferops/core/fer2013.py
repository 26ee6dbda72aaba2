"""The one source of truth for FER-2013's label set and split names."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
IMAGE_SIZE = 48

# FER-2013's Usage column -> the split it plays in ferops. PublicTest drives every tuning
# decision; PrivateTest is reported and never tuned on.
SPLITS: dict[str, str] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
