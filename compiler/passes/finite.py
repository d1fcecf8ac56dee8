"""Pass check_finite: masses, sensitivities and target norms are finite and usable.

Requires: compute_norms. Ensures: every node's mass and sensitivity, every atom's target
and every repeat copy's target is a finite float, and sensitivities are nonzero, so that
the generated tables and the optimizer never see inf or NaN. Extreme scalars (for example
``1e-320 * m``) or masses (``mass=1e308`` twice) are rejected here with their position.
"""

from __future__ import annotations

import math

from modc import ir
from modc.diagnostics import error


def check_finite(net: ir.Net) -> None:
    for node in ir.walk(net.body):
        values = [("mass", node.mass), ("sensitivity", node.sensitivity),
                  ("target norm", node.target)]
        if isinstance(node, ir.Repeat):
            values += [("copy target norm", t) for t in node.copy_targets or ()]
        for what, value in values:
            if value is None or not math.isfinite(value):
                raise error("E403", f"the {what} of {ir.describe(node)} is not finite "
                            f"({value})", node.span or net.span,
                            hint="a scalar or mass this extreme leaves no usable learning rate")
        if node.sensitivity == 0:
            raise error("E403", f"the sensitivity of {ir.describe(node)} underflows to 0",
                        node.span or net.span)
