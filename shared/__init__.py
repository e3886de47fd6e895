"""Code shared by the crisiswatch services: event schemas, settings, Kafka and database adapters."""
