"""Brand digests: a daily and a weekly brand-health report per brand, sent once per period.

`periods.py` (pure) says which period is due, `content.py` (pure) turns a brand's figures
into messages, `data.py` gathers those figures from PostgreSQL, `send.py` claims a period
(`digests` row) and queues the messages in the outbox in one transaction.
"""
