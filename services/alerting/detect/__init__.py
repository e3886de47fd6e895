"""Pure crisis detectors over per-minute series: no I/O, state passed in and out."""
