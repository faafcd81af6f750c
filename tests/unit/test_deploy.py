"""deploy/ and the DaskCluster geofeat generates, validated offline.

Kubernetes objects are checked against the Kubernetes API schemas shipped by
kubernetes-validate (strict: unknown fields fail); ``DaskCluster`` objects
against the CRD schema the dask-kubernetes package ships, with every object
closed to unknown fields (as the API server would prune them), and their pod
specs against the Kubernetes ``Pod`` schema as well. No cluster is contacted.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

import geofeat
from geofeat.cluster import kubernetes_cluster_spec
from geofeat.spec import KubernetesOptions, load_spec

DEPLOY = Path(geofeat.__file__).resolve().parents[1] / "deploy"
K8S_VERSION = "1.30"


@pytest.fixture(autouse=True, scope="module")
def _schemas_read_once():
    """kubernetes-validate re-reads its multi-megabyte schema files per call."""
    from functools import lru_cache

    import kubernetes_validate.utils as utils

    original = utils.schema_contents
    utils.schema_contents = lru_cache(maxsize=None)(original)
    yield
    utils.schema_contents = original


def _closed(schema):
    """The schema with objects that list their properties closed to others."""
    if isinstance(schema, dict):
        schema = {k: _closed(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@pytest.fixture(scope="module")
def daskcluster_schema() -> jsonschema.Validator:
    import dask_kubernetes

    crd_file = (
        Path(dask_kubernetes.__file__).parent
        / "operator/deployment/helm/dask-kubernetes-operator/crds/daskcluster.yaml"
    )
    crd = yaml.safe_load(crd_file.read_text())
    assert crd["spec"]["names"]["kind"] == "DaskCluster"
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = _closed(version["schema"]["openAPIV3Schema"])
    # apiVersion, kind and metadata are checked by the API server itself.
    for key in ("apiVersion", "kind", "metadata"):
        schema["properties"].setdefault(key, {})
    # Built once: jsonschema.validate() would check the schema itself every call.
    return jsonschema.Draft202012Validator(schema)


def validate_daskcluster(doc: dict, schema: jsonschema.Validator) -> None:
    assert doc["apiVersion"] == "kubernetes.dask.org/v1"
    schema.validate(doc)
    for role in ("scheduler", "worker"):
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"{doc['metadata']['name']}-{role}"},
            "spec": doc["spec"][role]["spec"],
        }
        kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def manifests() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}", doc))
    return found


def test_deploy_has_what_a_user_needs() -> None:
    kinds = {name.split(":")[1] for name, _ in manifests()}
    assert {"DaskCluster", "Job", "ConfigMap", "Role"} <= kinds
    assert (DEPLOY / "Dockerfile").is_file() and (DEPLOY / "README.md").is_file()


@pytest.mark.parametrize("name,doc", manifests(), ids=[n for n, _ in manifests()])
def test_manifest_is_valid(name: str, doc: dict, daskcluster_schema) -> None:
    if doc["kind"] == "DaskCluster":
        validate_daskcluster(doc, daskcluster_schema)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_generated_cluster_spec_is_valid(daskcluster_schema) -> None:
    """What ``cluster: {kubernetes: ...}`` sends to the operator."""
    options = KubernetesOptions(
        workers=5,
        image="registry.example/geofeat:0.1.0",
        resources={
            "requests": {"cpu": "2", "memory": "4Gi"},
            "limits": {"memory": "4Gi"},
        },
        namespace="science",
        secret="geofeat-credentials",
    )
    spec = kubernetes_cluster_spec(options)
    validate_daskcluster(spec, daskcluster_schema)
    assert spec["spec"]["worker"]["replicas"] == 5
    assert spec["metadata"]["namespace"] == "science"
    for role in ("scheduler", "worker"):
        (container,) = spec["spec"][role]["spec"]["containers"]
        assert container["image"] == "registry.example/geofeat:0.1.0"
        assert container["envFrom"] == [{"secretRef": {"name": "geofeat-credentials"}}]
        # Credentials travel only by reference to the Secret.
        names = [e["name"] for e in container.get("env", [])]
        assert not [n for n in names if re.search("KEY|SECRET|TOKEN|PASSWORD", n)]


def test_validation_can_fail(daskcluster_schema) -> None:
    """A misspelt field or a wrong type is caught: the checks above can fail."""
    spec = kubernetes_cluster_spec(KubernetesOptions(workers=2))
    validate_daskcluster(spec, daskcluster_schema)
    typo = copy.deepcopy(spec)
    typo["spec"]["worker"]["replica"] = typo["spec"]["worker"].pop("replicas")
    with pytest.raises(jsonschema.ValidationError) as err:
        validate_daskcluster(typo, daskcluster_schema)
    assert "'replica' was unexpected" in err.value.message
    wrong = copy.deepcopy(spec)
    wrong["spec"]["worker"]["spec"]["containers"][0]["resources"] = {"request": {}}
    with pytest.raises(jsonschema.ValidationError) as err:
        validate_daskcluster(wrong, daskcluster_schema)
    assert "'request' was unexpected" in err.value.message
    wrong["spec"]["worker"]["replicas"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        validate_daskcluster(wrong, daskcluster_schema)
    job = dict(next(doc for name, doc in manifests() if doc["kind"] == "Job"))
    job["spec"] = {**job["spec"], "backoffLimits": 3}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_job_runs_the_spec_of_the_configmap_on_the_daskcluster(tmp_path) -> None:
    """The Job's spec parses as a geofeat spec and points at the DaskCluster."""
    docs = {doc["kind"]: doc for _, doc in manifests()}
    spec_text = docs["ConfigMap"]["data"]["spec.yaml"]
    (tmp_path / "spec.yaml").write_text(spec_text)
    spec = load_spec(tmp_path / "spec.yaml")
    scheduler = f"tcp://{docs['DaskCluster']['metadata']['name']}-scheduler:8786"
    assert spec.cluster.address == scheduler
    assert spec.output.startswith("s3://")
    (container,) = docs["Job"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][:3] == ["geofeat", "run", "/config/spec.yaml"]
    mount = container["volumeMounts"][0]
    assert mount["mountPath"] == "/config"
    volumes = {v["name"]: v for v in docs["Job"]["spec"]["template"]["spec"]["volumes"]}
    assert (
        volumes[mount["name"]]["configMap"]["name"]
        == docs["ConfigMap"]["metadata"]["name"]
    )
    images = {
        container["image"],
        docs["DaskCluster"]["spec"]["worker"]["spec"]["containers"][0]["image"],
    }
    assert len(images) == 1


def test_dockerfile_copies_what_exists_and_installs_pinned() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    root = DEPLOY.parent
    for line in text.splitlines():
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source
    assert 'pip install -c constraints.txt ".[cluster]"' in text
    assert not re.search(r"(?i)(aws_secret|access_key|password|token)\s*=", text)


def test_kubernetes_without_a_cluster_names_the_fix(tmp_path, monkeypatch) -> None:
    """No kubeconfig and no pod identity (as here): an error saying what is needed."""
    from geofeat.cluster import connect
    from geofeat.errors import ConfigError
    from geofeat.spec import KubernetesClusterSpec

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="kubeconfig .* deploy/rbac.yaml"):
        with connect(KubernetesClusterSpec()):
            pass
