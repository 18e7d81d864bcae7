"""Shell completion: click's protocol through the `modalc` entry point (`_MODALC_COMPLETE=bash_source modalc`,
or `modalc completion bash`), what it completes, and bash itself running the script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete

from helpers import EXAMPLES
from modalc.cli import cli

MODALC = Path(sys.executable).parent / "modalc"


def complete(arguments: list[str], incomplete: str) -> list[tuple[str, str]]:
    completer = ShellComplete(cli, {}, "modalc", "_MODALC_COMPLETE")
    return [(item.type, item.value) for item in completer.get_completions(arguments, incomplete)]


def values(arguments: list[str], incomplete: str = "") -> list[str]:
    return [value for _, value in complete(arguments, incomplete)]


def environment(**variables: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("_MODALC")}, **variables}


def test_commands_options_and_choices() -> None:
    assert {"build", "validate", "plan", "deploy", "init", "completion"} <= set(values([]))
    assert values([], "val") == ["validate"]
    assert values(["deploy", "--strategy"]) == ["rolling", "recreate"]
    assert values(["validate", "--format"], "j") == ["json"]
    assert values(["init", "--example"]) == ["hello", "api", "batch", "whisper"]
    assert values(["init", "--format"]) == ["toml", "yaml"]
    assert "--check" in values(["build"], "--")


def test_manifests_complete_as_files() -> None:
    assert complete(["build"], "ap") == [("file", "ap")]  # the shell lists the files
    assert complete(["plan"], "") == [("file", "")]


def test_environments_come_from_the_manifest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES / "whisper_service")
    assert values(["deploy", "--env"]) == ["dev", "prod"]
    assert values(["build", "--env"], "p") == ["prod"]
    monkeypatch.chdir(EXAMPLES)
    assert values(["plan", "nightly_job/app.yaml", "--env"]) == ["dev", "prod"]
    assert values(["plan", "--env"]) == []  # no manifest here: nothing to offer, and no error


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_command_prints_clicks_script(shell: str) -> None:
    script = subprocess.run(
        [str(MODALC)], env=environment(_MODALC_COMPLETE=f"{shell}_source"), capture_output=True, text=True
    )
    printed = subprocess.run([str(MODALC), "completion", shell], capture_output=True, text=True, env=environment())
    assert script.returncode == printed.returncode == 0
    assert printed.stdout.strip() == script.stdout.strip() and "_MODALC_COMPLETE" in printed.stdout
    if shell == "bash":
        assert "complete -o nosort -F _modalc_completion modalc" in printed.stdout


def test_the_protocol_through_the_entry_point() -> None:
    result = subprocess.run(
        [str(MODALC)],
        env=environment(_MODALC_COMPLETE="bash_complete", COMP_WORDS="modalc ini", COMP_CWORD="1"),
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["plain,init"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_with_the_script() -> None:
    """The script as a user sources it, and bash's own completion variables, as <TAB> sets them."""
    program = f"""
        export PATH={MODALC.parent}:"$PATH"
        source <(modalc completion bash)
        complete_words() {{ COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _modalc_completion modalc; echo "${{COMPREPLY[*]}}"; }}
        complete_words modalc dep
        complete_words modalc deploy --strategy ''
        complete_words modalc deploy --env ''
    """
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        cwd=EXAMPLES / "whisper_service",
        env=environment(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["deploy", "rolling recreate", "dev prod"]


def test_the_readmes_completion_commands(tmp_path: Path) -> None:
    """Each line of the README's completion block, as a user runs it (zsh's in zsh, when zsh is installed)."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    block = readme.split("Shell completion", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    bash_line, zsh_line, fish_line = (line.split("  #")[0].strip() for line in block.splitlines())
    home = tmp_path / "home"
    (home / ".config" / "fish" / "completions").mkdir(parents=True)
    variables = environment(HOME=str(home), PATH=f"{MODALC.parent}{os.pathsep}{os.environ['PATH']}")

    def run(shell: list[str], script: str) -> str:
        result = subprocess.run([*shell, script], env=variables, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (script, result.stderr)
        return result.stdout

    bash = ["bash", "--norc", "--noprofile", "-c"]
    assert run(bash, bash_line + "; complete -p modalc").strip() == "complete -o nosort -F _modalc_completion modalc"
    assert zsh_line == 'eval "$(modalc completion zsh)"'
    assert "compdef _modalc_completion modalc" in run(bash, "modalc completion zsh")
    if shutil.which("zsh"):
        run(["zsh", "-f", "-c"], "autoload -U compinit && compinit -u; " + zsh_line)
    run(bash, fish_line)
    assert "_MODALC_COMPLETE" in (home / ".config" / "fish" / "completions" / "modalc.fish").read_text()
