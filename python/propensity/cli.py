"""The propensity command line: parses arguments and calls the package's functions."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from propensity.pipeline import PROJECT_DIR

DEFAULT_WAREHOUSE = PROJECT_DIR / "warehouse" / "propensity.duckdb"
DEFAULT_MODEL_DIR = PROJECT_DIR / "artifacts" / "models"


def baseline_rule(text: str) -> tuple[str, list[str]]:
    """A --baseline NAME=COL1,-COL2 rank rule ("-" ranks small values first)."""
    name, _, columns = text.partition("=")
    listed = [column.strip() for column in columns.split(",") if column.strip()]
    if not name.strip() or not listed:
        raise argparse.ArgumentTypeError(f"want NAME=COLUMN[,COLUMN...], not {text!r}")
    return name.strip(), listed


def add_table_source(command: argparse.ArgumentParser, *, required: bool) -> None:
    """--input FILE or --table schema.name (a DuckDB table in --warehouse)."""
    where = command.add_mutually_exclusive_group(required=required)
    where.add_argument("--input", help="a Parquet file, glob or directory, or a CSV file")
    where.add_argument("--table", help="a DuckDB table schema.name in --warehouse")


def add_own_table_options(command: argparse.ArgumentParser) -> None:
    """The options train-table and train-uplift-table share: roles, encoding, where to write."""
    command.add_argument("--id", dest="id_column", default=None, help="default: the row number")
    command.add_argument("--time", dest="time_column", default=None, help="a date or timestamp")
    command.add_argument("--period", default="month", help="day, week, month (default), quarter")
    command.add_argument(
        "--pseudo-periods", type=int, default=5, help="without --time: hash periods (default 5)"
    )
    command.add_argument("--task", default=None, help="the model's name (default: the input's)")
    command.add_argument("--exclude", nargs="+", action="extend", default=[], metavar="COLUMN")
    command.add_argument("--categorical", nargs="+", action="extend", default=[], metavar="COLUMN")
    command.add_argument("--families", nargs="+", default=[], help="default: every family")
    command.add_argument("--seed", type=int, default=20261125)
    command.add_argument("--min-category-rows", type=int, default=25)
    command.add_argument("--max-categories", type=int, default=20)
    command.add_argument("--max-training-rows", type=int, default=400_000)
    command.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    command.add_argument("--model-dir", type=Path, default=DEFAULT_MODEL_DIR)
    command.add_argument("--scores-schema", default="ml", help="scores go to SCHEMA.<task>_scores")
    command.add_argument("--no-score", action="store_true", help="register only")


def add_train_table(commands: argparse._SubParsersAction) -> None:
    """The train-table and score-table subcommands (bring your own features)."""
    table = commands.add_parser(
        "train-table",
        help="train, evaluate, register and score a model on your own flat table",
        description="Train a propensity model on a flat table of features and a label: "
        "columns are encoded (text one-hot, dates as days before the row's time), the "
        "rolling-origin backtest, baselines and calibration run, the version is registered "
        "in WAREHOUSE's ml.model_registry and the table is scored there by the compiled SQL.",
    )
    add_table_source(table, required=True)
    table.add_argument("--label", required=True, help="binary: booleans, 0/1 or yes/no")
    table.add_argument("--positive", default=None, help="the positive one of two text labels")
    add_own_table_options(table)
    table.add_argument(
        "--baseline", type=baseline_rule, action="append", default=[], metavar="NAME=COL,-COL"
    )
    table.add_argument("--folds", type=int, default=4, help="backtest folds (default 4)")
    table.add_argument("--calibration", default="auto", help="auto (default), sigmoid, none")

    uplift = commands.add_parser(
        "train-uplift-table",
        help="train, compare, register and score uplift models on your own experiment table",
        description="Train uplift models (two-model and class transformation, logistic and "
        "boosted stumps) on a flat table of a randomised campaign: feature columns, a 0/1 "
        "treatment column and a 0/1 outcome column. The newest periods (or hash pseudo-periods) "
        "are held out; the learner with the best held-out Qini coefficient is registered, the "
        "table is scored with its uplift in SQL, and a report page compares the learners with "
        "the response model and random targeting.",
    )
    add_table_source(uplift, required=True)
    uplift.add_argument("--treatment", required=True, help="0/1 or boolean: 1 = treated")
    uplift.add_argument("--outcome", required=True, help="0/1 or boolean: 1 = converted")
    add_own_table_options(uplift)
    uplift.add_argument(
        "--holdout-share", type=float, default=0.2, help="hold out the newest periods (0.2)"
    )
    uplift.add_argument("--value", type=float, default=None, help="revenue of one conversion")
    uplift.add_argument("--margin", type=float, default=None, help="profit share of it (0..1)")
    uplift.add_argument("--cost", type=float, default=None, help="cost of one contact")

    score = commands.add_parser(
        "score-table", help="score a table in the warehouse with a train-table version's SQL"
    )
    score.add_argument("--version", required=True)
    add_table_source(score, required=False)
    score.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    score.add_argument("--scores-schema", default="ml")
    score.add_argument("--into", default=None, help="schema.name (default SCHEMA.<task>_scores)")
    score.add_argument(
        "--check-parity", type=int, default=0, metavar="ROWS", help="compare ROWS with onnxruntime"
    )


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

    export = commands.add_parser(
        "export", help="write a campaign audience for upload, or the CRM next-best-actions"
    )
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--campaign", help="one campaign's audience")
    what.add_argument(
        "--decisions",
        action="store_true",
        help="decisions.next_best_actions: one action per customer with owner team and due time",
    )
    export.add_argument("--channel", default=None, help="with --decisions: only this channel")
    export.add_argument("--format", choices=("csv", "parquet"), required=True)
    export.add_argument("--out", type=Path, required=True)
    export.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)
    export.add_argument(
        "--include-control", action="store_true", help="also write the control group rows"
    )

    ads = commands.add_parser(
        "export-ads",
        help="write an ad-platform audience upload (SHA-256 of emails and phones only)",
        description="Write one audience of audiences.ad_audience_members in one ad "
        "platform's CSV columns: google (Email, Phone: SHA-256 of the trimmed, lower-case "
        "email and of the phone in E.164) or meta (email, phone: the phone digits only). "
        "No raw email, phone or name is written; members with neither are left out.",
    )
    ads.add_argument("--audience", required=True, help="best_customers_seed or lookalike_prospects")
    ads.add_argument("--platform", required=True, help="google or meta")
    ads.add_argument("--out", type=Path, required=True, help="the CSV file to write")
    ads.add_argument("--warehouse", type=Path, default=DEFAULT_WAREHOUSE)

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
        "--truth",
        type=Path,
        default=None,
        help="demo truth file, or directory of <task>_truth.parquet: gap to the true probabilities",
    )

    add_train_table(commands)

    power = commands.add_parser(
        "power",
        help="sample size, power and minimum detectable effect of a campaign test",
        description="Per-arm sample size of a two-sided two-proportion z-test (the read-outs' "
        "test) for a baseline and a target conversion rate; with --per-arm also the power at "
        "that size and the minimum detectable effect.",
    )
    power.add_argument("--baseline", type=float, required=True, help="control rate, e.g. 0.031")
    power.add_argument("--target", type=float, required=True, help="treatment rate, e.g. 0.037")
    power.add_argument("--alpha", type=float, default=0.05, help="two-sided level (0.05)")
    power.add_argument("--power", type=float, default=0.8, help="power wanted (0.8)")
    power.add_argument(
        "--control-share", type=float, default=0.5, help="share of customers in control (0.5)"
    )
    power.add_argument(
        "--per-arm",
        type=int,
        default=None,
        help="customers in the larger arm (both arms at a 0.5 share): report power and MDE",
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


def table_source(arguments: argparse.Namespace):
    """The --input or --table of a command, or None."""
    from propensity.table_source import TableSource

    if arguments.input is not None:
        return TableSource.from_path(arguments.input)
    if arguments.table is not None:
        return TableSource.from_table(arguments.table)
    return None


def own_table_settings(arguments: argparse.Namespace, **specific: object):
    """The settings of train-table or train-uplift-table: the shared options and `specific`."""
    from propensity.own_table import OwnTableSettings

    return OwnTableSettings(
        source=table_source(arguments),
        warehouse=arguments.warehouse,
        model_dir=arguments.model_dir,
        task=arguments.task,
        id_column=arguments.id_column,
        time_column=arguments.time_column,
        period=arguments.period,
        pseudo_periods=arguments.pseudo_periods,
        exclude=tuple(arguments.exclude),
        categorical=tuple(arguments.categorical),
        families=tuple(arguments.families),
        seed=arguments.seed,
        min_category_rows=arguments.min_category_rows,
        max_categories=arguments.max_categories,
        max_training_rows=arguments.max_training_rows,
        scores_schema=arguments.scores_schema,
        score=not arguments.no_score,
        **specific,
    )


def run_uplift_table_command(arguments: argparse.Namespace) -> int:
    """train-uplift-table; 1 when the SQL uplift disagrees with onnxruntime."""
    from propensity.uplift import CampaignEconomics
    from propensity.uplift_table import describe_uplift_result, train_uplift_table

    given = [arguments.value, arguments.margin, arguments.cost]
    if any(value is not None for value in given) and None in given:
        raise ValueError("--value, --margin and --cost go together")
    economics = None
    if arguments.value is not None:
        economics = CampaignEconomics(arguments.value, arguments.margin, arguments.cost)
    settings = own_table_settings(arguments, label=arguments.outcome, treatment=arguments.treatment)
    result = train_uplift_table(
        settings, economics=economics, holdout_share=arguments.holdout_share, progress=print
    )
    for line in describe_uplift_result(result):
        print(line)
    parity = result.table.parity
    if parity is not None and not parity.holds:
        print(
            f"propensity {arguments.command}: SQL uplift differs from onnxruntime", file=sys.stderr
        )
        return 1
    return 0


def run_table_command(arguments: argparse.Namespace) -> int:
    """train-table and score-table; 1 when the SQL scores disagree with onnxruntime."""
    from propensity import own_table, table_scoring

    if arguments.command == "train-table":
        settings = own_table_settings(
            arguments,
            label=arguments.label,
            positive=arguments.positive,
            baselines=dict(arguments.baseline),
            folds=arguments.folds,
            calibration=arguments.calibration,
        )
        result = own_table.train_own_table(settings, progress=print)
        for line in own_table.describe_result(result):
            print(line)
        parity = result.parity
    else:
        scored, parity = table_scoring.score_table(
            arguments.warehouse,
            arguments.version,
            source=table_source(arguments),
            schema=arguments.scores_schema,
            table=arguments.into,
            parity_rows=arguments.check_parity,
        )
        print(f"scored {scored.rows:,} rows into {scored.table} in {scored.seconds:.2f}s")
        if parity is not None:
            print(table_scoring.describe_parity(parity))
    if parity is not None and not parity.holds:
        print(
            f"propensity {arguments.command}: SQL scores differ from onnxruntime", file=sys.stderr
        )
        return 1
    return 0


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
        elif arguments.command == "export" and arguments.channel and not arguments.decisions:
            raise ValueError("--channel goes with --decisions, not with --campaign")
        elif arguments.command == "export" and arguments.decisions:
            from propensity.export import export_decisions

            decisions = export_decisions(
                arguments.warehouse, arguments.format, arguments.out, channel=arguments.channel
            )
            counts = ", ".join(
                f"{name} {count:,}" for name, count in decisions.rows_per_channel.items()
            )
            print(f"wrote {decisions.rows:,} decisions to {decisions.path} ({counts or 'none'})")
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
        elif arguments.command == "export-ads":
            from propensity.ad_export import describe_ad_export, export_ad_audience

            summary = export_ad_audience(
                arguments.warehouse, arguments.audience, arguments.platform, arguments.out
            )
            print(describe_ad_export(summary))
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
        elif arguments.command == "power":
            from propensity.power import describe_power, summarise_power

            summary = summarise_power(
                arguments.baseline,
                arguments.target,
                alpha=arguments.alpha,
                power=arguments.power,
                control_share=arguments.control_share,
                per_arm=arguments.per_arm,
            )
            print(describe_power(summary))
        elif arguments.command in ("train-table", "score-table"):
            return run_table_command(arguments)
        elif arguments.command == "train-uplift-table":
            return run_uplift_table_command(arguments)
        elif arguments.command == "demo":
            from propensity.demo import run_demo

            run_demo(arguments.customers, arguments.seed)
    except (ValueError, RuntimeError) as error:
        print(f"propensity {arguments.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
