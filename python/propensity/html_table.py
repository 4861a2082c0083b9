"""HTML building blocks: tables of escaped cells, fact lists and notes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

import numpy as np
import pandas as pd

from propensity.report_text import MISSING, date_text, fixed, integer, is_missing


@dataclass(frozen=True)
class Cell:
    """A table cell: text (escaped on output), left-aligned or not, and an optional class."""

    text: str
    is_text: bool = False
    css: str = ""


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell | str]],
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; plain strings are numeric (right-aligned) cells."""
    head = "".join(
        f'<th class="text">{escape(h)}</th>' if index == 0 else f"<th>{escape(h)}</th>"
        for index, h in enumerate(headers)
    )
    body = []
    for index, row in enumerate(rows):
        css = row_classes[index] if row_classes and row_classes[index] else ""
        cells = []
        for cell in row:
            if isinstance(cell, str):
                cell = Cell(cell)
            classes = " ".join(c for c in ("text" if cell.is_text else "", cell.css) if c)
            attribute = f' class="{classes}"' if classes else ""
            cells.append(f"<td{attribute}>{escape(cell.text)}</td>")
        attribute = f' class="{css}"' if css else ""
        body.append(f"<tr{attribute}>{''.join(cells)}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def facts(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column table of labelled facts."""
    body = "".join(f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def note(text: str) -> str:
    """A paragraph saying why a part of the page is thin."""
    return f'<p class="note">{escape(text)}</p>'


def frame_table(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    """A monitoring frame as a table; floats to 4 decimals, dates as dates."""
    rows = []
    for record in frame[list(columns)].itertuples(index=False):
        cells: list[Cell | str] = []
        for index, value in enumerate(record):
            if isinstance(value, bool | np.bool_):
                cells.append(Cell(str(bool(value)).lower(), is_text=True))
            elif isinstance(value, int | np.integer):
                cells.append(integer(value))
            elif isinstance(value, float | np.floating):
                cells.append(fixed(value))
            elif isinstance(value, datetime | date | pd.Timestamp):
                cells.append(date_text(value))
            elif is_missing(value):
                cells.append(MISSING)
            else:
                cells.append(Cell(str(value), is_text=index == 0 or isinstance(value, str)))
        rows.append(cells)
    return table([str(c) for c in columns], rows)
