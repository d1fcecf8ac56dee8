"""Data package: the jinja2 templates of the files modc generates."""
