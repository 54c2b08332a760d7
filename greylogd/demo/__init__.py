"""A seeded simulated mail week: demo data, benchmark data and the report's test world."""
