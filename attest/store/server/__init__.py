"""What runs inside the warehouse's PostgreSQL server: the schema and the PL/Python ingest check."""
