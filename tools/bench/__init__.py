"""`crisiswatch bench`: throughput, latency and memory of every stage, each against its ceiling."""
