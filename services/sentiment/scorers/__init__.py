"""Sentiment and emotion scorers, one module per method, behind `base.SentimentScorer`."""
