"""Precomputing payloads before anyone asks: the warm worker and its command."""
