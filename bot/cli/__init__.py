"""The `signaldesk` command line: `main.py` reads the command and hands it to its module, one
module per command (`bots`, `users`, `replay`, `db backup`, `db restore`, `discord check`)."""
