"""Credentials do not belong in a manifest: find literals shaped like one, and redact them from messages.

Secrets reach a Modal app by name (`secrets.<alias>.name`); their values live in Modal. Three rules, tuned both
ways against the corpus in `tests/credential_corpus.py` (real values that must pass, fake credentials that must
not):

1. Known formats, by prefix and shape (`sk-`, `ghp_`, `AKIA`, `dop_v1_`, `shpat_`, private key blocks, a
   password in a URL, ...). Certain, so nothing waives them.
2. By name: a value written under a key that names a credential (`WANDB_API_KEY`, `DB_PASSWORD`,
   `TWILIO_AUTH_TOKEN`; in `env`, `tags` and `build_args`, and in `NAME=value`, `--flag value` and `?name=value`
   inside any string), unless the value is plainly not one (a path, a URL, a `${PLACEHOLDER}`, a number, a
   word with spaces). Hex is no proof of innocence here: Datadog and W&B keys are hex.
3. Long random strings: a run of 32 or more base64/URL-safe characters with a random-looking stretch: upper
   case, lower case and digits mixed the way random text mixes them (words between case changes average at most
   3.3 characters; CamelCase and model names average four and more), with high entropy, and few separators.
   Hex, UUIDs and hash notations (`sha256-...=` SRI, Go's `h1:...=`, `sha256:`) are not keys.

Rules 2 and 3 guess, so one value may be waived where it is written: a `# modalc: not-a-secret` comment after
it, on its line (see docs/manifest.md and docs/decisions.md). A marker waives only the value it follows, which
must be the last on its line; it never waives a known format; and a marker that waives nothing is a warning,
so markers do not outlive their value or get copied around.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .diagnostics import Diagnostic, KeyPath
    from .load import LoadedManifest

# (literals one of which the text must hold, pattern, what it is). Prefixes and shapes of widely used credential
# formats; the literals let a string skip every pattern it cannot match (a manifest of 1000 functions has
# 30,000 strings and keys).
KNOWN_FORMATS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = tuple(
    (needles, re.compile(pattern), name)
    for needles, pattern, name in (
        (("PRIVATE KEY",), r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----", "a private key"),
        (("AGE-SECRET-KEY-",), r"\bAGE-SECRET-KEY-1[0-9A-Z]{58}\b", "an age private key"),
        (("sk-",), r"\bsk-(?:proj-|ant-|live-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}", "an API key (sk-...)"),
        (("_live_",), r"\b(?:sk|rk|pk)_live_[A-Za-z0-9]{16,}", "a Stripe live key"),
        (("_test_",), r"\b(?:sk|rk)_test_[A-Za-z0-9]{16,}", "a Stripe test key"),
        (("whsec_",), r"\bwhsec_[A-Za-z0-9]{24,}", "a webhook signing secret"),
        (("hf_",), r"\bhf_[A-Za-z0-9]{20,}", "a Hugging Face token"),
        (("AKIA", "ASIA"), r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", "an AWS access key id"),
        (("gh", "github_pat_"), r"\bgh[pousr]_[A-Za-z0-9]{30,}", "a GitHub token"),
        (("gh", "github_pat_"), r"\bgithub_pat_[A-Za-z0-9_]{30,}", "a GitHub token"),
        (("glpat-",), r"\bglpat-[A-Za-z0-9_-]{20,}", "a GitLab token"),
        (("xox",), r"\bxox[abeprs]-[A-Za-z0-9-]{10,}", "a Slack token"),
        (
            ("hooks.slack.com",),
            r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}",
            "a Slack webhook URL",
        ),
        (("/api/webhooks/",), r"discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{40,}", "a Discord webhook URL"),
        (("AIza",), r"\bAIza[0-9A-Za-z_-]{35}\b", "a Google API key"),
        (("ya29.",), r"\bya29\.[0-9A-Za-z_-]{30,}", "a Google OAuth token"),
        (("npm_",), r"\bnpm_[A-Za-z0-9]{30,}", "an npm token"),
        (("pypi-",), r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{30,}", "a PyPI token"),
        (("ak-", "as-"), r"\bak-[A-Za-z0-9]{20,}|\bas-[A-Za-z0-9]{20,}", "a Modal token"),
        (("key-",), r"\bkey-[0-9a-zA-Z]{32}\b", "a Mailgun API key"),
        (("_v1_",), r"\bdo[opr]_v1_[a-f0-9]{64}\b", "a DigitalOcean token"),
        (("shp",), r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b", "a Shopify token"),
        (("SG.",), r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}", "a SendGrid API key"),
        (("dapi",), r"\bdapi[a-f0-9]{32}\b", "a Databricks token"),
        (("r8_",), r"\br8_[A-Za-z0-9]{30,}", "a Replicate token"),
        (("gsk_",), r"\bgsk_[A-Za-z0-9]{40,}", "a Groq API key"),
        (("lin_api_",), r"\blin_api_[A-Za-z0-9]{32,}", "a Linear API key"),
        (("AccountKey=",), r"\bAccountKey=[A-Za-z0-9+/]{40,}={0,2}", "an Azure storage account key"),
        (("eyJ",), r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}", "a JSON web token"),
        # userinfo with a password (the user name may be empty: redis://:password@host); a password may hold
        # '/', but ':8080/...' before an '@' later in the path is a port, and ${VAR} is a placeholder.
        (("://",), r"://[^/\s:@]*:(?!\d{1,5}(?:/|$))(?!\$|\{\{)[^\s@]+@", "a password in a URL"),
    )
)

# Any literal of any format: one search in C decides whether a string needs the patterns at all.
_ANY_NEEDLE = re.compile("|".join(re.escape(n) for needles, _, _ in KNOWN_FORMATS for n in needles))
SHORTEST_KNOWN = 19  # no known format fits in fewer characters but a password in a URL (checked by its needle)

# --- rule 2: by name ---------------------------------------------------------------------------------

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_SECRET_WORDS = frozenset(
    {"password", "passwd", "passphrase", "pwd", "secret", "token", "credential", "credentials", "apikey"}
)
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "app",
        "application",
        "account",
        "auth",
        "signing",
        "encryption",
        "master",
        "license",
        "client",
        "service",
        "admin",
        "write",
        "ingest",
        "session",
        "webhook",
        "shared",
        "consumer",
        "subscription",
        "storage",
    }
)
# A name that ends in one of these is about a credential, not one: SECRET_NAME, TOKEN_PATH, API_KEY_HEADER.
_ABOUT_WORDS = frozenset(
    {
        "name",
        "names",
        "id",
        "ids",
        "file",
        "files",
        "path",
        "paths",
        "dir",
        "url",
        "urls",
        "uri",
        "endpoint",
        "host",
        "type",
        "kind",
        "header",
        "field",
        "var",
        "env",
        "ref",
        "arn",
        "region",
        "length",
        "len",
        "limit",
        "ttl",
        "expiry",
        "expires",
        "scope",
        "scopes",
        "audience",
        "issuer",
        "mode",
        "format",
        "prefix",
        "version",
        "count",
        "max",
        "min",
        "size",
        "timeout",
        "enabled",
        "disabled",
        "required",
        "source",
        "location",
        "store",
        "backend",
        "provider",
        "encoding",
        "template",
        "policy",
        "rotation",
        "label",
        "user",
        "username",
        "email",
        "stdin",
        "tokens",
    }
)
# Mappings whose keys the user names (environment variables, tags, Docker build arguments).
NAMED_VALUE_MAPS = frozenset({"env", "tags", "build_args"})
_PLACEHOLDER = re.compile(r"^(?:\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|<[^<>]*>|\{\{[^{}]*\}\}|%\([^()]*\)s|(.)\1{3,})$")
_PLACEHOLDER_WORDS = frozenset(
    {"changeme", "change-me", "placeholder", "example", "dummy", "none", "null", "true", "false", "redacted", "unset"}
)
# NAME=value, --name value / --name=value, ?name=value inside any string
_ASSIGNMENTS = re.compile(
    r"(?:(?<![\w.-])([A-Za-z_][A-Za-z0-9_]*)=|(?<![\w-])--([A-Za-z][A-Za-z0-9-]*)[= ]|[?&]([A-Za-z_][A-Za-z0-9_.-]*)=)"
    r"['\"]?([^\s'\"&;|]+)"
)


def names_a_credential(key: str) -> bool:
    """Whether a key (an environment variable, a tag, a flag) says its value is a credential."""
    words = [w.lower() for w in _WORDS.findall(key)]
    if not words or words[-1] in _ABOUT_WORDS:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    return any(w == "key" and i > 0 and words[i - 1] in _KEY_QUALIFIERS for i, w in enumerate(words))


def _plainly_not_a_credential(value: str) -> bool:
    text = value.strip()
    return (
        len(text) < 6
        or any(c.isspace() for c in text)
        or bool(_PLACEHOLDER.match(text))
        or text.lower() in _PLACEHOLDER_WORDS
        or text.startswith(("/", "./", "../", "~/", "file:"))
        or ("://" in text and "@" not in text.split("://", 1)[1].split("/", 1)[0])
        or text.replace(".", "", 1).isdigit()
    )


# --- rule 3: long random strings ---------------------------------------------------------------------

_CANDIDATE = re.compile(r"[A-Za-z0-9+/_=-]{32,}")
_SEPARATORS = re.compile(r"[-_/+=]")
_HEX = re.compile(r"^[0-9a-fA-F-]+$")
_SRI = re.compile(r"^(?:sha(?:1|224|256|384|512)|md5)-[A-Za-z0-9+/]{20,}={0,2}$")
_HASH_LABEL = re.compile(r"(?:\bh1|\bsha(?:1|224|256|384|512)|\bmd5|\bblake2b?|\bxxh\d+):$", re.IGNORECASE)
MIN_ENTROPY_BITS = 4.2
MIN_STRETCH = 16  # a random stretch this long, between separators, is enough


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _random_stretch(text: str) -> bool:
    """Upper, lower and digits, mixed as random text mixes them: short words between case changes (at most 3.3
    characters on average; CamelCase and model names average four and more), and nearly as much entropy as the
    length allows."""
    if not (re.search(r"[a-z]", text) and re.search(r"[A-Z]", text) and re.search(r"[0-9]", text)):
        return False
    words = _WORDS.findall(text)
    mean_word = sum(map(len, words)) / len(words)
    return mean_word <= 3.3 and _entropy(text) >= min(MIN_ENTROPY_BITS, 0.8 * math.log2(len(text)))


def _random_looking(token: str, before: str = "") -> bool:
    core = token.strip("=")
    if len(core) < 32 or _HEX.match(core) or _SRI.match(token) or _HASH_LABEL.search(before):
        return False
    stretches = _SEPARATORS.split(core)
    if any(len(s) >= MIN_STRETCH and _random_stretch(s) for s in stretches):
        return True
    # Random base64 has a separator in about 30 characters; model names and file names have one in five or six.
    # Hex stretches (a commit in a path) are left out: their short words are not the mix random base64 has.
    joined = "".join(s for s in stretches if not (len(s) >= 8 and _HEX.match(s)))
    return len(stretches) - 1 <= len(core) // 8 and len(joined) >= 32 and _random_stretch(joined)


# --- finding and redacting ---------------------------------------------------------------------------


class Finding(NamedTuple):
    what: str  # "an API key (sk-...)"
    text: str  # the matching text
    rule: str  # "format", "name" or "random"

    @property
    def waivable(self) -> bool:
        return self.rule != "format"


def find_credential(text: str, *, key: str = "") -> Finding | None:
    """The first credential-shaped part of `text` (written under `key`, if it is a named value), or None."""
    if _ANY_NEEDLE.search(text):
        for needles, pattern, name in KNOWN_FORMATS:
            if any(needle in text for needle in needles) and (match := pattern.search(text)):
                return Finding(name, match.group(0), "format")
    if key and names_a_credential(key) and not _plainly_not_a_credential(text):
        return Finding(f"a credential (it is written under {key!r})", text, "name")
    if "=" in text or "--" in text:
        for match in _ASSIGNMENTS.finditer(text):
            name = next(group for group in match.groups()[:3] if group)
            value = match.group(4)
            if names_a_credential(name) and not _plainly_not_a_credential(value):
                return Finding(f"a credential (given as {name})", value, "name")
    if len(text) >= 32:
        for match in _CANDIDATE.finditer(text):
            if _random_looking(match.group(0), text[max(0, match.start() - 8) : match.start()]):
                return Finding("a long random string (a key or token?)", match.group(0), "random")
    return None


def redact(text: str) -> str:
    """`text` with every credential-shaped part cut to its first four characters."""
    if _ANY_NEEDLE.search(text):
        for needles, pattern, _ in KNOWN_FORMATS:
            if any(needle in text for needle in needles):
                text = pattern.sub(lambda m: _mask(m.group(0)), text)

    def assignment(match: re.Match[str]) -> str:
        name = next(group for group in match.groups()[:3] if group)
        value = match.group(4)
        if names_a_credential(name) and not _plainly_not_a_credential(value):
            return match.group(0).replace(value, _mask(value))
        return match.group(0)

    text = _ASSIGNMENTS.sub(assignment, text)
    return _CANDIDATE.sub(
        lambda m: (
            _mask(m.group(0)) if _random_looking(m.group(0), text[max(0, m.start() - 8) : m.start()]) else m.group(0)
        ),
        text,
    )


def _mask(secret: str) -> str:
    return f"{secret[:4]}…[redacted]"


# --- the manifest ------------------------------------------------------------------------------------

MARKER_WORD = "not-a-secret"  # in every marker: text without it holds none
MARKER = re.compile(rf"#\s*modalc:\s*{MARKER_WORD}(?![\w-])")
HINT = "put it in a Modal secret (`modal secret create NAME KEY=...`) and reference the secret by name under `secrets`"


_Where = tuple[Any, str | int] | None  # (the parent's _Where, this key), None for the document


def _path(where: _Where) -> KeyPath:
    keys: list[str | int] = []
    while where is not None:
        where, key = where
        keys.append(key)
    return tuple(reversed(keys))


def find_credentials(manifest: LoadedManifest) -> list[Diagnostic]:
    """Credential-shaped literals anywhere in the manifest (environments included), in values and in keys."""
    # Imported here: diagnostics imports this module (to redact every message it renders).
    from .diagnostics import CREDENTIAL, WARNING, Diagnostic

    found: list[Diagnostic] = []
    waived_lines: set[int] = set()
    source = manifest.source_map

    def report(path: KeyPath, line: int, column: int, finding: Finding, hint: str = HINT) -> None:
        message = f"this looks like {finding.what}; never write credentials in a manifest"
        found.append(
            Diagnostic(
                manifest.display_name, line, column, message, path, hint=hint, code=CREDENTIAL, stage="credentials"
            )
        )

    def check_value(where: _Where, value: str) -> None:
        parent, key = where if where is not None else (None, None)
        named = isinstance(key, str) and parent is not None and parent[1] in NAMED_VALUE_MAPS
        finding = find_credential(value, key=str(key) if named else "")
        if finding is None:
            return
        path = _path(where)
        line, column = source.value_position(path)
        marked = _marker_after_value(source.lines, line, column, manifest.format)
        if marked and finding.waivable:
            waived_lines.add(line)
            return
        hint = HINT
        if marked:
            hint = f"a `# modalc: not-a-secret` marker cannot waive {finding.what}: {HINT}"
        report(path, line, column, finding, hint)

    def check_key(where: _Where, key: str) -> None:
        finding = find_credential(key)
        if finding is not None:
            path = _path(where)
            line, column = source.key_position(path)
            report(path, line, column, Finding(f"{finding.what}, as a name", finding.text, finding.rule))

    # One walk over values and keys (an env variable's name, a tag's key, an alias can hold a credential too).
    # Paths are linked (parent, key) pairs, spelled out only for a finding.
    stack: list[tuple[Any, _Where]] = [(manifest.data, None)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            check_value(where, value)
        elif isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str) and (len(key) >= SHORTEST_KNOWN or "://" in key):
                    check_key((where, key), key)
                stack.append((child, (where, key)))
        elif isinstance(value, list):
            stack.extend((child, (where, index)) for index, child in enumerate(value))
    if MARKER_WORD not in manifest.text:
        return found
    for number, text in enumerate(source.lines, 1):
        if number not in waived_lines and MARKER_WORD in text and _comment_marker(text):
            found.append(
                Diagnostic(
                    manifest.display_name,
                    number,
                    text.index("#") + 1 if "#" in text else 1,
                    "this `# modalc: not-a-secret` marker waives nothing (it follows no value that looks like a "
                    "credential); remove it",
                    severity=WARNING,
                    code=CREDENTIAL,
                    stage="credentials",
                )
            )
    return found


def _marker_after_value(lines: list[str], line: int, column: int, fmt: str) -> bool:
    """Whether a `# modalc: not-a-secret` comment follows the value that starts at (line, column), with nothing
    but closing brackets and commas between: it is the last value on its line, and the marker is outside it."""
    if not 1 <= line <= len(lines):
        return False
    text = lines[line - 1]
    end = _scalar_end(text, column - 1, fmt)
    if end is None:
        return False
    rest = text[end:]
    match = re.match(r"[\s,\]}]*(#.*)$", rest)
    return bool(match and MARKER.match(match.group(1)))


def _scalar_end(text: str, start: int, fmt: str) -> int | None:
    """Where the scalar that starts at `start` ends on its line, or None if it goes on past the line."""
    if start >= len(text):
        return None
    for triple in ('"""', "'''"):
        if text.startswith(triple, start):
            close = text.find(triple, start + 3)
            return None if close < 0 else close + 3
    quote = text[start]
    if quote == '"':
        index = start + 1
        while index < len(text):
            if text[index] == "\\":
                index += 2
                continue
            if text[index] == '"':
                return index + 1
            index += 1
        return None
    if quote == "'":
        index = start + 1
        while index < len(text):
            if text[index] == "'":
                if fmt == "yaml" and text.startswith("''", index):
                    index += 2  # YAML's escaped quote
                    continue
                return index + 1
            index += 1
        return None
    if fmt == "yaml":  # a plain scalar (or a block indicator) ends where a comment starts
        comment = text.find(" #", start)
        return comment if comment >= 0 else len(text)
    return None


def _comment_marker(text: str) -> bool:
    """A marker in a comment (not inside a quoted string) on this line."""
    quote = ""
    for index, char in enumerate(text):
        if quote:
            if char == "\\" and quote == '"':
                continue
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "#":
            return bool(MARKER.match(text[index:]))
    return False
