"""pypet_rebuild."""
