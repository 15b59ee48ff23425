"""One training loop for every learned codec."""
