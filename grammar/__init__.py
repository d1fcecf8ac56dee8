"""Data package: the lark grammar of the modc language and the prelude written in it."""
