"""The built-in atoms and bonds: their arguments, sensitivity, smoothness and arity.

Sensitivities and smoothness follow Modula 2 (``modula/atom.py``, ``modula/bond.py``)
except where DESIGN.md differs on purpose: a scalar's sensitivity is ``|s|`` and
``GELU`` is divided by 1.1289, the maximum slope of the tanh-approximated GELU, so
that its sensitivity is 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Argument kinds: "dim" (positive integer), "int" (any integer), "count" (positive
# integer), "number" (finite real), "nonzero" (finite nonzero real), "positive"
# (finite real > 0), "axes" (integer or tuple of integers).
REQUIRED = object()


@dataclass(frozen=True)
class Param:
    name: str
    kind: str
    default: object = REQUIRED


@dataclass(frozen=True)
class Spec:
    """How one built-in is called and what it is in the theory."""

    name: str
    is_atom: bool
    params: tuple[Param, ...] = ()
    # "one": a single tensor; "pair": a 2-tuple; "many": a tuple of >= 2; "any": anything
    arity: str = "one"
    smooth: bool = True
    dual_map: str = ""  # atoms only: the name of the dual map in explain output
    doc: str = ""
    aliases: tuple[str, ...] = field(default=())

    def sensitivity(self, args: dict) -> float:
        if self.name == "Mul":
            return abs(float(args["s"]))
        if self.name == "Softmax":
            return abs(float(args["scale"]))
        return 1.0


_MASS = Param("mass", "positive", 1.0)

ATOMS: dict[str, Spec] = {
    "Linear": Spec(
        "Linear", True, (Param("out", "dim"), Param("in", "dim"), _MASS),
        dual_map="orthogonalize", doc="W x with W of shape [out, in]",
    ),
    "Embed": Spec(
        "Embed", True, (Param("dim", "dim"), Param("vocab", "dim"), _MASS),
        dual_map="row_normalize", doc="W[x] with W of shape [vocab, dim]",
    ),
    "Conv2D": Spec(
        "Conv2D", True,
        (Param("out", "dim"), Param("in", "dim"), Param("kernel", "dim", 3),
         Param("stride", "dim", 1), Param("padding", "int", 1), _MASS),
        dual_map="orthogonalize_per_tap", doc="2-D convolution, weight [out, in, k, k]",
    ),
}

BONDS: dict[str, Spec] = {
    "Identity": Spec("Identity", False, arity="any"),
    "ReLU": Spec("ReLU", False, smooth=False),
    "GELU": Spec("GELU", False, smooth=False),
    "Abs": Spec("Abs", False, smooth=False),
    "Flatten": Spec("Flatten", False),
    "MeanSubtract": Spec("MeanSubtract", False, (Param("dim", "axes", -1),)),
    "RMSDivide": Spec("RMSDivide", False, (Param("dim", "axes", -1),)),
    "LayerNorm": Spec("LayerNorm", False, (Param("dim", "axes", -1),)),
    "Mean": Spec("Mean", False, (Param("dim", "axes"),)),
    "AvgPool": Spec("AvgPool", False),
    "SplitHeads": Spec("SplitHeads", False, (Param("heads", "dim"),)),
    "MergeHeads": Spec("MergeHeads", False),
    "Rope": Spec(
        "Rope", False, (Param("d_head", "dim"), Param("base", "positive", 10000)), arity="pair"
    ),
    "AttentionQK": Spec("AttentionQK", False, arity="pair"),
    "CausalMask": Spec("CausalMask", False),
    "Softmax": Spec("Softmax", False, (Param("scale", "positive"),)),
    "ApplyAttentionScores": Spec("ApplyAttentionScores", False, arity="pair"),
    "Enumerate": Spec("Enumerate", False),
    "Add": Spec("Add", False, arity="many"),
    "Mul": Spec("Mul", False, (Param("s", "nonzero"),)),
}

BUILTINS: dict[str, Spec] = {**ATOMS, **BONDS}

# Compile-time functions on numbers and modules (handled by the elaborator).
FUNCTIONS = ("sqrt", "min", "max", "tare")
