"""Vocabularies the stages agree on, each spelled once (the crisis topics in `topics.yaml`)."""
