"""docker-compose.yml is checked here as far as a machine without a Docker engine allows."""

import json
import pathlib
import tomllib

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def validator():
    # The schema names draft-07 without the trailing '#', so name the draft explicitly.
    schema = json.loads((ROOT / "deploy" / "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_compose_file_validates_against_the_compose_schema():
    errors = sorted(validator().iter_errors(compose()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_broken_file():
    broken = compose()
    broken["services"]["gateway"]["imagee"] = "typo"
    broken["services"]["gateway"]["depends_on"] = {"service": {"condition": "whenever"}}
    assert len(list(validator().iter_errors(broken))) >= 2


def test_every_livemsg_variable_names_a_real_setting():
    base = tomllib.loads((ROOT / "config" / "base.toml").read_text())
    seen = 0
    for name, service in compose()["services"].items():
        for key in (service.get("environment") or {}):
            if not key.startswith("LIVEMSG__"):
                continue
            section, setting = key.removeprefix("LIVEMSG__").lower().split("__", 1)
            head = setting.split("__")[0]
            assert head in base.get(section, {}), f"{name}: {key} is not a setting"
            seen += 1
    assert seen >= 8


def test_published_ports_bind_to_loopback_by_default():
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_dockerfile_targets_exist_for_every_built_image():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for name, service in compose()["services"].items():
        build = service.get("build")
        if build:
            assert f" AS {build['target']}\n" in dockerfile, name
