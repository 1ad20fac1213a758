"""Outbox delivery: claims due rows, sends them through an `SmsSender` and records what came of
each send, safely with any number of workers in any number of processes."""
