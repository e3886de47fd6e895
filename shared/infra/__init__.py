"""Local infrastructure without Docker: a KRaft Kafka broker from Maven artifacts and PostgreSQL."""
