"""Replay: what would this bot have done? Recorded alerts through the same domain code that
trades (the engine, the risk checks, positions, levels), against candles on a simulated clock.

`inputs` reads alert exports and candle files, `simulator` runs them, `report` summarises and
prints. Nothing here does I/O beyond what a caller passes in as text; no second engine.
"""
