"""Column handling for a user's flat table: which columns become features, and how.

Numeric and boolean columns are features as they are (a NULL or NaN stays missing: the
logistic model's imputer and the trees' missing-value branches deal with it). Text columns,
and integer codes the user names as categorical, become one-hot indicators of their most
frequent values (`<column>__<value>`), an `<column>__other` indicator for rarer and unseen
values and an `<column>__missing` one for NULL. Dates and timestamps other than the time
column become `<column>__days_before`, the days from them to the row's time (dropped when
there is no time column). Constant and all-NULL columns are dropped. The id, the time and the
label never become features.

The same encoding exists twice: `TableEncoding.encode` in Python (training and onnxruntime)
and `TableEncoding.select_sql`, a select list over the raw table that the compiled model's
SQL reads, so the warehouse scores the user's table as it is. Both start from the same raw
values (`read_sql`) and give identical doubles.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from propensity.onnx_sql import double_literal, quote_identifier

NUMERIC_TYPES = frozenset(
    {
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "hugeint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "uhugeint",
        "float",
        "double",
        "decimal",
    }
)
TEXT_TYPES = frozenset({"varchar", "enum", "uuid"})
DATETIME_TYPES = frozenset(
    {
        "date",
        "timestamp",
        "timestamp with time zone",
        "timestamp_s",
        "timestamp_ms",
        "timestamp_ns",
    }
)
PERIODS = ("day", "week", "month", "quarter")
# The passthrough column holding each row's period (or pseudo-period) in the scoring SQL.
PERIOD_COLUMN = "__period_start"
# The id when the table names none: the row's number in the input's order, from 1.
ROW_NUMBER_COLUMN = "row_number"
# Pseudo-period k (1..K) of a table without a time column is the date 2000-01-01 + k - 1 days.
PSEUDO_PERIOD_ORIGIN = date(2000, 1, 1)
MICROSECONDS_PER_DAY = 86_400_000_000
POSITIVE_WORDS = ("yes", "y", "true", "t", "1", "positive")
NEGATIVE_WORDS = ("no", "n", "false", "f", "0", "negative")
_ONE, _ZERO = "1.0e0", "0.0e0"


class EncodingError(ValueError):
    """The table's columns cannot be used as asked."""


def type_class(type_id: str) -> str:
    """A DuckDB type id as "numeric", "boolean", "text", "datetime" or "unsupported"."""
    base = type_id.lower()
    if base in NUMERIC_TYPES:
        return "numeric"
    if base == "boolean":
        return "boolean"
    if base in TEXT_TYPES:
        return "text"
    if base in DATETIME_TYPES:
        return "datetime"
    return "unsupported"


