"""cluster.yaml validates offline against Ray's own cluster schema (../shared/notes/ray-mlflow.md, section 4).

The check is the one `ray up` runs before it talks to the cloud: jsonschema against
``ray/autoscaler/ray-schema.json``, then ``validate_config(prepare_config(raw))`` (which merges the
AWS defaults and checks cross-field rules). boto3 is blocked to prove nothing reaches AWS.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster.yaml"


def validate(raw: dict) -> dict:
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(raw, schema)
    config = prepare_config(copy.deepcopy(raw))
    validate_config(config)
    return config


@pytest.fixture
def raw(monkeypatch) -> dict:
    monkeypatch.setitem(sys.modules, "boto3", None)  # offline: importing boto3 would fail
    return yaml.safe_load(CLUSTER.read_text())


def test_cluster_yaml_validates_against_rays_schema(raw):
    config = validate(raw)
    assert config["head_node_type"] == "head.cpu"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c.__setitem__("availble_node_types", c.pop("available_node_types")),  # typo in a top-level key
        lambda c: c["available_node_types"]["worker.gpu"].__setitem__("min_worker", 0),  # typo in a node type
        lambda c: c.__setitem__("max_workers", "four"),
        lambda c: c.__setitem__("head_node_type", "head.gpu"),
        lambda c: c["available_node_types"]["worker.gpu"].__setitem__("min_workers", 5),
        lambda c: c.__setitem__("setup_commands", "pip install ."),
    ],
)
def test_a_broken_copy_fails(raw, break_it):
    broken = copy.deepcopy(raw)
    break_it(broken)
    with pytest.raises((jsonschema.ValidationError, ValueError)):
        validate(broken)


def test_nodes_declare_their_resources(raw):
    head = raw["available_node_types"]["head.cpu"]
    worker = raw["available_node_types"]["worker.gpu"]
    assert head["resources"] == {"CPU": 8, "TRAIN_DRIVER": 8}  # no EC2 call to autodetect; trial drivers go here
    assert worker["resources"]["GPU"] >= 1 and worker["resources"]["CPU"] >= 1
    assert (worker["min_workers"], worker["max_workers"]) == (0, 4) and raw["max_workers"] == 4
    assert worker["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"


def test_setup_pins_agree_with_the_project():
    text = CLUSTER.read_text()
    pins = dict(re.findall(r'"([a-z]+)(?:\[[a-z,]+\])?==([\d.]+)"', text))
    assert pins["ray"] == ray.__version__
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"ray[default,data,train,tune]>=2.60,<2.61"' in pyproject
    assert '"mlflow>=3.17,<4"' in pyproject and pins["mlflow"].startswith("3.17")
    makefile = (REPO / "Makefile").read_text()
    assert f"TORCH_SPEC ?= torch=={pins['torch']}" in makefile
    assert "pip install -q -e /home/ubuntu/crossmoco" in text


def test_services_and_data_location(raw):
    head_start = " ".join(raw["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start
    assert "mlflow server" in head_start and "MLFLOW_TRACKING_URI" in head_start
    assert "CROSSMOCO_DATA=$HOME/data" in head_start
    assert "CROSSMOCO_DATA=$HOME/data" in " ".join(raw["worker_start_ray_commands"])
    assert raw["cluster_synced_files"] == ["~/data"]


def test_runs_live_on_shared_storage_that_survives_ray_down(raw):
    """Checkpoints (Ray Train/Tune storage) and MLflow's artifacts go to S3, on every node alike."""
    starts = [" ".join(raw["head_start_ray_commands"]), " ".join(raw["worker_start_ray_commands"])]
    storage = [re.search(r"CROSSMOCO_STORAGE=(\S+);", s) for s in starts]
    assert all(storage) and storage[0].group(1) == storage[1].group(1)
    assert storage[0].group(1).startswith("s3://")
    assert re.search(r"--artifacts-destination s3://\S+", starts[0])


def test_no_secrets_in_the_file():
    text = CLUSTER.read_text()
    patterns = (r"AKIA[0-9A-Z]{16}", r"ASIA[0-9A-Z]{16}", r"(?i)aws_secret", r"(?i)secret_access_key",
                r"(?i)password", r"(?i)session_token", r"BEGIN [A-Z ]*PRIVATE KEY", r"(?i)ssh_private_key")  # fmt: skip
    for pattern in patterns:
        assert not re.search(pattern, text), pattern
