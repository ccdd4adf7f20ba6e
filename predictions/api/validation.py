"""Strict validation of predict rows, done in plain Python and numpy (no per-row serializer).

Every row must carry exactly the model's features, each a finite JSON number. Errors name the
row, the field and the reason; values are never echoed back (an `inf` would not be valid JSON).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_ERRORS = 50
BODY_FIELDS = ("rows", "variant")


class RowsInvalid(ValueError):
    def __init__(self, detail: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


def predict_body(body: Any, feature_names: list[str], max_rows: int,
                 variants: tuple[str, ...]) -> tuple[np.ndarray, str | None]:
    """A predict body as (rows matrix, requested variant or None), or RowsInvalid."""
    if not isinstance(body, dict):
        raise RowsInvalid("the body must be a JSON object", [{"field": "body", "reason": "not an object"}])
    unknown = sorted(_name(k) for k in body if k not in BODY_FIELDS)
    if unknown:
        raise RowsInvalid("unknown fields in body",
                          [{"field": f, "reason": "unknown field"} for f in unknown[:MAX_ERRORS]])
    variant = body.get("variant")
    if "variant" in body and (type(variant) is not str or variant not in variants):
        raise RowsInvalid("invalid request", [{"field": "variant", "reason": f"one of {list(variants)}"}])
    return rows_matrix(body, feature_names, max_rows), variant


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
    X = _well_formed(rows, feature_names, wanted)
    if X is not None:
        return X
    return _with_reasons(rows, feature_names, wanted)


def _well_formed(rows: list[Any], feature_names: list[str], wanted: set[str]) -> np.ndarray | None:
    """The matrix if every row is exactly right (the usual case), checked in bulk; else None,
    and the row-by-row pass finds the reasons."""
    for row in rows:
        if type(row) is not dict or row.keys() != wanted:
            return None
    flat = [row[name] for row in rows for name in feature_names]
    for value in flat:
        if type(value) is not float and type(value) is not int:
            return None
    try:
        X = np.array(flat, dtype=np.float64).reshape(len(rows), len(feature_names))
    except OverflowError:  # an int beyond float range
        return None
    return X if np.isfinite(X).all() else None


def _with_reasons(rows: list[Any], feature_names: list[str], wanted: set[str]) -> np.ndarray:
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
            unknown = sorted(_name(k) for k in row if k not in wanted)
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


def _name(key: Any) -> str:
    """A client's key as named back in an error, bounded in length."""
    text = str(key)
    return text if len(text) <= 80 else text[:77] + "..."


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
