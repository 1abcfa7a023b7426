"""Command line: ``flowdeck {serve,ls,ctl,demo} ...`` (one module per command)."""

from __future__ import annotations

import sys

from flowdeck.engine.cli.common import EXIT_OK, EXIT_UNAVAILABLE

USAGE = """usage: flowdeck {serve,ls,ctl,demo} ...

  serve [--config FILE] [--socket PATH] [--demo] [--workers N]   run headless engine(s)
  ls [--json]                                                    list this host's live engines
  ctl [--engine SEL | --all | --socket PATH] METHOD [key=value]  call one control method
  ls --redis URL [--fleet NAME] [--json]                         every engine on that Redis
  ctl --redis URL [--engine SEL] METHOD [key=value ...]          an acknowledged fleet command
  demo [--duration S] ...                                        run the demo workload
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return EXIT_OK if args else EXIT_UNAVAILABLE
    cmd, rest = args[0], args[1:]
    if cmd in ("ls", "ctl") and any(a == "--redis" or a.startswith("--redis=") for a in rest):
        # the fleet of every host, through Redis
        if cmd == "ls":
            from flowdeck.engine.fleet.listing import ls_main as fleet_ls

            return fleet_ls(rest)
        from flowdeck.engine.cli.ctl import parse_params
        from flowdeck.engine.fleet import cli

        return cli.ctl_main(rest, parse_params)
    if cmd == "ctl":
        from flowdeck.engine.cli.ctl import ctl_main

        return ctl_main(rest)
    if cmd == "ls":
        from flowdeck.engine.cli.ls import ls_main

        return ls_main(rest)
    if cmd == "serve":
        from flowdeck.engine.cli.serve import serve_main

        return serve_main(rest)
    if cmd == "demo":
        try:
            from flowdeck.engine.demo import main as demo
        except ImportError as exc:
            print(f"flowdeck demo: the demo is not available ({exc})", file=sys.stderr)
            return EXIT_UNAVAILABLE
        return int(demo(rest) or 0)
    print(f"flowdeck: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr, end="")
    return EXIT_UNAVAILABLE
