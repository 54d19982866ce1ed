"""The multi-node example (deploy/compose.yml, deploy/k8s/*.yaml) parses, runs every component
with `bin/threadline serve`, probes each on the port its code listens on, and migrates in one
place. Neither file was run here (no Docker daemon, no cluster): this is what can be checked."""
from __future__ import annotations

from pathlib import Path

import yaml

from connectors.email.reader_service import DEFAULT_PORT as EMAIL_READER_PORT
from threadline.components import COMPONENTS
from threadline.inbox_worker import DEFAULT_PORT as INBOX_WORKER_PORT
from threadline.settings import DEFAULT_CONSOLE_PORT, PROJECT_DIR

DEPLOY = PROJECT_DIR / "deploy"
# Where each component answers its health check, from the code's defaults.
HEALTH_PORTS = {"rasa": 5005, "actions": 5055, "worker": INBOX_WORKER_PORT, "timeline": 5056, "followups": 5052,
                "console": DEFAULT_CONSOLE_PORT, "email": EMAIL_READER_PORT}


def k8s_documents() -> list:
    documents = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return documents


def probe_port(probe: dict) -> int:
    if "httpGet" in probe:
        return int(probe["httpGet"]["port"])
    command = " ".join(probe["exec"]["command"])
    return int(command.split("127.0.0.1:")[1].split("/")[0])


def test_every_component_is_a_deployment_with_probes_on_its_health_port():
    documents = k8s_documents()
    assert all({"apiVersion", "kind", "metadata"} <= set(document) for document in documents)
    deployments = {}
    for document in documents:
        if document["kind"] == "Deployment":
            container, = document["spec"]["template"]["spec"]["containers"]
            assert container["args"][0] == "serve"
            deployments[container["args"][1]] = container
    assert set(deployments) == set(COMPONENTS)
    for name, container in deployments.items():
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe_port(container[kind]) == HEALTH_PORTS[name], (name, kind)
        assert {"configMapRef": {"name": "threadline"}} in container["envFrom"]


def test_k8s_migrates_in_a_job_and_runs_sentinel_and_postgres():
    documents = k8s_documents()
    config = next(d for d in documents if d["kind"] == "ConfigMap")
    assert config["data"]["THREADLINE_MIGRATE"] == "check"
    job = next(d for d in documents if d["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"
    stateful = {d["metadata"]["name"]: d for d in documents if d["kind"] == "StatefulSet"}
    assert stateful["redis"]["spec"]["replicas"] == 3 and stateful["redis-sentinel"]["spec"]["replicas"] == 3
    assert "postgres" in stateful
    secret = next(d for d in documents if d["kind"] == "Secret")
    assert secret["stringData"]["REDIS_URL"].startswith("redis+sentinel://")
    for statefulset in stateful.values():
        container = statefulset["spec"]["template"]["spec"]["containers"][0]
        assert "readinessProbe" in container and "livenessProbe" in container


def test_compose_runs_every_component_after_the_migration_with_a_healthcheck():
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["migrate"]
    by_component = {service["command"][1]: service for service in services.values()
                    if isinstance(service.get("command"), list) and service["command"][:1] == ["serve"]}
    assert set(by_component) == set(COMPONENTS)
    for name, service in by_component.items():
        assert f"127.0.0.1:{HEALTH_PORTS[name]}/" in " ".join(service["healthcheck"]["test"]), name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert service["environment"]["THREADLINE_MIGRATE"] == "check"
        assert service["environment"]["REDIS_URL"].startswith("redis+sentinel://")
    assert {"sentinel-1", "sentinel-2", "sentinel-3", "redis-primary", "redis-replica-1", "redis-replica-2",
            "postgres", "haproxy"} <= set(services)
    assert Path(DEPLOY / "haproxy.cfg").is_file() and Path(DEPLOY / "Dockerfile").is_file()
