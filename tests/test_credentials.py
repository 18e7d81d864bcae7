"""Credential rules tuned both ways against a corpus, credentials in keys, and the per-value waiver.

The corpus (tests/credential_corpus.py) holds real values that used to be refused (model ids, the flash-attn
wheel URL, SRI and Go hashes, gs:// paths, long CamelCase values) and fake credentials that used to pass
(40-hex keys under WANDB_API_KEY and Datadog's names, `key-`, `dop_v1_`, `shpat_`, PGP private key blocks,
`redis://:password@host`, passwords holding '/').
"""

from __future__ import annotations

import random
import shutil
import string
from pathlib import Path

import credential_corpus as corpus
import pytest

from helpers import CASES, run_cli
from modalc.credentials import find_credential, names_a_credential, redact


def _rejected(key: str, value: str) -> bool:
    return find_credential(value, key=key) is not None


def test_the_corpus_of_real_values_compiles() -> None:
    refused = [(k, v, find_credential(v, key=k)) for k, v in corpus.ALLOWED if _rejected(k, v)]
    assert not refused, f"{len(corpus.ALLOWED) - len(refused)}/{len(corpus.ALLOWED)} accepted; refused: {refused}"
    assert len(corpus.ALLOWED) >= 150


def test_the_corpus_of_credentials_is_refused_and_redacted() -> None:
    missed = [(k, v) for k, v in corpus.CREDENTIALS if not _rejected(k, v)]
    assert not missed, f"{len(corpus.CREDENTIALS) - len(missed)}/{len(corpus.CREDENTIALS)} refused; missed: {missed}"
    assert len(corpus.CREDENTIALS) >= 65
    for key, value in corpus.CREDENTIALS:
        line = f"{key}={value}" if key else f"value {value} here"
        finding = find_credential(value, key=key)
        assert finding is not None and finding.text not in redact(line), (key, value)


@pytest.mark.parametrize(
    ("alphabet", "length"),
    [
        (string.ascii_letters + string.digits, 40),
        (string.ascii_letters + string.digits + "+/", 40),
        (string.ascii_letters + string.digits + "-_", 43),
    ],
    ids=["base62", "base64", "base64url"],
)
def test_random_keys_without_a_prefix_are_refused(alphabet: str, length: int) -> None:
    """Recall of the random-string rule on 2,000 fresh random keys of each kind (seeded): at least 99%."""
    chance = random.Random(length)
    keys = ["".join(chance.choice(alphabet) for _ in range(length)) for _ in range(2000)]
    refused = sum(1 for key in keys if find_credential(key) is not None)
    assert refused >= 1980, f"{refused}/2000"


def test_names_that_say_credential() -> None:
    for key in [
        "WANDB_API_KEY",
        "DD_APP_KEY",
        "TWILIO_AUTH_TOKEN",
        "DB_PASSWORD",
        "apiKey",
        "client_secret",
        "HF_TOKEN",
    ]:
        assert names_a_credential(key), key
    for key in ["TOKENIZERS_PARALLELISM", "MAX_NEW_TOKENS", "SECRET_NAME", "API_KEY_HEADER", "HF_TOKEN_PATH", "KEY"]:
        assert not names_a_credential(key), key


def test_credentials_inside_commands_and_urls() -> None:
    for text in [
        "export WANDB_API_KEY=7ff88f6eeba4b0fb5a109e1d8eecf08d7cb18a4a && python train.py",
        "huggingface-cli login --token 7ff88f6eeba4b0fb5a109e1d8eecf08d7cb18a4a",
        "https://api.example.com/v1/models?api_key=815c1c7ab203f89f410411ef9637ebb7&limit=5",
    ]:
        assert find_credential(text) is not None, text
    for text in [
        "pip install --no-cache-dir torch",
        "python serve.py --max-tokens 4096",
        "TOKENIZERS_PARALLELISM=false",
    ]:
        assert find_credential(text) is None, text


# --- in a manifest: keys, the marker --------------------------------------------------------------

HEADER = 'version = 1\n[app]\nname = "demo"\nimage = "base"\n[images.base]\nbase = "debian_slim"\npython = "3.12"\n'
RANDOM = "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0LmNbVcXz"  # random-looking, not a known format
KNOWN = "ghp_jdODeEZJkjcjk69kemAdywYj2DR3lG7hHtos"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(CASES / "_project", tmp_path, dirs_exist_ok=True)
    return tmp_path


