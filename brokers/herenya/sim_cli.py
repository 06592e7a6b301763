"""`signaldesk herenya-sim`: the simulator as a command (see README "Herenya simulator")."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import sys

from brokers.herenya.sim_config import SimConfig, SimConfigError, load_sim_config

_FAULT_FLAGS = {
    "fault_rate": "error_rate",
    "delay_rate": "delay_rate",
    "delay": "delay",
    "drop_rate": "drop_rate",
    "invisible_seconds": "invisible_seconds",
    "invisible_rate": "invisible_rate",
    "rate_limit": "rate_limit",
}


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """The config file (or the defaults), then any fault flag given on the command line."""
    config = load_sim_config(args.config) if getattr(args, "config", None) else SimConfig()
    changes = {
        field: getattr(args, flag) for flag, field in _FAULT_FLAGS.items() if getattr(args, flag, None) is not None
    }
    faults = config.faults.updated(changes) if changes else config.faults
    seed = args.seed if getattr(args, "seed", None) is not None else config.seed
    return dataclasses.replace(config, faults=faults, seed=seed).validate()


def run_simulator(args: argparse.Namespace) -> int:
    from brokers.herenya.sim_app import create_sim_app
    from brokers.herenya.sim_server import bind_socket, serve_simulator
    from brokers.herenya.sim_state import SimState

    try:
        config = config_from_args(args)
    except SimConfigError as e:
        print(f"herenya-sim: {e}", file=sys.stderr)
        return 2
    try:
        fd, port = bind_socket(args.host, args.port)
    except OSError as e:
        print(f"herenya-sim: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 1
    state = SimState(config)
    app = create_sim_app(config, state)
    base_url = f"http://{args.host}:{port}"
    # One line a script can wait for (port 0 picks a free port, shown here).
    print(f"herenya-sim listening on {base_url}", flush=True)
    for a in config.accounts:
        print(f"  account {a.account_id}: key {a.api_key}, balance {a.balance} {a.currency}", flush=True)
    print(f"  instruments: {', '.join(i.symbol for i in config.instruments)}", flush=True)
    f = config.faults
    print(
        f"  faults: errors {f.error_rate:.0%}, delays {f.delay_rate:.0%} of {f.delay:g} s, drops {f.drop_rate:.0%},"
        f" invisible {f.invisible_rate:.0%} for {f.invisible_seconds:g} s, rate limit {f.rate_limit:g}/s",
        flush=True,
    )
    # `signaldesk herenya-sim` turned the collector off for the start (bot/cli/main.py,
    # LONG_RUNNING); what the start loaded lives as long as the process, out of its sight.
    gc.freeze()
    gc.enable()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_simulator(app, fd, graceful_timeout=2.0))  # stops on SIGINT / SIGTERM
    return 0
