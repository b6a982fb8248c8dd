"""Jobs of the synthetic lens-1 figures (filled in by the foundation issue)."""

JOBS: list = []
