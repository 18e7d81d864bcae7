"""Runs once, in Modal's image builder: the weights become part of the image's volume-backed cache."""

import os


def download(repo: str) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(repo, cache_dir=os.environ.get("HF_HOME", "/models/hf"))
