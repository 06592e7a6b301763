"""One module per repository port of trading/ports.py."""
