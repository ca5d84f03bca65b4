"""The deployed Lambda reproduced on this machine, without Docker: the runtime client behind a
Runtime API emulator, and an API Gateway stage in front (``make lambda-local``)."""
