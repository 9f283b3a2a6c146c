"""Data sets the pack generates or loads offline (one module per source; each names its notebook)."""
