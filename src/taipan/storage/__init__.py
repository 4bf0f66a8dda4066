"""Where package files live: one narrow port, several adapters."""
