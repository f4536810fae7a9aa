"""Package data: lm-eval task YAMLs, small task sets and text excerpts (see the SOURCES.md files)."""
