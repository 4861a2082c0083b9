"""The propensity command line: parses arguments and calls the package's functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from propensity.pipeline import PROJECT_DIR

DEFAULT_WAREHOUSE = PROJECT_DIR / "warehouse" / "propensity.duckdb"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="propensity", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    generate = commands.add_parser("generate", help="write demo raw data (Parquet)")
    generate.add_argument("--customers", type=int, required=True)
    generate.add_argument("--seed", type=int, required=True)
    generate.add_argument("--out", type=Path, required=True, help="directory for the raw tables")
    generate.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 1))
    generate.add_argument("--months", type=int, default=24)
    generate.add_argument(
        "--truth-out", type=Path, default=None, help="truth directory (default OUT/../truth)"
    )

    build = commands.add_parser("build", help="dbt build: clean, features, train if needed, score")
    build.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    build.add_argument("--raw-dir", type=Path, default=None, help="raw Parquet directory")
    build.add_argument("--retrain", action="store_true", help="train a new model version")

    export = commands.add_parser("export", help="write a campaign audience for upload")
    export.add_argument("--campaign", required=True)
    export.add_argument("--format", choices=("csv", "parquet"), required=True)
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    export.add_argument(
        "--include-control", action="store_true", help="also write the control group rows"
    )

    models = commands.add_parser("models", help="list, compare, promote, roll back versions")
    actions = models.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every registered version; * marks the one in use")
    listing.add_argument("--task", default=None)
    compare = actions.add_parser("compare", help="two versions' metrics side by side")
    compare.add_argument("first")
    compare.add_argument("second")
    promote = actions.add_parser("promote", help="put a version in use (from the next build)")
    promote.add_argument("version")
    rollback = actions.add_parser("rollback", help="back to the version in use before this one")
    rollback.add_argument("--task", required=True)
    for action in (listing, compare, promote, rollback):
        action.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)

    report = commands.add_parser("report", help="write an HTML model card per version")
    report.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    chosen = report.add_mutually_exclusive_group()
    chosen.add_argument("--version", default=None, help="a registered version")
    chosen.add_argument("--task", default=None, help="the task's version in use")
    report.add_argument("--out", type=Path, default=Path("reports"), help="default reports/")
    report.add_argument(
        "--truth", type=Path, default=None, help="demo truth file: gap to the true probabilities"
    )

    demo = commands.add_parser("demo", help="generate, build and export the demo")
    demo.add_argument("--customers", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=42)
    return parser


RESCORE_HINT = "scores change at the next build: propensity build (or dbt build)"


def run_models_command(arguments: argparse.Namespace) -> None:
    """The models subcommands: list, compare, promote, rollback."""
    from propensity import models

    if arguments.action == "list":
        versions = models.list_versions(arguments.warehouse, arguments.task)
        if not versions:
            print("no registered models")
        for version in versions:
            print(
                f"{'*' if version.is_in_use else ' '} {version.model_version:<14} "
                f"{version.model_family:<26} {version.metrics_text}  "
                f"{version.training_rows:>10,} rows  "
                f"{version.training_window}  trained {version.trained_at:%Y-%m-%d %H:%M}  "
                f"sha256 {version.onnx_sha256[:12]}"
            )
    elif arguments.action == "compare":
        print(models.compare_versions(arguments.warehouse, arguments.first, arguments.second))
    elif arguments.action == "promote":
        task = models.promote(arguments.warehouse, arguments.version)
        print(f"{task}: {arguments.version} promoted; {RESCORE_HINT}")
    elif arguments.action == "rollback":
        version = models.rollback(arguments.warehouse, arguments.task)
        print(f"{arguments.task}: rolled back to {version}; {RESCORE_HINT}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    arguments = build_parser().parse_args(argv)
    try:
        if arguments.command == "generate":
            from propensity.demo import describe_generation
            from propensity.generate import generate

            summary = generate(
                out_dir=arguments.out,
                customers=arguments.customers,
                seed=arguments.seed,
                end_date=arguments.end_date,
                months=arguments.months,
                truth_dir=arguments.truth_out,
            )
            print(describe_generation(summary))
        elif arguments.command == "build":
            from propensity.pipeline import run_dbt

            command = ["build"]
            if arguments.retrain:
                command += ["--vars", "{retrain: true}"]
            run_dbt(command, warehouse=arguments.warehouse, raw_dir=arguments.raw_dir)
        elif arguments.command == "export":
            from propensity.export import export_campaign

            exported = export_campaign(
                arguments.warehouse,
                arguments.campaign,
                arguments.format,
                arguments.out,
                include_control=arguments.include_control,
            )
            print(
                f"wrote {exported.rows:,} rows of {exported.campaign_id} to {exported.path}"
                f" ({exported.control_rows_left_out:,} control rows left out)"
            )
        elif arguments.command == "models":
            run_models_command(arguments)
        elif arguments.command == "report":
            from propensity.report import describe_report, write_reports

            for summary in write_reports(
                arguments.warehouse,
                arguments.out,
                version=arguments.version,
                task=arguments.task,
                truth_file=arguments.truth,
                progress=print,
            ):
                print(describe_report(summary))
        elif arguments.command == "demo":
            from propensity.demo import run_demo

            run_demo(arguments.customers, arguments.seed)
    except (ValueError, RuntimeError) as error:
        print(f"propensity {arguments.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
