"""Strict validation of predict rows, done in plain Python and numpy (no per-row serializer).

Every row must carry exactly the model's features, each a finite JSON number. Errors name the
row, the field and the reason; values are never echoed back (an `inf` would not be valid JSON).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_ERRORS = 50


class RowsInvalid(ValueError):
    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


def rows_matrix(body: Any, feature_names: list[str], max_rows: int) -> np.ndarray:
    """The request body's rows as an (n, features) float matrix, or RowsInvalid."""
    if not isinstance(body, dict):
        raise RowsInvalid("the body must be a JSON object", [{"field": "body", "reason": "not an object"}])
    rows = body.get("rows")
    if rows is None:
        raise RowsInvalid("'rows' is required", [{"field": "rows", "reason": "missing"}])
    if not isinstance(rows, list):
        raise RowsInvalid("'rows' must be a list", [{"field": "rows", "reason": "not a list"}])
    if not rows:
        raise RowsInvalid("'rows' is empty", [{"field": "rows", "reason": "at least 1 row"}])
    if len(rows) > max_rows:
        raise RowsInvalid(
            f"too many rows: {len(rows)} > {max_rows}",
            [{"field": "rows", "reason": f"at most {max_rows} rows per request"}],
        )
    wanted = set(feature_names)
    errors: list[dict[str, Any]] = []
    X = np.empty((len(rows), len(feature_names)), dtype=np.float64)
    for i, row in enumerate(rows):
        if len(errors) >= MAX_ERRORS:
            break
        if not isinstance(row, dict):
            errors.append({"row": i, "field": None, "reason": "row is not an object"})
            continue
        if row.keys() != wanted:
            missing = [n for n in feature_names if n not in row]
            unknown = sorted(str(k) for k in row if k not in wanted)
            errors.extend({"row": i, "field": n, "reason": "missing feature"} for n in missing)
            errors.extend({"row": i, "field": n, "reason": "unknown feature"} for n in unknown)
            continue
        for j, name in enumerate(feature_names):
            value = row[name]
            if type(value) is float or type(value) is int:
                number = _finite(value)
                if number is None:
                    errors.append({"row": i, "field": name, "reason": "not a finite number"})
                    continue
                X[i, j] = number
            else:
                errors.append({"row": i, "field": name,
                               "reason": f"expected a number, got {_json_type(value)}"})
    if errors:
        raise RowsInvalid(f"{len(errors)} invalid value(s) in rows", errors[:MAX_ERRORS])
    return X


def _finite(value: float | int) -> float | None:
    try:
        number = float(value)  # an int beyond float range overflows
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__
