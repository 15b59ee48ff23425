"""Dataset folders (read only; nothing is ever downloaded)."""
