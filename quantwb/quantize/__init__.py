"""Quantizers: one file per format, one registry (`registry.py`)."""
