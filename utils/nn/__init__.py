"""Neural-network building blocks written from scratch (each module names its notebook)."""
