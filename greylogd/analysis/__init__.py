"""Analysis readers: logs and databases into pandas frames with documented columns."""
