"""The HTTP edge: routes, the wire format, edge limits, request ids, the server, the docs."""
