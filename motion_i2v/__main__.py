"""``python -m motion_i2v COMMAND ...``: one sub-command per module in ``motion_i2v/commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands


def _command_modules() -> dict[str, str]:
    """Sub-command name -> module name, found without importing them (some import diffusers)."""
    return {
        info.name.replace("_", "-"): f"{commands.__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name)
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    modules = _command_modules()
    # Import only the command asked for, so a quick command does not pay for the others' imports.
    chosen = [name for name in modules if argv[:1] == [name]] or list(modules)
    parser = argparse.ArgumentParser(prog="python -m motion_i2v", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(modules) + "}")
    for name in chosen:
        module = importlib.import_module(modules[name])
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
