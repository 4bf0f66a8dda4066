"""Pure knowledge of conda formats: names, archives, records, repodata and shards. No DB, no HTTP."""
