"""The Quart app: webhook intake, JSON API, health."""