def sql_string(text: str) -> str:
    """A single-quoted SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def pseudo_period(id_text: str, seed: int, periods: int) -> int:
    """The pseudo-period (1..periods) of an id, as the scoring SQL assigns it: the first 15 hex
    digits of md5('<id>:<seed>') modulo the number of periods, plus one."""
    digest = hashlib.md5(f"{id_text}:{seed}".encode()).hexdigest()
    return int(digest[:15], 16) % periods + 1


def _slug(value: str) -> str:
    slug = re.sub(r"\W+", "_", value.lower()).strip("_")[:40].strip("_")
    return slug or "value"


@dataclass(frozen=True)
class ColumnPlan:
    """What happens to one input column: its kind, the features it gives and why."""

    column: str
    sql_type: str
    kind: str  # numeric, boolean, categorical, days_before or dropped
    note: str
    features: tuple[str, ...] = ()
    # categorical: the values with an indicator of their own, in the order of `features`
    # (which end with the other and missing indicators).
    categories: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: the column, its type and what became of it."""
        return f"{self.column} ({self.sql_type}): {self.note}"

    def read_sql(self) -> str:
        """The raw value Python reads for this column (numbers as DOUBLE, categories as text)."""
        column = quote_identifier(self.column)
        if self.kind == "numeric":
            return f"cast({column} as double) as {column}"
        if self.kind == "categorical":
            return f"cast({column} as varchar) as {column}"
        return column

    def feature_sql(self, time_column: str | None) -> list[tuple[str, str]]:
        """(feature, SQL expression over the raw table) for each feature of the column."""
        column = quote_identifier(self.column)
        if self.kind in ("numeric", "boolean"):
            return [(self.features[0], f"cast({column} as double)")]
        if self.kind == "days_before":
            if time_column is None:
                raise EncodingError(f"{self.column}: days before needs a time column")
            time = quote_identifier(time_column)
            day = double_literal(float(MICROSECONDS_PER_DAY))
            return [(self.features[0], f"(epoch_us({time}) - epoch_us({column})) / {day}")]
        if self.kind == "categorical":
            text = f"cast({column} as varchar)"
            pairs = [
                (name, f"case when {text} = {sql_string(value)} then {_ONE} else {_ZERO} end")
                for name, value in zip(self.features, self.categories, strict=False)
            ]
            if self.categories:
                listed = ", ".join(sql_string(value) for value in self.categories)
                other = (
                    f"case when {column} is null then {_ZERO} "
                    f"when {text} in ({listed}) then {_ZERO} else {_ONE} end"
                )
            else:
                other = f"case when {column} is null then {_ZERO} else {_ONE} end"
            pairs.append((self.features[-2], other))
            pairs.append(
                (self.features[-1], f"case when {column} is null then {_ONE} else {_ZERO} end")
            )
            return pairs
        return []

    def encode(self, frame: pd.DataFrame, time_column: str | None) -> dict[str, np.ndarray]:
        """The column's features in Python: float64 arrays, NaN for missing."""
        if self.kind == "numeric":
            values = frame[self.column].to_numpy(dtype="float64", na_value=np.nan)
            return {self.features[0]: values}
        if self.kind == "boolean":
            values = pd.array(frame[self.column], dtype="boolean")
            return {self.features[0]: values.to_numpy(dtype="float64", na_value=np.nan)}
        if self.kind == "days_before":
            if time_column is None:
                raise EncodingError(f"{self.column}: days before needs a time column")
            # Whole microseconds below 2**53 are exact in float64, and so is their difference:
            # the same double DuckDB divides (NaN where either side is missing).
            later = epoch_microseconds(frame[time_column])
            earlier = epoch_microseconds(frame[self.column])
            return {self.features[0]: (later - earlier) / float(MICROSECONDS_PER_DAY)}
        if self.kind == "categorical":
            values = frame[self.column]
            is_missing = values.isna().to_numpy()
            # Exact text equality, as SQL's `=`: values outside the categories get code -1.
            codes = pd.Categorical(
                values.astype(object).where(~is_missing, None), categories=list(self.categories)
            ).codes
            result = {
                name: (codes == code).astype("float64")
                for code, name in enumerate(self.features[: len(self.categories)])
            }
            result[self.features[-2]] = ((codes == -1) & ~is_missing).astype("float64")
            result[self.features[-1]] = is_missing.astype("float64")
            return result
        return {}


