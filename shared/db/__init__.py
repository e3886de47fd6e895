"""PostgreSQL access: async engine, table definitions and Alembic migrations."""
