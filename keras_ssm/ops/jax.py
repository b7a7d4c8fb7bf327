"""jax fast paths (registered on import)."""
