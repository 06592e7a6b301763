"""The process signaldesk runs, wired on one loop, and its faces apart from the web: Discord, Telegram, the command line (cli/)."""
