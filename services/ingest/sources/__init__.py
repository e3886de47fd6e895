"""Every way a mention comes in, one module each, all ending in `Ingestor.accept`.

`push.py` (`POST /v1/mentions`, authenticated by `push_auth.py`), `meta.py` (Meta webhooks),
`replay.py` (a file), and the connectors: one module per platform, each a `Source`
(`base.py`), run by `connectors.py`.
"""
