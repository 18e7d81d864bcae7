"""Credentials do not belong in a manifest: find literals shaped like one, and redact them from messages.

Secrets reach a Modal app by name (`secrets.<alias>.name`); their values live in Modal. A literal that looks
like an API key, a cloud access key or a private key is refused wherever it is written, with a hint to move it
into a Modal secret. What only looks random is allowed: hex digests, `--hash=` pins, git SHAs and model
revisions are hexadecimal, and real keys are not.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diagnostics import Diagnostic, KeyPath
    from .load import LoadedManifest

# (pattern, what it is). Prefixes of widely used credential formats.
KNOWN_FORMATS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"-----BEGIN [A-Z ]*PRIVATE KEY-----", "a private key"),
        (r"\bsk-(?:proj-|ant-|live-)?[A-Za-z0-9_-]{16,}", "an API key (sk-...)"),
        (r"\b(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}", "a Stripe live key"),
        (r"\bhf_[A-Za-z0-9]{20,}", "a Hugging Face token"),
        (r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "an AWS access key id"),
        (r"\bgh[pousr]_[A-Za-z0-9]{30,}", "a GitHub token"),
        (r"\bgithub_pat_[A-Za-z0-9_]{30,}", "a GitHub token"),
        (r"\bglpat-[A-Za-z0-9_-]{20,}", "a GitLab token"),
        (r"\bxox[abprs]-[A-Za-z0-9-]{10,}", "a Slack token"),
        (r"\bAIza[0-9A-Za-z_-]{35}\b", "a Google API key"),
        (r"\bnpm_[A-Za-z0-9]{30,}", "an npm token"),
        (r"\bak-[A-Za-z0-9]{20,}|\bas-[A-Za-z0-9]{20,}", "a Modal token"),
        (r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", "a JSON web token"),
        (r"://[^/\s:@]+:[^/\s@]+@", "a password in a URL"),
    )
)

# Long runs of base64/URL-safe characters; judged by their mix of characters and their entropy.
_CANDIDATE = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_ENTROPY_BITS = 4.2


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_looking(token: str) -> bool:
    core = token.strip("=-_/+")
    if len(core) < 32 or _HEX.match(core):
        return False
    classes = sum(bool(re.search(p, core)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return classes == 3 and _entropy(core) >= MIN_ENTROPY_BITS


def find_credential(text: str) -> tuple[str, str] | None:
    """(what it looks like, the matching text) for the first credential-shaped part of `text`, or None."""
    for pattern, name in KNOWN_FORMATS:
        match = pattern.search(text)
        if match:
            return name, match.group(0)
    for match in _CANDIDATE.finditer(text):
        if _random_looking(match.group(0)):
            return "a long random string (a key or token?)", match.group(0)
    return None


def redact(text: str) -> str:
    """`text` with every credential-shaped part cut to its first four characters."""
    for pattern, _ in KNOWN_FORMATS:
        text = pattern.sub(lambda m: _mask(m.group(0)), text)
    return _CANDIDATE.sub(lambda m: _mask(m.group(0)) if _random_looking(m.group(0)) else m.group(0), text)


def _mask(secret: str) -> str:
    return f"{secret[:4]}…[redacted]"


def find_credentials(manifest: LoadedManifest) -> list[Diagnostic]:
    """Credential-shaped literals anywhere in the manifest (environments included): values belong in Modal."""
    # Imported here: diagnostics imports this module (to redact every message it renders).
    from .diagnostics import CREDENTIAL, Diagnostic

    found = []
    for path, value in string_values(manifest.data):
        credential = find_credential(value)
        if credential is None:
            continue
        what, _ = credential
        line, column = manifest.source_map.value_position(path)
        found.append(
            Diagnostic(
                manifest.display_name,
                line,
                column,
                f"this looks like {what}; never write credentials in a manifest",
                path,
                hint="put it in a Modal secret (`modal secret create NAME KEY=...`) and reference the secret by name "
                "under `secrets`",
                code=CREDENTIAL,
                stage="credentials",
            )
        )
    return found


def string_values(data: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    """Every string value in a manifest with its key path (keys themselves are names, not values)."""
    stack: list[tuple[Any, KeyPath]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            yield where, value
        elif isinstance(value, dict):
            stack.extend((v, (*where, k)) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((v, (*where, i)) for i, v in reversed(list(enumerate(value))))
