"""``python -m motion_i2v COMMAND ...``: one sub-command per module in ``motion_i2v/commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. A command
raises ValueError (or OSError, ImportError, MemoryError) for what the user can fix; ``main`` prints it as one line,
``python -m motion_i2v COMMAND: error: ...``, and returns 2, as argparse does for its own errors. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands

USER_ERRORS = (ValueError, OSError, ImportError, MemoryError)
INTERRUPTED = 130  # the shell's code for a process ended by Ctrl+C


def _command_modules() -> dict[str, str]:
    """Sub-command name -> module name, found without importing them (some import diffusers)."""
    return {
        info.name.replace("_", "-"): f"{commands.__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name)
    }


def _user_error(error: BaseException) -> bool:
    """Errors the user can act on: bad arguments and files, and running out of memory (torch's own included)."""
    torch = sys.modules.get("torch")
    out_of_memory = getattr(torch, "OutOfMemoryError", None) if torch is not None else None
    return isinstance(error, USER_ERRORS) or (out_of_memory is not None and isinstance(error, out_of_memory))


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
        command.set_defaults(run=module.run, prog=command.prog)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"{args.prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except Exception as error:
        if not _user_error(error):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{args.prog}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
