"""The Discord front-end: approval cards, slash commands, log and error channels.

`runtime.start_discord(settings, use_cases, clock)` starts it on the running event loop.
"""
