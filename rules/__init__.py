"""The pure core: contact hours, crisis detection, boundary policy and the decision engine.

No I/O, no clock, no environment: time, configuration and data arrive as arguments.
"""

from rules.engine import Facts, decide

__all__ = ["Facts", "decide"]
