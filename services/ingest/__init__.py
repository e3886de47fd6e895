"""Ingest service: turns platform posts into normalised Mention events on mentions.raw."""
