"""One module per page; each handler parses, calls a use case and renders."""
