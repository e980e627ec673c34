"""pytest-aide's pytest wiring (placeholder while the core lands)."""
