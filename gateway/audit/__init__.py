"""The tamper-evident audit trail; `chain` holds the pure hash-chain building blocks."""
