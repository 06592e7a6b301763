"""The process: the discord.py client, the CLI and the wiring of everything on one loop."""
