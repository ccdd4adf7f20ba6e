"""The usual FastAPI + uvicorn model server, as the reference for bench/api.py (never served).

It answers our predict contract the way such servers are commonly written: a pydantic body
model, a static bearer-token check, scikit-learn's predict_proba on the SAME skops artifact
(loaded with the same sha256 and trusted-type check), FastAPI's default JSON response.
Validation is as strict as ours where pydantic allows: 1..PREDICT_MAX_ROWS rows, exactly the
model's features, finite numbers only (bools and strings refused); errors are FastAPI's 422.
Handlers are `async def` (no thread-pool hop: the fastest FastAPI form for short CPU work).
It serves the ML variant only (no staff override: a `variant` field is refused with 403).

Configured by environment variables that bench/api.py sets: REF_ARTIFACT (path), REF_SHA256,
REF_FEATURES (comma-separated), REF_THRESHOLD, REF_VERSION, REF_TOKEN, REF_MAX_ROWS.
REF_SCORER=compiled swaps predict_proba for our numpy-compiled scorer (predictions.core.compiled,
checked equal to scikit-learn on the rows in REF_CHECK_ROWS, a .npy file): a second reference
that isolates the web framework's share of the cost from the model call's.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field, StrictFloat, StrictInt, field_validator

from predictions.core.scorers import load_model, ml_scorer

FEATURES = os.environ["REF_FEATURES"].split(",")
FEATURE_SET = frozenset(FEATURES)
THRESHOLD = float(os.environ["REF_THRESHOLD"])
VERSION = os.environ["REF_VERSION"]
TOKEN = os.environ["REF_TOKEN"]
MAX_ROWS = int(os.environ.get("REF_MAX_ROWS", "1000"))
# Loaded at import, i.e. when each uvicorn worker starts, as our web workers do.
MODEL = load_model(Path(os.environ["REF_ARTIFACT"]).read_bytes(), os.environ["REF_SHA256"])
if os.environ.get("REF_SCORER") == "compiled":
    score = ml_scorer(MODEL, THRESHOLD, np.load(os.environ["REF_CHECK_ROWS"])).score
else:
    def score(X: np.ndarray) -> np.ndarray:
        return MODEL.predict_proba(X)[:, 1]

FiniteNumber = Annotated[StrictFloat | StrictInt, Field(allow_inf_nan=False)]


class PredictRequest(BaseModel):
    model_config = {"extra": "forbid"}
    rows: Annotated[list[dict[str, FiniteNumber]], Field(min_length=1, max_length=MAX_ROWS)]
    variant: Literal["ml", "baseline"] | None = None

    @field_validator("rows")
    @classmethod
    def exactly_the_features(cls, rows: list[dict[str, float]]) -> list[dict[str, float]]:
        for i, row in enumerate(rows):
            if row.keys() != FEATURE_SET:
                raise ValueError(f"row {i} must carry exactly the model's features")
        return rows


async def require_token(authorization: str = Header(default="")) -> None:
    if authorization != f"Token {TOKEN}":
        raise HTTPException(status_code=401, detail="invalid or missing token")


app = FastAPI(title="reference model server")


@app.post("/api/v1/predict", dependencies=[Depends(require_token)])
async def predict(body: PredictRequest) -> dict:
    if body.variant is not None:
        raise HTTPException(status_code=403, detail="only staff may choose the variant")
    X = np.array([[row[name] for name in FEATURES] for row in body.rows], dtype=np.float64)
    scores = score(X)
    return {
        "scores": scores.tolist(),
        "labels": (scores >= THRESHOLD).astype(int).tolist(),
        "threshold": THRESHOLD,
        "model_variant": "ml",
        "model_version": VERSION,
        "ts": datetime.now(UTC).isoformat(),
    }


@app.get("/api/v1/health")
async def health() -> dict:
    return {"status": "ok"}
