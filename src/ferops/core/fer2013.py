"""The one source of truth for FER-2013's label set and split names."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)
IMAGE_SIZE = 48

# FER-2013's Usage column -> the split it plays in ferops. PublicTest drives every tuning
# decision; PrivateTest is reported and never tuned on.
SPLITS: dict[str, str] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}

# Valence: the seven emotions summed into three groups. One face's seven-way label is noisy; whether it
# looks positive, negative or neither is far steadier, and it is mostly what a reviewer asks. Where
# surprise goes was measured on PublicTest (benchmarks/valence.py, docs/people.md): with negative, the
# served model's valence is right most often and least often unsure.
VALENCES: tuple[str, ...] = ("positive", "neutral", "negative")
VALENCE_OF: dict[str, str] = {
    "angry": "negative",
    "disgust": "negative",
    "fear": "negative",
    "happy": "positive",
    "sad": "negative",
    "surprise": "negative",
    "neutral": "neutral",
}
