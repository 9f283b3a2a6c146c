"""Training: losses and trainers (one module per idea; each names the notebook that teaches it)."""
