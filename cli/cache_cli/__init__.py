"""cache-cli: exercise, measure and verify a cache-service deployment from the command line."""
