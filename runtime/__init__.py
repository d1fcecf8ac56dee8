"""modc.runtime: what modc's generated modules import.

Newton–Schulz orthogonalization, the atoms with their dual maps and norms, the bond functions,
the Block/Network base classes, the modular optimizer and its torch.distributed sharding. It
depends on torch only; it never imports the compiler.
"""

from . import bonds
from .atoms import ATOM_CLASSES, Atom, Conv2D, Embed, Linear
from .block import AtomEntry, Block, Network
from .newton_schulz import NS_COEFFICIENTS, orthogonalize
from .optimizer import ModularOptimizer, dualize_tensors
from .version import RUNTIME_VERSION, VersionError, check

__version__ = ".".join(str(part) for part in RUNTIME_VERSION)

__all__ = [
    "ATOM_CLASSES",
    "NS_COEFFICIENTS",
    "RUNTIME_VERSION",
    "Atom",
    "AtomEntry",
    "Block",
    "Conv2D",
    "Embed",
    "Linear",
    "ModularOptimizer",
    "Network",
    "VersionError",
    "bonds",
    "check",
    "dualize_tensors",
    "orthogonalize",
]
