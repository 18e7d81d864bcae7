"""The price of a change where a reviewer reads it: `cost --diff` against git, `plan`, `diff`, and budgets that
stop a deploy. Every repository here is a temporary one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import EXAMPLES, run_cli
from modalc.control_plane import ControlPlaneState, client_for, serve


@pytest.fixture
def project(tmp_path: Path) -> Path:
    destination = tmp_path / "whisper_service"
    shutil.copytree(EXAMPLES / "whisper_service", destination)
    return destination


def _git(project: Path, *args: str) -> str:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    done = subprocess.run(["git", *args], cwd=project, env=environment, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _edit(project: Path, old: str, new: str) -> None:
    manifest = project / "app.toml"
    text = manifest.read_text()
    assert old in text
    manifest.write_text(text.replace(old, new, 1))


def _committed(project: Path) -> Path:
    """The project in a new repository, without its budgets (the changes here would exceed them)."""
    manifest = project / "app.toml"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(line for line in lines if "budget" not in line and "peak_per_hour" not in line))
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "base")
    return project


PROD = 'classes.Transcriber = { gpu = ["H100", "A100-80GB"], min_containers = 1, max_containers = 20 }'


def test_cost_diff_prices_the_change_against_the_committed_module(project: Path) -> None:
    _committed(project)
    _edit(project, PROD, PROD.replace("min_containers = 1", "min_containers = 2"))
    assert run_cli(["build"], cwd=project).exit_code == 0
    result = run_cli(["cost", "--diff", "--env", "prod"], cwd=project)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Cost of prod against generated/app_prod.py at HEAD\n"
        "Prices (both sides): Modal list prices as of 2026-02-23 (https://modal.com/pricing)\n"
        "  ~ class Transcriber: idle floor $3.96/h -> $7.91/h (+$3.96/h); peak $79.14/h (no change)\n"
        "  total: idle floor $3.96/h -> $7.91/h (+$3.96/h), peak $79.14/h (no change)\n"
    )
    document = json.loads(run_cli(["cost", "--diff", "--env", "prod", "--json"], cwd=project).stdout)
    assert (document["idle_per_hour_delta"], document["peak_per_hour_delta"]) == ("3.9569125", "0")
    (member,) = document["functions"]
    assert (member["name"], member["action"], member["old"]["min_containers"], member["new"]["min_containers"]) == (
        "Transcriber",
        "update",
        1,
        2,
    )


def test_cost_diff_needs_no_rebuild_and_base_picks_the_commit(project: Path) -> None:
    """The manifest as it is now against the module as committed: a reviewer sees the price before the build."""
    _committed(project)
    first = _git(project, "rev-parse", "HEAD")
    _edit(project, '"H100", "A100-80GB"', '"H100:2", "A100-80GB"')
    assert run_cli(["build"], cwd=project).exit_code == 0
    _git(project, "commit", "-qam", "two GPUs")
    unchanged = run_cli(["cost", "--diff", "--env", "prod"], cwd=project)
    assert "no function or class changes price" in unchanged.stdout
    against_first = run_cli(["cost", "--diff", "--base", first, "--env", "prod", "--json"], cwd=project)
    document = json.loads(against_first.stdout)
    assert document["baseline"] == f"generated/app_prod.py at {first}"
    # 1 more H100 per container: +3.95/h idle (1 container), +79.00/h peak (20)
    assert (document["idle_per_hour_delta"], document["peak_per_hour_delta"]) == ("3.95", "79")


def test_cost_diff_of_new_functions_removed_functions_and_unbounded_peaks(project: Path) -> None:
    _committed(project)
    text = (project / "app.toml").read_text()
    (project / "app.toml").write_text(
        text.replace(
            "[classes.Transcriber]", '[functions.warmup]\nhandler = "whisper_app.service:warm"\n\n[classes.Transcriber]'
        )
    )
    (project / "whisper_app" / "service.py").write_text(
        (project / "whisper_app" / "service.py").read_text() + "\n\ndef warm() -> None:\n    pass\n"
    )
    result = run_cli(["cost", "--diff", "--env", "dev"], cwd=project)
    assert result.exit_code == 0, result.stderr
    assert "  + function warmup: $0.0069/h per container; idle floor +$0.00/h, peak unbounded\n" in result.stdout
    assert "peak $1.19/h -> unbounded" in result.stdout
    document = json.loads(run_cli(["cost", "--diff", "--env", "dev", "--json"], cwd=project).stdout)
    assert document["peak_per_hour_delta"] is None and document["new"]["peak_per_hour"] is None


def test_cost_diff_against_a_ref_without_the_module_counts_everything_as_new(project: Path) -> None:
    (project / "README").write_text("x")
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "README")
    _git(project, "commit", "-qm", "empty")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "app")
    document = json.loads(
        run_cli(["cost", "--diff", "--base", "HEAD~1", "--env", "prod", "--json"], cwd=project).stdout
    )
    assert document["baseline"] == "HEAD~1 (no generated/app_prod.py there: everything is new)"
    assert document["functions"][0]["action"] == "create"
    assert document["idle_per_hour_delta"] == "3.9569125"


def test_cost_diff_refuses_a_bad_ref_and_a_directory_outside_git(project: Path) -> None:
    outside = run_cli(["cost", "--diff"], cwd=project)
    assert outside.exit_code == 1 and "not in a git checkout" in outside.stderr
    _committed(project)
    bad = run_cli(["cost", "--base", "no-such-branch"], cwd=project)
    assert bad.exit_code == 2 and "'no-such-branch' is not a commit" in bad.stderr


def test_plan_shows_a_cost_line_per_function_and_the_change_against_its_base(project: Path) -> None:
    _committed(project)
    _edit(project, PROD, PROD.replace("min_containers = 1", "min_containers = 2"))
    assert run_cli(["build"], cwd=project).exit_code == 0
    result = run_cli(["plan", "--env", "prod", "--base", "HEAD"], cwd=project)
    assert result.exit_code == 0, result.stderr
    assert "  cost        $3.96/h per container, idle floor $7.91/h (+$3.96/h), peak $79.14/h\n" in result.stdout
    assert "Cost: idle floor $7.91/h, peak $79.14/h; prices: Modal list prices as of 2026-02-23" in result.stdout
    assert "Cost change against generated/app_prod.py at HEAD: +$3.96/h idle floor, peak unchanged\n" in result.stdout
    planned = json.loads(run_cli(["plan", "--env", "prod", "--base", "HEAD", "--json"], cwd=project).stdout)
    assert planned["cost"]["idle_per_hour"] == "7.913825"
    assert planned["cost_change"]["idle_per_hour_delta"] == "3.9569125"


def test_plan_offline_prices_without_a_change(project: Path) -> None:
    planned = json.loads(run_cli(["plan", "--env", "dev", "--offline", "--json"], cwd=project).stdout)
    assert planned["cost"]["peak_per_hour"] == "1.193825" and planned["cost_change"] is None


def test_diff_between_environments_ends_with_the_cost_difference() -> None:
    result = run_cli(["diff", "--env", "dev", "--env", "prod"], cwd=EXAMPLES / "whisper_service")
    assert result.exit_code == 0, result.stderr
    tail = result.stdout[result.stdout.index("\nCost of prod against environment dev\n") :]
    assert tail == (
        "\nCost of prod against environment dev\n"
        "Prices (both sides): Modal list prices as of 2026-02-23 (https://modal.com/pricing)\n"
        "  ~ class Transcriber: container $0.5969/h -> $3.96/h; idle floor $0.00/h -> $3.96/h (+$3.96/h); "
        "peak $1.19/h -> $79.14/h (+$77.94/h)\n"
        "  total: idle floor $0.00/h -> $3.96/h (+$3.96/h), peak $1.19/h -> $79.14/h (+$77.94/h)\n"
    )


# --- budgets ---------------------------------------------------------------------------------------


def test_deploy_refuses_an_environment_over_its_budget_before_asking_modal(project: Path) -> None:
    _edit(project, "budget = { idle_per_hour = 5.0 }", "budget = { idle_per_hour = 3.0 }")
    result = run_cli(["deploy", "--env", "prod", "--yes"], cwd=project)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "app.toml:44:12: error: environments.prod.budget.idle_per_hour: the idle floor of prod is $3.96/h, "
        "$0.9569/h over its budget of $3.00/h: Transcriber 1 x $3.96/h = $3.96/h (Modal list prices as of 2026-02-23)"
    )
    assert "nothing deployed" in result.stderr
    build = run_cli(["build"], cwd=project)
    assert build.exit_code == 1 and "environments.prod.budget.idle_per_hour" in build.stderr
    # dev has its own budget and is within it
    assert run_cli(["validate", "--env", "dev"], cwd=project).exit_code == 0


def test_cost_shows_the_figures_of_an_environment_over_budget_and_exits_1(project: Path) -> None:
    _edit(project, "peak_per_hour = 100.0", "peak_per_hour = 50.0")
    result = run_cli(["cost"], cwd=project)
    assert result.exit_code == 1
    assert (
        "Budget for prod: idle floor $3.96/h of $5.00/h, peak $79.14/h of $50.00/h (over): over budget" in result.stdout
    )
    assert "app.toml:34:1: error: budget.peak_per_hour: the peak of prod is $79.14/h, $29.14/h over" in result.stderr
    assert "Transcriber 20 x $3.96/h = $79.14/h" in result.stderr
    assert result.stderr.endswith("modalc: 1 budget exceeded\n")


def test_a_budget_price_file_is_the_price_of_budgets_and_of_cost(project: Path) -> None:
    (project / "acme.json").write_text(
        json.dumps(
            {
                "source": "Acme's contract",
                "as_of": "2026-06-01",
                "rates": {"gpu_hour_cost_h100": "2.00", "gpu_hour_cost_a100_80gb": "1.90"},
            }
        )
    )
    _edit(project, "peak_per_hour = 100.0", 'peak_per_hour = 50.0\nprices = "acme.json"')
    # 20 x (2.00 + 0.0069125) = 40.13825: within 50 at Acme's rates, over it at list prices
    assert run_cli(["validate"], cwd=project).exit_code == 0
    document = json.loads(run_cli(["cost", "--env", "prod", "--json"], cwd=project).stdout)
    assert (document["peak_per_hour"], document["price_date"]) == ("40.13825", "2026-06-01")
    at_list = run_cli(["cost", "--env", "prod", "--rates", "list"], cwd=project)
    assert at_list.exit_code == 1 and "$79.14/h, $29.14/h over its budget of $50.00/h" in at_list.stderr
    # the price file is an input of the build: the cache notices when it changes
    assert run_cli(["build"], cwd=project).exit_code == 0
    (project / "acme.json").write_text((project / "acme.json").read_text().replace('"2.00"', '"3.00"'))
    rebuilt = run_cli(["build"], cwd=project)
    assert rebuilt.exit_code == 1 and "the peak of prod is $60.14/h" in rebuilt.stderr


# --- the workspace's rates ---------------------------------------------------------------------------


def test_workspace_rates_come_from_modal_billing_rates_through_the_sdk() -> None:
    state = ControlPlaneState()
    state.billing_rates = {
        "gpu_hour_cost_h100": "3.50000",
        "cpu_hour_cost": "0.04730",
        "cpu_hour_cost_sandbox": "0.1419",
    }
    with serve(state) as handle, client_for(handle):
        result = run_cli(["cost", "--env", "prod", "--json", "--rates", "workspace"], cwd=EXAMPLES / "whisper_service")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["functions"][0]["per_container_hour"] == "3.5069125"
    # The SDK names the workspace by the lookup's user name; the local control plane answers "modalc".
    assert document["price_source"] == (
        f"workspace rates of 'modalc' (modal billing rates) as of {document['price_date']}; "
        "other rates: Modal list prices as of 2026-02-23"
    )


def test_workspace_rates_fall_back_to_list_prices_without_a_token() -> None:
    result = run_cli(["cost", "--env", "prod", "--json", "--rates", "workspace"], cwd=EXAMPLES / "whisper_service")
    assert result.exit_code == 0
    assert "the workspace's rates are unavailable (no Modal credentials" in result.stderr
    assert json.loads(result.stdout)["price_date"] == "2026-02-23"
