"""Taipan: a self-hosted conda channel server."""

__version__ = "0.1.0"
