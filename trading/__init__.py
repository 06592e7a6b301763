"""signaldesk's trading core: `domain/` (pure rules) and `services/` (use cases and ports).

See docs/architecture.md for the layers and the path of a signal.
"""
