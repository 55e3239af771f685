"""Level samplers: which levels the batched engine resets into (`registry.py` is the table)."""
