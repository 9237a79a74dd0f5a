"""The `farmhunt` console script: one Typer app, one module per command (`farmhunt.cli.<command>`)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from farmhunt.cli.help import HelpCommand, HelpGroup
from farmhunt.core import interrupt
from farmhunt.core.errors import InputError
from farmhunt.core.safe_text import printable, shorten

app = typer.Typer(
    name="farmhunt",
    help="Find account farms and token-reseller pools in an AI provider's account, payment and usage logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=HelpGroup,
)
err_console = Console(stderr=True)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True),
) -> None:
    """Find account farms and token-reseller pools in an AI provider's account, payment and usage logs."""
    if version:
        from farmhunt import __version__

        typer.echo(f"farmhunt {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


def _register() -> None:
    # The composition root: the one place that wires the generator, the engine, evaluation and the
    # console together. Each command is a plain function in its own module; heavy imports stay inside.
    from farmhunt.cli import bench, detect, evaluate, replay, sweep, synth, train, tui

    app.command("synth", cls=HelpCommand)(synth.synth)
    app.command("detect", cls=HelpCommand)(detect.detect)
    app.command("eval", cls=HelpCommand)(evaluate.eval_)
    app.command("replay", cls=HelpCommand)(replay.replay)
    app.command("bench", cls=HelpCommand)(bench.bench)
    app.command("train", cls=HelpCommand)(train.train)
    app.command("sweep", cls=HelpCommand)(sweep.sweep)
    app.command("tui", cls=HelpCommand)(tui.tui)


_register()


def _print_error(text: str) -> None:
    """An error message, printed plainly: never as markup, control characters escaped, length capped."""
    err_console.print(
        printable(shorten(text, _MESSAGE_LIMIT), keep_layout=True),
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=True,
    )


_MESSAGE_LIMIT = 8000


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app, turning bad input into a clear message and exit code 2.

    SIGINT and SIGTERM end any command cleanly (see `farmhunt.core.interrupt`): temporaries are
    removed on the way out, the exit code is 130 or 143.
    """
    from farmhunt.core import atomic

    previous = interrupt.install()
    atomic.committed.clear()
    try:
        app(args=argv, prog_name="farmhunt")  # standalone: usage errors print and exit 2 themselves
    except InputError as exc:
        _print_error(f"error: {exc}")
        return exc.exit_code
    except interrupt.Interrupted as exc:
        _print_error(_interrupted(atomic.committed))
        return exc.exit_code
    except KeyboardInterrupt:
        _print_error(_interrupted(atomic.committed))
        return 130
    except SystemExit as exc:  # click's standalone mode exits, even on success
        if exc.code == 1 and interrupt.requested():  # click turned a Ctrl-C it caught into "Aborted!"
            return 130
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except OSError as exc:  # a file farmhunt cannot read or write: the OS says which and why
        where = f" '{exc.filename}'" if exc.filename else ""
        _print_error(f"error:{where} {exc.strerror or exc}")
        return 2
    finally:
        if argv is None:
            # The process entry point: the command is over (its output complete, or cleaned up), so a
            # signal landing while the interpreter exits must neither kill it by the default disposition
            # nor print a traceback.
            interrupt.ignore()
        else:
            interrupt.restore(previous)  # an in-process caller (the tests) keeps its own handlers
    return 0


INTERRUPTED = "interrupted: nothing was written"


def _interrupted(done: list) -> str:
    if not done:
        return INTERRUPTED
    return (
        "interrupted after the output was complete: " + ", ".join(str(p) for p in done) + " (nothing else was written)"
    )


if __name__ == "__main__":
    sys.exit(main())
