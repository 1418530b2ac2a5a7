"""Contributions from CSV: one per row, the columns of :data:`CSV_COLUMNS` plus ``config.<hyperparameter>``; each
row becomes the object a JSON contribution would be, so it is validated the same way."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from zone_explorer.contrib.validation import METRIC_RANGE_FIELDS, NEW_TASK_FIELDS, ContributionError

__all__ = ["CSV_COLUMNS", "rows_from_csv"]

CSV_COLUMNS = (
    "task",
    "optimizer",
    "value",
    "epochs",
    "steps",
    "seeds",
    "curve",
    "hardware",
    "software",
    "source_doi",
    "source_url",
    "source_notes",
    *(f"task_{k}" for k in NEW_TASK_FIELDS[1:] + METRIC_RANGE_FIELDS),
)


def _cell(text: str) -> Any:
    """A CSV cell as JSON would have it: bool, None, int, float, else the string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def _numbers(text: str, where: str, conv: Callable[[str], Any]) -> list:
    try:
        return [conv(v) for v in text.split(";") if v.strip()]
    except ValueError:
        raise ContributionError(where, f"must be ';'-separated numbers, got {text[:80]!r}") from None


def rows_from_csv(data: bytes | str, *, max_rows: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    """Contributions from CSV: one per row; columns :data:`CSV_COLUMNS` plus ``config.<hyperparameter>``.

    ``seeds`` and ``curve`` are ``;``-separated; a new task is described in the ``task_*`` columns; empty cells are
    absent values. Returns ``(CSV line, contribution)`` pairs; errors name the row as ``rows[i]`` (i from 0).
    """
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise ContributionError("csv", f"must be UTF-8 text: {err.reason} at byte {err.start}") from None
    if "\x00" in data:
        raise ContributionError("csv", "must not contain NUL characters")
    reader = csv.reader(io.StringIO(data, newline=""), strict=True)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise ContributionError(
                "csv", "empty: the first line must name the columns, e.g. task,optimizer,value,config.lr"
            )
        header = [h.strip() for h in header]
        for h in header:
            if h not in CSV_COLUMNS and not (h.startswith("config.") and len(h) > 7):
                raise ContributionError(
                    "csv.header", f"unknown column {h[:80]!r} (valid: {', '.join(CSV_COLUMNS)}, config.<name>)"
                )
        if len(set(header)) != len(header):
            raise ContributionError("csv.header", "repeats a column")
        rows: list[tuple[int, dict[str, Any]]] = []
        for cells in reader:
            if not any(c.strip() for c in cells):
                continue
            i, line = len(rows), reader.line_num
            if len(rows) >= max_rows:
                raise ContributionError("csv", f"at most {max_rows} rows per upload")
            if len(cells) != len(header):
                raise ContributionError(
                    f"rows[{i}]", f"CSV line {line} has {len(cells)} fields, the header {len(header)}"
                )
            rows.append((line, _row(dict(zip(header, cells)), f"rows[{i}]")))
    except csv.Error as err:
        raise ContributionError("csv", f"malformed CSV at line {reader.line_num}: {err}") from None
    if not rows:
        raise ContributionError("csv", "has a header but no rows")
    return rows


def _row(cells: dict[str, str], where: str) -> dict[str, Any]:
    get = {k: v for k, v in cells.items() if v.strip() != ""}
    item: dict[str, Any] = {}
    if any(k.startswith("task_") for k in get):
        item["task"] = {
            "name": get.get("task"),
            **{k[5:]: _cell(v) if k[5:] in METRIC_RANGE_FIELDS else v for k, v in get.items() if k.startswith("task_")},
        }
    elif "task" in get:
        item["task"] = get["task"]
    for k in ("optimizer", "hardware", "software"):
        if k in get:
            item[k] = get[k]
    if "value" in get:
        item["value"] = _cell(get["value"])
    budget = {k: _cell(get[k]) for k in ("epochs", "steps") if k in get}
    if budget:
        item["budget"] = budget
    if "seeds" in get:
        item["seeds"] = _numbers(get["seeds"], f"{where}.seeds", int)
    if "curve" in get:
        item["curve"] = _numbers(get["curve"], f"{where}.curve", float)
    source = {k[7:]: v for k, v in get.items() if k.startswith("source_")}
    if source:
        item["source"] = source
    item["config"] = {k[7:]: _cell(v) for k, v in get.items() if k.startswith("config.")}
    return item
