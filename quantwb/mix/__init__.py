"""Mixed-precision GGUF: per-tensor types chosen by measured KLD within a byte budget (`quantwb mix`, a plan's
`gguf-mix`)."""