def build(project: Path, body: str, name: str = "app.toml") -> tuple[int, str]:
    (project / name).write_text(HEADER + body if name.endswith(".toml") else body)
    result = run_cli(["build", name], cwd=project)
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (f'[functions.process]\nhandler = "pkg.mod:process"\nenv = {{ {KNOWN} = "1" }}\n', "functions.process.env"),
        (f'[functions.process]\nhandler = "pkg.mod:process"\n[app.tags]\n"{KNOWN}" = "x"\n', "app.tags"),
        (f'[functions.process]\nhandler = "pkg.mod:process"\n[volumes.{KNOWN}]\nname = "v"\n', "volumes"),
    ],
    ids=["env key", "tag key", "alias"],
)
def test_a_credential_written_as_a_key_is_refused_and_never_printed(project: Path, body: str, where: str) -> None:
    code, stderr = build(project, body)
    assert code == 1
    assert "this looks like a GitHub token, as a name; never write credentials in a manifest" in stderr
    assert KNOWN not in stderr


def test_a_marker_waives_a_guess_on_its_value(project: Path) -> None:
    body = f'[functions.process]\nhandler = "pkg.mod:process"\nenv = {{ CONFIG = "{RANDOM}" }}\n'
    code, stderr = build(project, body)
    assert code == 1 and "looks like a long random string" in stderr and RANDOM not in stderr
    code, stderr = build(project, body.replace('" }\n', '" }  # modalc: not-a-secret (a fixture id)\n'))
    assert code == 0, stderr
    assert RANDOM in (project / "generated" / "app_default.py").read_text()


def test_a_marker_waives_a_name_based_guess(project: Path) -> None:
    body = (
        '[functions.process]\nhandler = "pkg.mod:process"\n[functions.process.env]\nSESSION_TOKEN = "local-dev-fixture"'
    )
    assert build(project, body + "\n")[0] == 1
    assert build(project, body + "  # modalc: not-a-secret\n")[0] == 0


def test_a_marker_never_waives_a_known_format(project: Path) -> None:
    code, stderr = build(
        project,
        f'[functions.process]\nhandler = "pkg.mod:process"\nenv = {{ T = "{KNOWN}" }}  # modalc: not-a-secret\n',
    )
    assert code == 1
    assert "a `# modalc: not-a-secret` marker cannot waive a GitHub token" in stderr and KNOWN not in stderr


@pytest.mark.parametrize(
    "line",
    [
        f'env = {{ CONFIG = "{RANDOM} # modalc: not-a-secret" }}',  # inside the value itself
        f'env = {{ CONFIG = "{RANDOM}", OTHER = "x" }}  # modalc: not-a-secret',  # not the last value on the line
        f'env = {{ CONFIG = "{RANDOM}" }}  # modalc: not-a-secret-either',  # not the marker
        f'env = {{ CONFIG = "{RANDOM}" }}  # see modalc: not-a-secret',  # not at the start of the comment
    ],
    ids=["in the value", "not last", "other word", "mid-comment"],
)
def test_what_is_not_a_marker_waives_nothing(project: Path, line: str) -> None:
    code, stderr = build(project, f'[functions.process]\nhandler = "pkg.mod:process"\n{line}\n')
    assert code == 1 and "looks like a long random string" in stderr, stderr


def test_a_marker_that_waives_nothing_is_a_warning(project: Path) -> None:
    code, stderr = build(project, '[functions.process]  # modalc: not-a-secret\nhandler = "pkg.mod:process"\n')
    assert code == 0
    assert "app.toml:8:22: warning: this `# modalc: not-a-secret` marker waives nothing" in stderr


@pytest.mark.parametrize("separator", ["\u2028", "\x85"])
def test_a_marker_is_found_on_its_line_after_a_line_separator_in_a_comment(project: Path, separator: str) -> None:
    # TOML counts lines at "\n" only; `str.splitlines` also breaks at these, and looked for the marker lines away.
    body = (
        f"# a comment{separator}with a separator\n"
        f'[functions.process]\nhandler = "pkg.mod:process"\nenv = {{ CONFIG = "{RANDOM}" }}  # modalc: not-a-secret\n'
    )
    code, stderr = build(project, body)
    assert (code, stderr.count("warning")) == (0, 0), stderr


def test_the_marker_in_yaml(project: Path) -> None:
    text = (
        'version: 1\napp: {name: demo, image: base}\nimages: {base: {base: debian_slim, python: "3.12"}}\n'
        "functions:\n  process:\n    handler: pkg.mod:process\n    env:\n"
    )
    assert build(project, text + f"      CONFIG: {RANDOM}\n", "app.yaml")[0] == 1
    assert build(project, text + f"      CONFIG: {RANDOM}  # modalc: not-a-secret\n", "app.yaml")[0] == 0
    assert build(project, text + f"      CONFIG: '{RANDOM}'  # modalc: not-a-secret\n", "app.yaml")[0] == 0
    assert build(project, text + f'      CONFIG: "{RANDOM}"  # modalc: not-a-secret\n', "app.yaml")[0] == 0
