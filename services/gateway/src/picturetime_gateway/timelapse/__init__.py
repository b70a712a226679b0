"""Picture Time gateway: timelapse."""
