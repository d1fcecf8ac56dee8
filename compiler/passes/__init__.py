"""Passes over the IR, one per file, each named by what it does."""