def epoch_microseconds(values: pd.Series) -> np.ndarray:
    """Microseconds since 1970-01-01 UTC of dates or timestamps (NaN when missing), exactly as
    DuckDB's epoch_us gives them (held in float64 only for the NaN; values below 2**53)."""
    series = pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(series):
        series = pd.to_datetime(series)
    if getattr(series.dt, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    missing = series.isna().to_numpy()
    integers = series.astype("datetime64[us]").to_numpy().astype("int64")
    return np.where(missing, np.nan, integers.astype("float64"))


@dataclass(frozen=True)
class TableEncoding:
    """Every column's plan plus the roles (id, time, periods) the scoring SQL needs."""

    id_column: str | None  # None: the row number in the input's order
    time_column: str | None
    period: str  # one of PERIODS, or "pseudo" without a time column
    pseudo_periods: int
    seed: int
    columns: tuple[ColumnPlan, ...]

    @property
    def key_column(self) -> str:
        """The column that identifies a row in the scores."""
        return self.id_column or ROW_NUMBER_COLUMN

    @property
    def key_columns(self) -> tuple[str, ...]:
        """The id, and the time when there is one: the scores' keys."""
        return (self.key_column, self.time_column) if self.time_column else (self.key_column,)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """Every feature, in column order."""
        return tuple(feature for plan in self.columns for feature in plan.features)

    def feature_descriptions(self) -> dict[str, str]:
        """Each feature in words, for the importance table."""
        descriptions = {}
        for plan in self.columns:
            if plan.kind == "categorical":
                for name, value in zip(plan.features, plan.categories, strict=False):
                    descriptions[name] = f"{plan.column} is {value!r}"
                descriptions[plan.features[-2]] = f"{plan.column} is a rarer or unseen value"
                descriptions[plan.features[-1]] = f"{plan.column} is missing"
            elif plan.kind == "days_before":
                descriptions[plan.features[0]] = f"days from {plan.column} to {self.time_column}"
            else:
                descriptions.update({feature: plan.column for feature in plan.features})
        return descriptions

    def rows_sql(self, relation: str) -> str:
        """The raw table, with the row number when the id is one."""
        if self.id_column is not None:
            return relation
        number = quote_identifier(ROW_NUMBER_COLUMN)
        return f"(select *, row_number() over () as {number} from {relation})"

    def period_sql(self) -> str:
        """Each row's period: its time truncated to the period, or a pseudo-period date."""
        if self.time_column is not None:
            time = quote_identifier(self.time_column)
            return f"cast(date_trunc({sql_string(self.period)}, {time}) as date)"
        key = quote_identifier(self.key_column)
        digest = f"md5(cast({key} as varchar) || {sql_string(f':{self.seed}')})"
        number = f"cast(('0x' || substr({digest}, 1, 15)) as bigint) % {self.pseudo_periods}"
        return f"date {sql_string(PSEUDO_PERIOD_ORIGIN.isoformat())} + cast({number} as integer)"

    def _key_select(self) -> list[str]:
        columns = [quote_identifier(column) for column in self.key_columns]
        return [*columns, f"{self.period_sql()} as {quote_identifier(PERIOD_COLUMN)}"]

    def read_sql(self, relation: str, *, extra: Sequence[str] = (), where: str = "true") -> str:
        """The raw rows Python encodes: keys, period, `extra` select items and the inputs."""
        inputs = [plan.read_sql() for plan in self.columns if plan.features]
        # DuckDB refuses a time column listed twice; days_before columns never are the time.
        items = ",\n    ".join([*self._key_select(), *extra, *inputs])
        return (
            f"select\n    {items}\nfrom {self.rows_sql(relation)} as __propensity_raw\n"
            f"where {where}"
        )

    def select_sql(self, relation: str) -> str:
        """The encoding as SQL: keys, period and every feature, over the raw table."""
        items = self._key_select()
        for plan in self.columns:
            items += [
                f"{expression} as {quote_identifier(name)}"
                for name, expression in plan.feature_sql(self.time_column)
            ]
        body = ",\n    ".join(items)
        return f"select\n    {body}\nfrom {self.rows_sql(relation)} as __propensity_raw"

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The features of raw rows read with `read_sql`, as float64 columns (NaN = missing)."""
        features: dict[str, np.ndarray] = {}
        for plan in self.columns:
            features.update(plan.encode(frame, self.time_column))
        return pd.DataFrame(features, index=frame.index, columns=list(self.feature_columns))

    def describe(self) -> list[str]:
        """One line per input column."""
        return [plan.describe() for plan in self.columns]

    def to_dict(self) -> dict[str, Any]:
        """The encoding as stored with the model (JSON-ready)."""
        stored = asdict(self)
        stored["columns"] = [asdict(plan) for plan in self.columns]
        return stored

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> TableEncoding:
        """An encoding as stored with the model."""
        columns = tuple(
            ColumnPlan(
                **{
                    **plan,
                    "features": tuple(plan["features"]),
                    "categories": tuple(plan["categories"]),
                }
            )
            for plan in stored["columns"]
        )
        return cls(
            id_column=stored["id_column"],
            time_column=stored["time_column"],
            period=str(stored["period"]),
            pseudo_periods=int(stored["pseudo_periods"]),
            seed=int(stored["seed"]),
            columns=columns,
        )


# --------------------------------------------------------------------------------------------
# Deciding what each column becomes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An input column that may become features: its DuckDB type and its first reading."""

    column: str
    sql_type: str
    kind: str  # numeric, boolean, categorical, datetime, unsupported or excluded

    def read_plan(self) -> ColumnPlan:
        """A provisional plan that reads the column's raw values (nothing is decided yet)."""
        kind = "days_before" if self.kind == "datetime" else self.kind
        features = () if kind in ("unsupported", "excluded") else (self.column,)
        return ColumnPlan(self.column, self.sql_type, kind, "", features)


def _share(count: int, total: int) -> str:
    return f"{count / total:.1%}" if total else "0%"


def _indicator_names(column: str, categories: Sequence[str], taken: set[str]) -> tuple[str, ...]:
    """Feature names for a column's indicators, unique among `taken` (case-insensitively)."""
    stems = ["other", "missing", *(_slug(value) for value in categories)]
    names = []
    # The other and missing indicators are named first: a value "other" gets "__other_2".
    for stem in stems:
        name, number = f"{column}__{stem}", 2
        while name.lower() in taken:
            name, number = f"{column}__{stem}_{number}", number + 1
        taken.add(name.lower())
        names.append(name)
    return (*names[2:], *names[:2])


def plan_columns(
    frame: pd.DataFrame,
    candidates: Sequence[Candidate],
    *,
    time_column: str | None,
    reserved: Sequence[str],
    min_category_rows: int,
    max_categories: int,
) -> tuple[ColumnPlan, ...]:
    """Decide each candidate column's features from the labelled rows (labels unused)."""
    rows = len(frame)
    taken = {name.lower() for name in [*reserved, *(c.column for c in candidates)]}
    plans = []
    for candidate in candidates:
        column, sql_type = candidate.column, candidate.sql_type
        if candidate.kind == "excluded":
            plans.append(ColumnPlan(column, sql_type, "dropped", "dropped: --exclude names it"))
            continue
        if candidate.kind == "unsupported":
            plans.append(ColumnPlan(column, sql_type, "dropped", "dropped: unsupported type"))
            continue
        values = frame[column]
        missing = int(values.isna().sum())
        present = values.dropna()
        distinct = int(present.nunique())
        if missing == rows:
            plans.append(ColumnPlan(column, sql_type, "dropped", "dropped: every value is null"))
            continue
        if distinct <= 1 and missing == 0:
            only = present.iloc[0] if len(present) else None
            plans.append(
                ColumnPlan(column, sql_type, "dropped", f"dropped: constant (every row {only!r})")
            )
            continue
        missing_text = (
            f"{_share(missing, rows)} missing, left missing (median-imputed for the logistic "
            "model, the trees' own missing branch)"
            if missing
            else "no missing values"
        )
        if candidate.kind in ("numeric", "boolean"):
            plans.append(
                ColumnPlan(
                    column, sql_type, candidate.kind, f"{candidate.kind}: {missing_text}", (column,)
                )
            )
            continue
        if candidate.kind == "datetime":
            if time_column is None:
                plans.append(
                    ColumnPlan(
                        column,
                        sql_type,
                        "dropped",
                        "dropped: a date needs --time to measure days before the row's time",
                    )
                )
                continue
            name = f"{column}__days_before"
            if name.lower() in taken:
                raise EncodingError(f"feature {name} would clash with an input column")
            taken.add(name.lower())
            plans.append(
                ColumnPlan(
                    column,
                    sql_type,
                    "days_before",
                    f"date: days from it to {time_column} ({missing_text})",
                    (name,),
                )
            )
            continue
        # categorical
        counts = present.astype(str).value_counts()
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        kept = [value for value, count in ranked if count >= min_category_rows][:max_categories]
        rare = distinct - len(kept)
        rare_rows = int(len(present) - sum(counts[value] for value in kept))
        if not kept and missing == 0:
            plans.append(
                ColumnPlan(
                    column,
                    sql_type,
                    "dropped",
                    f"dropped: none of its {distinct:,} values has {min_category_rows} rows "
                    "(an id or free text?)",
                )
            )
            continue
        features = _indicator_names(column, kept, taken)
        shown = ", ".join(repr(value) for value in kept[:6]) + (", ..." if len(kept) > 6 else "")
        note = (
            f"categorical: {len(kept)} indicator(s) for the values with at least "
            f"{min_category_rows} rows ({shown or 'none'}), other for {rare:,} rarer value(s) "
            f"({_share(rare_rows, rows)} of rows) and unseen ones, missing for null "
            f"({_share(missing, rows)})"
        )
        plans.append(ColumnPlan(column, sql_type, "categorical", note, features, tuple(kept)))
    return tuple(plans)


# --------------------------------------------------------------------------------------------
# The label
# --------------------------------------------------------------------------------------------


def _listed(values: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(repr(value) for value in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def binary_label(
    values: pd.Series, column: str, kind: str, positive: str | None = None
) -> tuple[np.ndarray, object]:
    """The label as 0/1 and its positive value: booleans (true), numbers 0/1 (1), or two text
    values (yes/no and similar pairs, or the one `positive` names). Anything else is refused,
    naming the column and the values found."""
    present = values.dropna()
    found = present.unique().tolist()
    try:
        found = sorted(found)
    except TypeError:  # mixed types
        found = sorted(found, key=str)
    expected = (
        f"label column {column!r} must be binary (booleans, 0/1, or two text values such as "
        f"yes/no); found {len(found)} distinct value(s): {_listed(found)}"
    )
    if positive is not None:
        texts = present.astype(str)
        if positive not in set(texts) or texts.nunique() > 2:
            raise EncodingError(f"{expected}; --positive {positive!r} must be one of two values")
        return (texts == positive).to_numpy(dtype=bool).astype(int), positive
    if kind == "boolean":
        return present.astype(bool).to_numpy().astype(int), True
    if kind == "numeric":
        numbers = set(pd.to_numeric(present).tolist())
        if not numbers <= {0, 1}:
            raise EncodingError(expected)
        return (pd.to_numeric(present) == 1).to_numpy().astype(int), 1
    if kind in ("categorical", "text"):
        lowered = {str(value).strip().lower() for value in found}
        for yes, no in zip(POSITIVE_WORDS, NEGATIVE_WORDS, strict=True):
            if lowered and lowered <= {yes, no}:
                texts = present.astype(str).str.strip().str.lower()
                matching = [value for value in found if str(value).strip().lower() == yes]
                return (texts == yes).to_numpy(dtype=bool).astype(int), (
                    matching[0] if matching else yes
                )
        if len(found) == 2:
            raise EncodingError(
                f"label column {column!r} holds two text values, {_listed(found)}: name the "
                "positive one with --positive"
            )
    raise EncodingError(expected)


def zero_one(values: pd.Series, column: str, kind: str, keys: pd.Series) -> np.ndarray:
    """A 0/1 column (numbers 0 and 1, or booleans) as 0/1 integers; anything else is refused,
    naming the column, the values found and the first rows (by key) holding them."""
    if kind == "boolean":
        return values.astype(bool).to_numpy().astype(int)
    numbers = pd.to_numeric(values, errors="coerce") if kind == "numeric" else None
    wrong = ~values.isin([0, 1]) if numbers is None else ~numbers.isin([0, 1])
    if wrong.any():
        found = sorted({str(value) for value in values[wrong]})
        rows = ", ".join(str(key) for key in keys[wrong].head(5))
        raise EncodingError(
            f"column {column!r} must be 0/1 or boolean; {int(wrong.sum()):,} row(s) hold "
            f"{_listed(found)} (rows {rows}{', ...' if wrong.sum() > 5 else ''})"
        )
    return numbers.to_numpy().astype(int)
