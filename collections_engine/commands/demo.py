"""`demo`: the main job on an embedded default: generate, train, approve, run the first night."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from collections_engine.guard import guarded

ROOT_HINT = "strategies/default.yaml and graphs/default.yaml (shipped with the package)"


def _invoke(app: typer.Typer, args: list[str]) -> None:
    """Run another command in-process with its own error handling; stop on a non-zero exit."""
    from typer.main import get_command

    code = get_command(app).main(args=args, prog_name="collections-engine", standalone_mode=False)
    if isinstance(code, int) and code != 0:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    @app.command(
        "demo",
        help=(
            "The main job end to end on an embedded default: generate a synthetic book into "
            "OUT/data, train the willingness models into OUT/models, approve them, run the first "
            "night into OUT/runs, and print where everything is. Uses " + ROOT_HINT + ".\n\n"
            "Example:  collections-engine demo --out /tmp/demo --accounts 10000 --seed 1"
        ),
    )
    @guarded
    def demo_cmd(
        out: Path = typer.Option(..., "--out", help="Folder for data/, models/ and runs/."),
        accounts: int = typer.Option(10_000, "--accounts", min=100, help="Delinquent accounts on the first night."),
        seed: int = typer.Option(1, "--seed", help="Seed of the generated book."),
    ) -> None:
        from collections_engine.jobs import first_night
        from collections_engine.synth import default_strategy_path

        strategy = default_strategy_path()
        graph = strategy.parents[1] / "graphs" / "default.yaml"
        data, models, runs = out / "data", out / "models", out / "runs"
        t0 = time.perf_counter()
        if not (data / "accounts.parquet").is_file():
            _invoke(app, ["generate", "--out", str(data), "--accounts", str(accounts), "--seed", str(seed),
                          "--force"])
        else:
            typer.echo(f"reusing the book in {data}")
        _invoke(app, ["train", "--data", str(data), "--strategy", str(strategy), "--models", str(models)])
        _invoke(app, ["approve", "--models", str(models), "--by", "demo"])
        night = first_night(data)
        _invoke(app, ["run", "--data", str(data), "--date", night, "--strategy", str(strategy),
                      "--graph", str(graph), "--models", str(models), "--out", str(runs), "--force"])
        typer.echo("")
        typer.echo(f"demo done in {time.perf_counter() - t0:.0f} s")
        typer.echo(f"  book (inputs):     {data}  (answer key in {data / 'truth'})")
        typer.echo(f"  model versions:    {models}  (report.html in each version)")
        typer.echo(f"  tonight's run:     {runs / night}")
        typer.echo(f"  manager's report:  {runs / night / 'report.html'}")
        typer.echo(f"  vendor files:      {runs / night / 'vendors'}")
        typer.echo(f"  next: collections-engine whatif --runs {runs} --date {night} "
                   f"--strategy {strategy} --out {out / 'whatif'}")

