"""The use cases, one module each, and the ports they depend on."""
