"""Channels: create, list, show and delete."""
