"""quantwb: make AWQ, GPTQ and GGUF variants of a causal LM and measure them with one yardstick."""

__version__ = "0.1.0"
