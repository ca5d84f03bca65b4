"""The paid transformation: the port, the simulated default and the HTTP client."""
