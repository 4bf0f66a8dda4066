"""Keeping each subdir's index current, and building the index files clients fetch."""
