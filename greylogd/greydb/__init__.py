"""greyd's database: one Store interface over greyd's SQLite, PostgreSQL and MySQL schemas."""
