"""HTTP: one module per route group; handlers parse, call a service, render."""
