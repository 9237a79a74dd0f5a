"""The `farmhunt` console script: one Typer app, one module per command (`farmhunt.cli.<command>`)."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from farmhunt.core.errors import InputError

app = typer.Typer(
    name="farmhunt",
    help="Find account farms and token-reseller pools in an AI provider's account, payment and usage logs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
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

    app.command("synth")(synth.synth)
    app.command("detect")(detect.detect)
    app.command("eval")(evaluate.eval_)
    app.command("replay")(replay.replay)
    app.command("bench")(bench.bench)
    app.command("train")(train.train)
    app.command("sweep")(sweep.sweep)
    app.command("tui")(tui.tui)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app, turning bad input into a clear message and exit code 2."""
    try:
        app(args=argv, prog_name="farmhunt")  # standalone: usage errors print and exit 2 themselves
    except InputError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        return exc.exit_code
    except SystemExit as exc:  # click's standalone mode exits, even on success
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted: nothing was written[/]")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
