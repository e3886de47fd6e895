"""Sentiment service: consumes mentions.raw, enriches, stores, publishes mentions.scored."""
