"""Cache tiers that may forget: the port, the in-process LRU, Redis, and the read chain."""
