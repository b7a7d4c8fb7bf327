"""tensorflow fast paths (registered on import)."""
