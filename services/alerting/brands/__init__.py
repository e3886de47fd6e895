"""Per-brand configuration: detection preset, notification routes, dismissal proposals."""
