"""Limits that keep every input bounded in time and memory (DESIGN.md, Safety).

Each limit has its own diagnostic code; docs/language.md lists them.
"""

MAX_DIM = 100_000_000  # any single dimension (E902)
MAX_REPEAT = 100_000  # count in ``m ** n`` (E901)
MAX_NODES = 200_000  # IR nodes per compile, repeat bodies counted once (E904)
MAX_STEPS = 1_000_000  # expressions evaluated per compile, a def's body at every call (E904)
MAX_HEIGHT = 1_000  # longest chain of nested IR nodes (E900)
MAX_CALL_DEPTH = 100  # nested definition calls (E900)
MAX_PARAMETERS = 10**13  # weights in one net, repeats expanded (E903)
MAX_INT = 10**18  # magnitude of compile-time integers (E403)
MAX_RANK = 8  # dimensions of a per-example shape (E303)
