"""Typed messages and pure rules of asm-trio's two contracts.

Nothing here does I/O, reads a clock or draws randomness: every function is a pure
function of its arguments, so the same rules serve the server, the command-line tools
and the conformance harness (:mod:`contracts.testing`). Imports: msgspec and the
standard library only.
"""

__version__ = "0.1.0"
