"""Alerting service: detects crises in scored mentions, opens incidents, notifies."""
