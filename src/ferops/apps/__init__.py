"""What people use: the CLI, the live loop, smoothing and tracking, overlays, session reports."""
