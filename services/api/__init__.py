"""The HTTP API: one FastAPI app composing the routers each service owns."""
