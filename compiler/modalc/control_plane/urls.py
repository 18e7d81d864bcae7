"""Web endpoint URLs shaped like the ones Modal assigns to deployed apps.

Modal documents deployed endpoint URLs as `https://<source>--<label>.modal.run`, where
`source` is the workspace slug, followed by `-<environment web suffix>` when the
environment has one, and `label` is the user-requested label or `<app>-<function>`.
Each part is normalized to lowercase letters, digits and dashes. A DNS label holds at
most 63 characters, so longer subdomains are truncated and end in a short hash
(Modal flags this with `WebUrlInfo.truncated`/`has_unique_hash`; its exact hash is not
documented, ours is the first 6 hex digits of the SHA-256 of the untruncated subdomain).
"""

from __future__ import annotations

import hashlib
import re

MAX_SUBDOMAIN_LENGTH = 63
_HASH_LENGTH = 6


def slug(text: str) -> str:
    """Lowercase `text` and collapse every run of other characters than [a-z0-9] to '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def web_url(
    *,
    workspace: str,
    web_suffix: str,
    app_name: str,
    function_name: str,
    label: str = "",
) -> tuple[str, bool]:
    """Return (url, truncated) for a deployed web endpoint.

    `function_name` is the Modal function name (for class methods, `Class.method`);
    `label` is the decorator's `label=` (sent as `requested_suffix`), which replaces
    `<app>-<function>` when given.
    """
    source = "-".join(part for part in (slug(workspace), slug(web_suffix)) if part)
    name = slug(label) if label else slug(f"{app_name}-{function_name}")
    subdomain = f"{source}--{name}"
    truncated = len(subdomain) > MAX_SUBDOMAIN_LENGTH
    if truncated:
        digest = hashlib.sha256(subdomain.encode()).hexdigest()[:_HASH_LENGTH]
        keep = MAX_SUBDOMAIN_LENGTH - _HASH_LENGTH - 1
        subdomain = f"{subdomain[:keep].rstrip('-')}-{digest}"
    return f"https://{subdomain}.modal.run", truncated
