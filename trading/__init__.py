"""The signaldesk domain: pure, typed, no I/O (see DESIGN.md "Layers")."""
