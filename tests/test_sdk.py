"""Tier 2: import every generated module with the real `modal` and compare what it registers with the manifest.

The expectations are read from the manifest itself (with a deep merge written here, independent of
modalc's), so a mistake anywhere in the compiler shows up as a difference from what the user wrote.
"""

from __future__ import annotations

import datetime

import pytest

from helpers import (
    assert_step_layer,
    base_command,
    copied_packages,
    examples,
    expected_gpu,
    expected_mounts,
    expected_steps,
    image_alias,
    manifest_of,
    merged_manifest,
    owner_app,
    root_image,
    user_packages,
)
from modal_introspection import (
    env_secret_keys,
    import_with_capture,
    schedule_fields,
    secret_names,
    volume_name,
    volume_read_only,
    webhook_fields,
)
from modalc.load import load_manifest

CASES = [(example, env) for example in examples() for env in ("dev", "prod")]


@pytest.fixture(params=CASES, ids=lambda c: f"{c[0].name}-{c[1]}")
def registered(request: pytest.FixtureRequest):
    example, environment = request.param
    manifest_path = manifest_of(example)
    raw = load_manifest(manifest_path).data
    manifest = merged_manifest(raw, environment)
    modal_env = raw["environments"][environment].get("modal_environment", environment)
    module, captured = import_with_capture(
        example / "generated" / f"app_{environment}.py", modal_env, user_packages(manifest)
    )
    return manifest, module, captured


def test_registers_exactly_the_declared_functions_and_classes(registered) -> None:
    manifest, module, captured = registered
    names = {name for name, r in captured.by_name().items() if not r.settings.get("is_builder_function")}
    assert names == set(manifest.get("functions", {})) | set(manifest.get("classes", {}))
    assert module.app.name == manifest["app"]["name"]


def test_settings_equal_the_manifest(registered) -> None:
    manifest, _, captured = registered
    by_name = captured.by_name()
    for section in ("functions", "classes"):
        for name, spec in manifest.get(section, {}).items():
            settings = by_name[name].settings
            assert settings["gpu"] == expected_gpu(spec.get("gpu")), name
            assert settings["timeout"] == spec.get("timeout", 300), name
            assert settings["startup_timeout"] == spec.get("startup_timeout", spec.get("timeout", 300)), name
            for key in (
                "min_containers",
                "max_containers",
                "buffer_containers",
                "scaledown_window",
                "ephemeral_disk",
                "cloud",
            ):
                assert settings[key] == spec.get(key), (name, key)
            cpu, memory = spec.get("cpu"), spec.get("memory")
            assert settings["cpu"] == (tuple(cpu) if isinstance(cpu, list) else cpu), name
            assert settings["memory"] == (tuple(memory) if isinstance(memory, list) else memory), name
            assert settings["nonpreemptible"] == spec.get("nonpreemptible", False), name
            assert settings["enable_memory_snapshot"] == spec.get("memory_snapshot", False), name
            mounts = {path: (volume_name(v), volume_read_only(v)) for path, v in settings["volumes"].items()}
            assert mounts == expected_mounts(manifest, spec), name
            app = owner_app(manifest, spec)
            wanted_secrets = [
                manifest["secrets"][a].get("name", a) for a in [*app.get("secrets", []), *spec.get("secrets", [])]
            ]
            assert secret_names(settings["secrets"]) == wanted_secrets, name
            assert env_secret_keys(settings["secrets"]) == sorted(spec.get("env", {})), name
            concurrency = spec.get("concurrency", {})
            assert settings["max_concurrent_inputs"] == concurrency.get("max_inputs"), name
            assert settings["target_concurrent_inputs"] == concurrency.get("target_inputs"), name


