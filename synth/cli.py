"""CLI command registration (placeholder until the owning issue lands)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `farmhunt` app."""

    @app.command()
    def synth(preset: str = typer.Option("tiny", help="preset name")) -> None:
        """Generate a synthetic world (placeholder)."""
        typer.echo(preset)
