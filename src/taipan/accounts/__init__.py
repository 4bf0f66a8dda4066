"""Who is calling: API keys (users, roles and sessions build on this)."""
