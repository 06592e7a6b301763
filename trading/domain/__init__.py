"""Pure trading rules: no I/O, the standard library and pydantic only."""
