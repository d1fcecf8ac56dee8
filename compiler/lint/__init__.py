"""``modc lint``: scaling and structure checks on compiled ``.mod`` files.

:mod:`modc.lint.engine` runs a lint (``run_lint``), :mod:`modc.lint.rules` holds the
rules and their registry, :mod:`modc.lint.config` reads ``[tool.modc]``,
:mod:`modc.lint.formats` writes text, JSON, GitHub and SARIF output, and
:mod:`modc.lint.suppress` reads ``# modc: ignore[CODE]`` comments. docs/lint.md
documents every rule.
"""