def test_retries_and_schedules_equal_the_manifest(registered) -> None:
    manifest, _, captured = registered
    by_name = captured.by_name()
    for name, spec in manifest.get("functions", {}).items():
        settings = by_name[name].settings
        retries = spec.get("retries")
        if retries is None:
            assert settings["retries"] is None
        elif isinstance(retries, int):
            assert settings["retries"] == retries
        else:
            policy = settings["retries"]
            assert policy.max_retries == retries["max_retries"]
            assert policy.backoff_coefficient == retries.get("backoff_coefficient", 2.0)
            assert policy.initial_delay == datetime.timedelta(seconds=retries.get("initial_delay", 1.0))
            assert policy.max_delay == datetime.timedelta(seconds=retries.get("max_delay", 60.0))
        schedule = spec.get("schedule")
        if not schedule:
            assert settings["schedule"] is None, name
        elif "cron" in schedule:
            expected = {"cronString": schedule["cron"], "timezone": schedule.get("timezone", "UTC")}
            assert schedule_fields(settings["schedule"]) == {"cron": expected}
        else:
            assert schedule_fields(settings["schedule"]) == {"period": schedule["period"]}


def test_web_endpoints_equal_the_manifest(registered) -> None:
    manifest, _, captured = registered
    by_name = captured.by_name()
    kinds = {
        "fastapi": "WEBHOOK_TYPE_FUNCTION",
        "asgi": "WEBHOOK_TYPE_ASGI_APP",
        "wsgi": "WEBHOOK_TYPE_WSGI_APP",
        "web_server": "WEBHOOK_TYPE_WEB_SERVER",
    }
    for name, spec in manifest.get("functions", {}).items():
        web = spec.get("web")
        config = webhook_fields(by_name[name].settings["webhook_config"])
        if not web:
            assert config is None, name
            continue
        assert config["type"] == kinds[web["type"]]
        if web["type"] == "fastapi":
            assert config["method"] == web.get("method", "GET")
        assert config.get("requested_suffix") == web.get("label")
        assert config.get("web_endpoint_docs", False) == web.get("docs", False)
        assert config.get("requires_proxy_auth", False) == web.get("requires_proxy_auth", False)
        assert [d["name"] for d in config.get("custom_domains", [])] == web.get("custom_domains", [])


def test_batching_equals_the_manifest(registered) -> None:
    manifest, _, captured = registered
    by_name = captured.by_name()
    for name, spec in manifest.get("classes", {}).items():
        methods = spec.get("methods", [])
        batched = [m["batched"] for m in methods.values() if m.get("batched")] if isinstance(methods, dict) else []
        settings = by_name[name].settings
        if batched:
            assert (settings["batch_max_size"], settings["batch_wait_ms"]) == (
                batched[0]["max_batch_size"],
                batched[0]["wait_ms"],
            )
        else:
            assert settings["batch_max_size"] is None


def test_image_layers_follow_the_manifest_steps(registered) -> None:
    manifest, _, captured = registered
    by_name = captured.by_name()
    for section in ("functions", "classes"):
        for name, spec in manifest.get(section, {}).items():
            alias = image_alias(manifest, spec)
            layers = captured.layers(by_name[name].settings["image"])
            kind, base_commands = layers[0]
            root = root_image(manifest, alias)
            if root["base"] == "registry" and "add_python" in root:
                # Modal builds a registry image with the Python it adds below the first layer it records.
                layers = [("dockerfile", [base_command(root)]), *layers]
            elif root["base"] == "registry":
                assert kind == "dockerfile" and base_commands == [base_command(root)]
            else:
                assert kind == "dockerfile" and base_commands[0].startswith(base_command(root))
            built = [commands for kind, commands in layers[1:] if kind == "dockerfile"]
            mounts = [entries for kind, entries in layers[1:] if kind == "mount"]
            steps = expected_steps(manifest, alias)
            assert len(built) == len(steps), (name, built)
            for step, commands in zip(steps, built, strict=True):
                assert_step_layer(step, commands)
            # The handler's package ships as the last, mounted layer, unless a build step copied it in already.
            package = spec["handler"].split(".")[0]
            if package not in copied_packages(steps):
                assert mounts and package in mounts[-1][0], (name, mounts)
