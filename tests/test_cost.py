"""`modalc cost`: every figure pinned by hand-computed arithmetic on the bundled list prices.

The rates (data/prices.json, Modal list prices as of 2026-02-23): CPU $0.0473 per core-hour, memory $0.008 per
GiB-hour, T4 0.59, L4 0.80, A10/A10G 1.10, A100-80GB 2.50, H100 3.95. Modal's default request is 0.125 cores
and 128 MiB, so an undeclared container pays 0.125 x 0.0473 + 0.125 x 0.008 = 0.0059125 + 0.001 = 0.0069125
per hour on top of its GPU. One call is `timeout` seconds of a container, rounded to a millionth of a dollar.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from helpers import EXAMPLES, manifest_of, run_cli
from modalc import catalog, ir
from modalc.cost import (
    Member,
    PriceError,
    list_prices,
    members_of_module,
    price_app,
    price_member,
    read_price_file,
)
from modalc.cost_text import usd
from modalc.pipeline import check_manifest

D = Decimal
DEFAULTS = D("0.0069125")  # 0.125 cores and 128 MiB, per hour


def priced(settings: ir.Settings, name: str = "f") -> tuple[Decimal, Decimal, Decimal | None, Decimal, tuple[str, ...]]:
    cost = price_member(Member("function", name, settings), list_prices())
    return cost.per_container_hour, cost.idle_per_hour, cost.peak_per_hour, cost.per_call, cost.notes


def example_costs(example: str) -> dict[str, dict[str, tuple[object, ...]]]:
    """{environment: {name: (per container-hour, idle, peak, per call)}, plus "total": (idle, peak)}."""
    manifest = manifest_of(EXAMPLES / example)
    result = check_manifest(manifest, display_name=manifest.name)
    assert result.ok, [d.render() for d in result.diagnostics]
    out: dict[str, dict[str, tuple[object, ...]]] = {}
    for environment, app in result.apps.items():
        cost = price_app(app, list_prices())
        out[environment] = {
            m.name: (m.per_container_hour, m.idle_per_hour, m.peak_per_hour, m.per_call) for m in cost.members
        }
        out[environment]["total"] = (cost.idle_per_hour, cost.peak_per_hour)
    return out


# --- every bundled example, by hand --------------------------------------------------------------------

EXPECTED = {
    "whisper_service": {
        # dev: T4 0.59 + defaults; 2 containers at most; 600 s calls
        "dev": {
            "Transcriber": (D("0.5969125"), D(0), D("1.193825"), D("0.099485")),
            "total": (D(0), D("1.193825")),
        },
        # prod: H100 then A100-80GB, priced at the dearest (H100 3.95); 1 to 20 containers
        "prod": {
            "Transcriber": (D("3.9569125"), D("3.9569125"), D("79.13825"), D("0.659485")),
            "total": (D("3.9569125"), D("79.13825")),
        },
    },
    "batch_job": {
        # embed_one: gpu "any" is priced as the dearest type Modal may pick (A10 1.10); 120 s calls
        # score_pair: 2 cores (0.0946) + 2 GiB (0.016) = 0.1106, no max_containers, 300 s calls
        "dev": {
            "embed_one": (D("1.1069125"), D(0), D("11.069125"), D("0.036897")),
            "score_pair": (D("0.1106"), D(0), None, D("0.009217")),
            "total": (D(0), None),
        },
        # prod: T4 then L4, priced at L4 0.80, up to 1000 containers
        "prod": {
            "embed_one": (D("0.8069125"), D(0), D("806.9125"), D("0.026897")),
            "score_pair": (D("0.1106"), D(0), None, D("0.009217")),
            "total": (D(0), None),
        },
    },
    "batched_whisper": {
        # 16384 MiB = 16 GiB: 0.128; default CPU 0.0059125
        "dev": {
            "BatchWhisper": (D("0.7239125"), D(0), D("0.7239125"), D("0.060326")),
            "total": (D(0), D("0.7239125")),
        },
        # A10G then L4: A10G 1.10; 1 to 10 containers
        "prod": {
            "BatchWhisper": (D("1.2339125"), D("1.2339125"), D("12.339125"), D("0.102826")),
            "total": (D("1.2339125"), D("12.339125")),
        },
    },
    "inference_api": {
        # predict on a T4 (dev) or L4 then A10 (prod: A10 1.10); api 1 core + 1 GiB = 0.0553
        "dev": {
            "predict": (D("0.5969125"), D(0), D("1.193825"), D("0.049743")),
            "api": (D("0.0553"), D(0), D("0.1106"), D("0.004608")),
            "total": (D(0), D("1.304425")),
        },
        "prod": {
            "predict": (D("1.1069125"), D("2.213825"), D("55.345625"), D("0.092243")),
            "api": (D("0.0553"), D("0.0553"), D("0.553"), D("0.004608")),
            "total": (D("2.269125"), D("55.898625")),
        },
    },
    "nightly_job": {
        # reindex: cpu [2, 4] and memory [4096, 8192] priced at the requests, 0.0946 + 0.032; 3600 s calls
        # compact: defaults, 600 s calls, no max_containers
        "dev": {
            "reindex": (D("0.7166"), D(0), D("0.7166"), D("0.7166")),
            "compact": (DEFAULTS, D(0), None, D("0.001152")),
            "total": (D(0), None),
        },
        # prod: reindex on an L4; compact non-preemptible, 3 x 0.0069125 = 0.0207375
        "prod": {
            "reindex": (D("0.9266"), D(0), D("3.7064"), D("0.9266")),
            "compact": (D("0.0207375"), D(0), None, D("0.003456")),
            "total": (D(0), None),
        },
    },
}


EXPECTED["llm_platform"] = {
    # Server on an L40S (1.95) in dev, an H100 (3.95) in prod; Generator likewise, A100-80GB a fallback priced at
    # the dearest entry; finetune on 8 GPUs in a cluster of 2: one 86400 s call runs 2 containers; the batch
    # app's three functions run on Modal's default 0.125 cores and 128 MiB, 300 s calls.
    "dev": {
        "finetune": (D("20.0069125"), D(0), None, D("960.3318")),
        "nightly_eval": (DEFAULTS, D(0), None, D("0.000576")),
        "score": (DEFAULTS, D(0), None, D("0.000576")),
        "notify": (DEFAULTS, D(0), None, D("0.000576")),
        "Server": (D("1.9569125"), D(0), None, D("0.163076")),
        "Generator": (D("1.9569125"), D(0), D("1.9569125"), D("0.163076")),
        "total": (D(0), None),
    },
    "prod": {
        "finetune": (D("31.6069125"), D(0), None, D("1517.1318")),
        "nightly_eval": (DEFAULTS, D(0), None, D("0.000576")),
        "score": (DEFAULTS, D(0), None, D("0.000576")),
        "notify": (DEFAULTS, D(0), None, D("0.000576")),
        "Server": (D("3.9569125"), D("3.9569125"), None, D("0.329743")),
        "Generator": (D("3.9569125"), D("3.9569125"), D("39.569125"), D("0.329743")),
        "total": (D("7.913825"), None),
    },
}


EXPECTED["doc_search"] = {
    # build_index and query on the defaults (1800 s and 300 s calls); Embedder on a T4 (0.59) in dev, and in
    # prod on [L4, A10] priced at the dearer A10 (1.10), 1 to 8 containers; prod keeps one query container warm.
    "dev": {
        "build_index": (DEFAULTS, D(0), None, D("0.003456")),
        "query": (DEFAULTS, D(0), None, D("0.000576")),
        "Embedder": (D("0.5969125"), D(0), D("0.5969125"), D("0.049743")),
        "total": (D(0), None),
    },
    "prod": {
        "build_index": (DEFAULTS, D(0), None, D("0.003456")),
        "query": (DEFAULTS, DEFAULTS, None, D("0.000576")),
        "Embedder": (D("1.1069125"), D("1.1069125"), D("8.8553"), D("0.092243")),
        "total": (D("1.113825"), None),
    },
}


def test_every_example_is_pinned() -> None:
    assert set(EXPECTED) == {p.name for p in EXAMPLES.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_the_price_of_every_bundled_example(example: str) -> None:
    assert example_costs(example) == EXPECTED[example]


def test_the_whisper_example_in_the_cli_and_its_json_contract() -> None:
    result = run_cli(["cost", "--env", "prod", "--json"], cwd=EXAMPLES / "whisper_service")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert {"environment", "price_date", "functions", "idle_per_hour", "peak_per_hour"} <= set(document)
    assert (document["environment"], document["price_date"]) == ("prod", "2026-02-23")
    assert document["price_source"].startswith("Modal list prices as of 2026-02-23")
    (transcriber,) = document["functions"]
    assert {k: transcriber[k] for k in ("name", "per_container_hour", "min_containers", "max_containers")} == {
        "name": "Transcriber",
        "per_container_hour": "3.9569125",
        "min_containers": 1,
        "max_containers": 20,
    }
    assert (transcriber["idle_per_hour"], transcriber["peak_per_hour"], transcriber["per_call"]) == (
        "3.9569125",
        "79.13825",
        "0.659485",
    )
    assert transcriber["breakdown"] == {"gpu": "3.95", "cpu": "0.0059125", "memory": "0.001"}
    assert (document["idle_per_hour"], document["peak_per_hour"]) == ("3.9569125", "79.13825")
    assert document["budget"] == {"idle_per_hour": "5", "peak_per_hour": "100"}


def test_the_text_report_names_the_price_source_and_says_how_a_fallback_list_is_priced() -> None:
    result = run_cli(["cost"], cwd=EXAMPLES / "whisper_service")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert text.count("Prices: Modal list prices as of 2026-02-23 (https://modal.com/pricing)") == 2
    assert "GPU fallbacks H100, A100-80GB: priced at the dearest entry, H100" in text
    assert "Total for dev: idle floor $0.00/h (with no traffic), peak $1.19/h" in text
    assert "Total for prod: idle floor $3.96/h (with no traffic), peak $79.14/h" in text
    assert "Budget for prod: idle floor $3.96/h of $5.00/h, peak $79.14/h of $100.00/h: within budget" in text


def test_json_for_several_environments_is_a_list_in_manifest_order() -> None:
    result = run_cli(["cost", "--json"], cwd=EXAMPLES / "batch_job")
    documents = json.loads(result.stdout)
    assert [d["environment"] for d in documents] == ["dev", "prod"]
    assert documents[0]["peak_per_hour"] is None and documents[0]["unbounded"] == ["score_pair"]
    score_pair = documents[0]["functions"][1]
    assert (score_pair["name"], score_pair["max_containers"], score_pair["peak_per_hour"]) == ("score_pair", None, None)


# --- the pricing rules --------------------------------------------------------------------------------


def test_undeclared_cpu_and_memory_are_modals_defaults() -> None:
    per_hour, idle, peak, call, notes = priced(ir.Settings())
    assert (per_hour, idle, peak, call) == (DEFAULTS, D(0), None, D("0.000576"))  # 0.0069125 x 300 / 3600
    assert notes == ("cpu and memory not declared: Modal's default requests, 0.125 cores and 128 MiB",)


def test_a_fallback_list_is_priced_at_its_dearest_entry_wherever_it_stands() -> None:
    per_hour, *_, notes = priced(ir.Settings(gpu=("T4", "H100:2", "A100-80GB"), cpu=1.0, memory=1024))
    assert per_hour == D("7.90") + D("0.0473") + D("0.008")
    assert notes[0] == "GPU fallbacks T4, H100:2, A100-80GB: priced at the dearest entry, H100:2"


def test_multi_gpu_containers_pay_for_every_gpu() -> None:
    per_hour, idle, peak, call, _ = priced(ir.Settings(gpu=("H100:8",), min_containers=1, max_containers=2))
    assert per_hour == D("31.6069125")  # 8 x 3.95 + defaults
    assert (idle, peak, call) == (D("31.6069125"), D("63.213825"), D("2.633909"))


def test_any_is_priced_as_the_dearest_gpu_modal_may_pick() -> None:
    per_hour, *_, notes = priced(ir.Settings(gpu=("any",)))
    assert per_hour == D("1.10") + DEFAULTS
    assert "gpu 'any' lets Modal pick L4, A10, T4: priced as the dearest, A10" in notes


@pytest.mark.parametrize(
    ("region", "factor", "note"),
    [
        ("us", "1.5", "region us (broad): x1.5 on the whole container"),
        ("us-west", "1.75", "region us-west (narrow): x1.75 on the whole container"),
        (("us", "us-west"), "1.5", "regions us, us-west: the smallest multiplier applies, x1.5 (broad)"),
        (("us-east", "eu-west"), "1.75", "regions us-east, eu-west: the smallest multiplier applies, x1.75 (narrow)"),
        ("us-east-1", "1.75", "region 'us-east-1' is not in Modal's region table: priced as narrow"),
    ],
)
def test_regions_multiply_the_whole_container(region: str | tuple[str, ...], factor: str, note: str) -> None:
    # Modal's own example: 1 T4, 1 core, 1 GiB in us-west is (0.59 + 0.0473 + 0.008) x 1.75.
    per_hour, *_, notes = priced(ir.Settings(gpu=("T4",), cpu=1.0, memory=1024, region=region))
    assert per_hour == D("0.6453") * D(factor)
    assert note in notes


def test_modals_region_example_by_hand() -> None:
    per_hour, *_ = priced(ir.Settings(gpu=("T4",), cpu=1.0, memory=1024, region="us-west"))
    assert per_hour == D("1.129275")


def test_non_preemptible_triples_cpu_and_memory_and_stacks_with_a_region() -> None:
    assert priced(ir.Settings(cpu=1.0, memory=1024, nonpreemptible=True))[0] == D("0.1659")  # 3 x 0.0553
    per_hour, *_, notes = priced(ir.Settings(cpu=1.0, memory=1024, nonpreemptible=True, region="us"))
    assert per_hour == D("0.24885")  # 1.5 x 3 x 0.0553
    assert "non-preemptible: x3 on CPU and memory" in notes


def test_request_limit_pairs_are_priced_at_the_request_and_say_so() -> None:
    per_hour, *_, notes = priced(ir.Settings(cpu=(1.0, 2.0), memory=(1024, 4096)))
    assert per_hour == D("0.0553")
    assert notes == (
        "priced at the requests, cpu 1.0 of up to 2.0 cores and memory 1024 of up to 4096 MiB: Modal bills "
        "max(request, usage), so this is the floor",
    )


def test_an_ephemeral_disk_raises_the_billed_memory_at_twenty_to_one() -> None:
    per_hour, *_, notes = priced(ir.Settings(cpu=1.0, memory=512, ephemeral_disk=40960))
    assert per_hour == D("0.0473") + D("2") * D("0.008")  # 40960 / 20 = 2048 MiB = 2 GiB
    assert "ephemeral_disk 40960 MiB raises the billed memory to 2048 MiB (20:1)" in notes


def test_the_kitchen_sink_function_with_every_setting() -> None:
    # H100:2 (7.90) then A100-80GB; cpu [1, 2] and memory [1024, 4096] at the requests; a 20480 MiB disk is
    # 1024 MiB of memory, no more than declared; us-east and us-west are both narrow: x1.75; 900 s calls.
    manifest = EXAMPLES.parent / "tests" / "fixtures" / "kitchen_sink" / "app.toml"
    result = check_manifest(manifest, display_name="app.toml", environments=["prod"])
    assert result.ok
    cost = {m.name: m for m in price_app(result.apps["prod"], list_prices()).members}["every_setting"]
    assert cost.per_container_hour == D("13.921775")  # 1.75 x (7.90 + 0.0473 + 0.008)
    assert (cost.idle_per_hour, cost.peak_per_hour, cost.per_call) == (D("13.921775"), D("69.608875"), D("3.480444"))


def test_the_rounded_text_of_a_figure() -> None:
    assert [usd(D(x)) for x in ("3.9569125", "0.5969125", "0.59", "0", "79.13825", "0.001")] == [
        "$3.96",
        "$0.5969",
        "$0.59",
        "$0.00",
        "$79.14",
        "$0.001",
    ]
    assert (usd(D("3.9569125"), signed=True), usd(D("-0.5"), signed=True), usd(None)) == (
        "+$3.96",
        "-$0.50",
        "unbounded",
    )


# --- the price data -----------------------------------------------------------------------------------


def test_every_gpu_modalc_accepts_has_a_price_that_agrees_with_the_gpu_catalog() -> None:
    prices = list_prices()
    for gpu in catalog.gpu_types().values():
        if gpu.name in prices.gpu_picks:
            assert all(pick in prices.gpu_rates for pick in prices.gpu_picks[gpu.name])
            continue
        rate = prices.rates[prices.gpu_rates[gpu.name]]
        if gpu.usd_per_hour is not None:
            assert rate == D(str(gpu.usd_per_hour)), gpu.name
    assert set(prices.gpu_rates) | set(prices.gpu_picks) == {g.name for g in catalog.gpu_types().values()}


def test_the_price_file_is_dated_and_names_its_sources() -> None:
    data = json.loads((Path(__file__).parents[1] / "compiler" / "modalc" / "data" / "prices.json").read_text())
    assert data["as_of"] == "2026-02-23" and data["url"] == "https://modal.com/pricing"
    assert all(source["url"].startswith("https://modal.com/") and source["read"] for source in data["sources"].values())
    assert all(isinstance(value, str) for value in data["rates"].values()), "rates are decimal strings"


# --- a user's price file ------------------------------------------------------------------------------

NEGOTIATED = {"source": "Acme's Modal contract", "as_of": "2026-06-01", "rates": {"gpu_hour_cost_h100": "3.20"}}


def test_a_price_file_replaces_the_rates_it_sets_and_says_where_the_rest_come_from() -> None:
    prices = read_price_file(json.dumps(NEGOTIATED), "prices.json")
    assert prices.rates["gpu_hour_cost_h100"] == D("3.20") and prices.rates["gpu_hour_cost_t4"] == D("0.59")
    assert prices.description == (
        "Acme's Modal contract as of 2026-06-01; other rates: Modal list prices as of 2026-02-23"
    )
    cost = price_member(Member("class", "c", ir.Settings(gpu=("H100",))), prices)
    assert cost.per_container_hour == D("3.2069125")


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("[1]", "must hold a JSON object"),
        ('{"as_of": "2026-06-01", "rates": {"cpu_hour_cost": "0.04"}}', "needs a `source`"),
        ('{"source": "x", "as_of": "June", "rates": {"cpu_hour_cost": "0.04"}}', "needs an `as_of` date"),
        (
            '{"source": "x", "as_of": "2026-06-01", "rates": {"gpu_h100": "3"}}',
            "sets rates modalc does not know: gpu_h100",
        ),
        ('{"source": "x", "as_of": "2026-06-01", "rates": {"cpu_hour_cost": "cheap"}}', "must be a decimal string"),
        ('{"source": "x", "as_of": "2026-06-01", "rates": {"cpu_hour_cost": "-1"}}', "non-negative"),
        ('{"source": "x", "as_of": "2026-06-01", "rates": {}, "discount": 3}', "unknown keys: discount"),
        ("{", "is not JSON"),
    ],
)
def test_a_broken_price_file_is_refused_with_the_reason(document: str, problem: str) -> None:
    with pytest.raises(PriceError, match=problem.replace("`", ".").replace("(", ".")):
        read_price_file(document, "prices.json")


def test_cost_takes_a_price_file_on_the_command_line(tmp_path: Path) -> None:
    prices = tmp_path / "acme.json"
    prices.write_text(json.dumps(NEGOTIATED))
    result = run_cli(["cost", "--env", "prod", "--json", "--prices", str(prices)], cwd=EXAMPLES / "whisper_service")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["price_date"], document["functions"][0]["per_container_hour"]) == ("2026-06-01", "3.2069125")
    assert document["price_source"].startswith("Acme's Modal contract as of 2026-06-01")
    refused = run_cli(["cost", "--prices", str(prices), "--rates", "list"], cwd=EXAMPLES / "whisper_service")
    assert refused.exit_code == 2


# --- the committed module as a baseline ------------------------------------------------------------------


def test_a_committed_module_prices_exactly_like_the_manifest_it_came_from() -> None:
    for example in sorted(EXPECTED):
        for module in sorted((EXAMPLES / example / "generated").glob("app_*.py")):
            environment = module.stem.removeprefix("app_")
            members = members_of_module(module.read_text())
            from_module = {
                m.name: price_member(m, list_prices()).per_container_hour for m in members
            }  # and the same figures
            assert from_module == {name: v[0] for name, v in EXPECTED[example][environment].items() if name != "total"}


def test_a_module_that_does_not_parse_is_refused() -> None:
    with pytest.raises(PriceError, match="does not parse"):
        members_of_module("def (:\n")


def test_the_readme_shows_the_cost_of_the_whisper_example_as_modalc_prints_it() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("<!-- cost-example:", 1)[1].split("```\n", 1)[1].split("```", 1)[0]
    command, _, shown = block.partition("\n")
    assert command == "$ modalc cost"
    result = run_cli(["cost"], cwd=EXAMPLES / "whisper_service")
    assert result.exit_code == 0 and shown == result.stdout
