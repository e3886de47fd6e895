"""The crisiswatch services: ingest, sentiment, alerting and the HTTP API."""
