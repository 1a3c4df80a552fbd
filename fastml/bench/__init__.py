"""The benchmark runner behind ``fastml bench`` and the shared case definitions."""
