"""Evaluation: every variant scored on the same token windows (PPL, KLD to base, top-1, memory, speed)."""
