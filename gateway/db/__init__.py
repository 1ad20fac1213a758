"""Storage: tables, engine and the repositories that turn rows into `rules` values."""
