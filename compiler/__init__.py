"""modc: a compiler from module compositions to PyTorch training modules.

The front end (parse, elaborate, passes, lint, explain, code generation) lives in
this package and imports neither torch nor triton; the generated code imports
:mod:`modc.runtime`.
"""

__version__ = "0.1.0"
VERSION_TUPLE = (0, 1, 0)

__all__ = ["__version__", "VERSION_TUPLE"]
