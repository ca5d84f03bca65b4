"""Storage tiers: the ports (``ports``) and one adapter per backend."""
