"""Quantizers: one file per format, one method table (`methods.py`)."""
