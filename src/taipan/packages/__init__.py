"""Package files: ingest (upload, import), delete, list."""
