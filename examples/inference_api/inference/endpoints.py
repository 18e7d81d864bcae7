"""Sentiment inference over HTTP: a single FastAPI endpoint and a full ASGI app."""

from __future__ import annotations

import os

from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel


class Prediction(BaseModel):
    label: str
    score: float


def _classifier():
    from transformers import pipeline

    return pipeline("sentiment-analysis", device=0)


def predict(text: str, threshold: float = 0.5) -> dict:
    result = _classifier()(text)[0]
    return {"label": result["label"], "score": result["score"], "confident": result["score"] >= threshold}


web_app = FastAPI(title="Sentiment API")


@web_app.post("/v1/predict")
def predict_route(text: str, x_api_key: str = Header(default="")) -> Prediction:
    if x_api_key != os.environ.get("API_KEY"):
        raise HTTPException(status_code=401, detail="invalid API key")
    result = _classifier()(text)[0]
    return Prediction(label=result["label"], score=result["score"])
