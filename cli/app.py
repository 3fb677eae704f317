"""The ``scalecloud`` command: the typer app, global options and the one error boundary."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from scalecloud.infra.errors import ScalecloudError

app = typer.Typer(
    name="scalecloud",
    help=(
        "Scale an ML experiment from a laptop to a cluster with one command.\n\n"
        "Examples:\n\n"
        "  scalecloud up --workers 2            # a local Dask cluster\n\n"
        "  scalecloud submit kmeans --set n_blocks=20\n\n"
        "  scalecloud submit my_experiment.py   # Client() inside connects to the cluster\n\n"
        "  scalecloud runs                      # every run recorded: params, versions, results\n\n"
        "  scalecloud down\n\n"
        "  scalecloud run gridsearch            # up, submit and down in one\n\n"
        "  scalecloud env                       # versions here and on the cluster\n\n"
        "  scalecloud data push data/ s3://bucket/exp   # inputs for cloud workers"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)

_debug = False


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"scalecloud {version('scalecloud')}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", envvar="SCALECLOUD_DEBUG", help="Show tracebacks of errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Scale an ML experiment from a laptop to a cluster with one command."""
    global _debug
    _debug = debug
    if debug:  # the library reads it too: Dask's own logs stay on the terminal
        os.environ["SCALECLOUD_DEBUG"] = "1"


def _register() -> None:
    from scalecloud.cli import (
        cloud_cmds,
        cluster_cmds,
        data_cmds,
        env_cmds,
        runs_cmds,
        submit_cmds,
    )

    cluster_cmds.register(app)
    submit_cmds.register(app)
    runs_cmds.register(app)
    env_cmds.register(app)
    cloud_cmds.register(app)
    data_cmds.register(app)


_register()


def main() -> None:
    """Entry point: run the app and turn every error into one line and an exit code."""
    exit_types, abort_types, usage_types = _click_exception_types()
    if not ("--debug" in sys.argv or os.environ.get("SCALECLOUD_DEBUG") == "1"):
        # A run ended by Ctrl-C leaves Dask's connection tasks unfinished; asyncio would
        # print "Task exception was never retrieved" for each at exit. --debug shows them.
        import logging

        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        code = app(standalone_mode=False)
        code = code if isinstance(code, int) else 0
        if code == 130:  # typer's answer to a KeyboardInterrupt: Ctrl-C, or SIGTERM in a run
            session = sys.modules.get("scalecloud.session")
            _interrupted((session and session.last_interrupt()) or KeyboardInterrupt())
        sys.exit(code)
    except ScalecloudError as exc:
        _report(exc, exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except exit_types as exc:
        sys.exit(exc.exit_code)
    except abort_types as exc:  # click turns a KeyboardInterrupt into Abort
        _interrupted(exc.__cause__ or exc)
    except usage_types as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt as exc:
        _interrupted(exc)
    except Exception as exc:
        _report(
            exc, f"unexpected {type(exc).__name__}: {exc}", "run with --debug for the traceback"
        )
        sys.exit(1)


def _click_exception_types() -> tuple[tuple[type, ...], tuple[type, ...], tuple[type, ...]]:
    """Exit, Abort and usage-error classes: click's, and typer's own (typer 0.22+ carries
    its own copy of click, whose exceptions are not click's)."""
    import click

    exits: list[type] = [click.exceptions.Exit]
    aborts: list[type] = [click.exceptions.Abort]
    usage: list[type] = [click.ClickException]
    try:
        from typer._click import exceptions as vendored  # private, hence the fallback
    except ImportError:
        vendored = None
    for found, name in ((exits, "Exit"), (aborts, "Abort"), (usage, "ClickException")):
        for module in (vendored, typer):
            cls = getattr(module, name, None)
            if isinstance(cls, type) and cls not in found:
                found.append(cls)
    return tuple(exits), tuple(aborts), tuple(usage)


def _interrupted(exc: BaseException) -> None:
    """Ctrl-C (exit 130) or SIGTERM (143): one line, no traceback."""
    import signal

    # Teardown is done: a second Ctrl-C during the interpreter's shutdown must not turn
    # this exit into a death by SIGINT (exit -2 instead of 130).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = int(getattr(exc, "exit_code", 130))
    _report(None, "terminated (SIGTERM)" if code == 143 else "interrupted", None)
    sys.exit(code)


def _report(exc: BaseException | None, message: str, hint: str | None) -> None:
    from scalecloud.cli.render import err, print_error

    if exc is not None and (_debug or os.environ.get("SCALECLOUD_DEBUG") == "1"):
        err.print_exception()
    print_error(message, hint)
