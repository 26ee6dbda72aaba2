"""A recording, frame by frame, below the apps and batch scoring alike: its source (videosource), the
crash-safe frame log (framelog), the people tracked through it (tracker), their names (people) and the
per-person summary (summary). `ferops.apps` and `ferops.scale` both build on this; neither imports the other.
"""
