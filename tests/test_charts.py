"""The Helm charts render (Helm v4 as a library), lint clean, and every manifest passes the
Kubernetes schemas; what they deploy agrees with the code (secret keys, CLI flags, config)."""
from pathlib import Path

import pytest
import yaml

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

CHARTS = Path(__file__).resolve().parents[1] / "charts"
KUBERNETES_VERSIONS = ["1.28", "1.33"]


def render(chart: str, values: dict | None = None) -> list[dict]:
    rendered = helm.Chart.load(CHARTS / chart).render(values or {}, name="fer", namespace="ml", is_install=True)
    docs = []
    for path, text in rendered.items():
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def validate(docs: list[dict]) -> None:
    for doc in docs:
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked field by field in its own test
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{doc['kind']} {doc['metadata']['name']} (Kubernetes {version}): {exc.message} "
                            f"at {list(exc.path)}")


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {d["kind"]: d for d in docs}


@pytest.mark.parametrize("chart", ["fersynth-serving", "fersynth-pipeline"])
def test_charts_lint_without_warnings(chart):
    report = helm.lint(str(CHARTS / chart), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


SERVING_VARIANTS = [{}, {"autoscaling": {"enabled": False}, "replicaCount": 2},
                    {"metrics": {"serviceMonitor": {"enabled": True}, "scrapeAnnotations": False}},
                    {"modelRepository": {"controlMode": "none", "existingSecret": ""}, "nodeSelector": {},
                     "tolerations": [], "resources": {"limits": {"cpu": "2"}}}]


@pytest.mark.parametrize("values", SERVING_VARIANTS)
def test_serving_chart_manifests_are_valid(values):
    validate(render("fersynth-serving", values))


def test_serving_chart_runs_triton_on_gpu_nodes_as_non_root():
    kinds = by_kind(render("fersynth-serving"))
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["tritonserver"]
    assert "--model-repository=s3://minio.minio.svc.cluster.local:9000/fersynth/models" in container["args"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu" and pod["nodeSelector"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert pod["securityContext"]["runAsNonRoot"] and container["securityContext"]["readOnlyRootFilesystem"]
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp", "/dev/shm"}
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "fersynth-s3", "key": "secret-key"}
    annotations = kinds["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8002"
    hpa = kinds["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "fersynth_triton_queue_us_per_request"
    assert {p["name"]: p["port"] for p in kinds["Service"]["spec"]["ports"]} == {"http": 8000, "grpc": 8001,
                                                                                 "metrics": 8002}


def test_service_monitor_selects_the_service_metrics_port():
    kinds = by_kind(render("fersynth-serving", {"metrics": {"serviceMonitor": {"enabled": True}}}))
    monitor, service = kinds["ServiceMonitor"], kinds["Service"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    labels = service["metadata"]["labels"]
    assert all(labels[k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_pipeline_secret_has_the_keys_the_stages_and_triton_read():
    from pipelines.cluster import S3_SECRET, S3_SECRET_KEYS

    values = {"objectStore": {"createSecret": True, "accessKey": "ak", "secretKey": "sk"}}
    docs = render("fersynth-pipeline", values)
    validate(docs)
    secret = by_kind(docs)["Secret"]
    assert secret["metadata"]["name"] == S3_SECRET and set(secret["stringData"]) == set(S3_SECRET_KEYS)
    serving_secret = yaml.safe_load((CHARTS / "fersynth-serving" / "values.yaml").read_text())["modelRepository"]
    assert serving_secret["existingSecret"] == S3_SECRET
    assert set(serving_secret["secretKeys"].values()) <= set(S3_SECRET_KEYS)


def test_pipeline_secret_refuses_missing_credentials():
    with pytest.raises(helm.HelmError, match="objectStore.accessKey is required"):
        render("fersynth-pipeline", {"objectStore": {"createSecret": True}})


@pytest.mark.parametrize("mode,kind,command", [("recurring-run", "Job", "schedule"), ("cronjob", "CronJob", "submit")])
def test_pipeline_chart_commands_are_valid_fersynth_commands(mode, kind, command, tmp_path):
    from components.cli import build_parser
    from pipelines.local_run import resolve_config

    parameters = {"identity": {"count": 32}, "train": {"synthetic_ratio": 0.5}}
    docs = render("fersynth-pipeline", {"schedule": {"mode": mode}, "parameters": parameters})
    validate(docs)
    kinds = by_kind(docs)
    job = kinds[kind]
    pod = job["spec"]["template"]["spec"] if kind == "Job" else job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    args = build_parser().parse_args(container["args"])
    assert args.command == command and args.config == "/etc/fersynth/config.yaml"
    config = tmp_path / "config.yaml"
    config.write_text(kinds["ConfigMap"]["data"]["config.yaml"])
    arguments = resolve_config(config)
    assert arguments["identity"]["count"] == 32 and arguments["train"]["synthetic_ratio"] == 0.5
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]


def test_pipeline_chart_refuses_an_unknown_schedule_mode():
    with pytest.raises(helm.HelmError, match="schedule.mode must be"):
        render("fersynth-pipeline", {"schedule": {"mode": "hourly"}})


def test_pipeline_telemetry_config_map_is_what_the_tasks_read():
    from pipelines.cluster import TELEMETRY_CONFIG_MAP, TELEMETRY_KEYS
    from components.stages import PIPELINE_STAGES as STAGE_OUTPUTS

    docs = render("fersynth-pipeline", {"telemetry": {"pushgateway": "pushgateway.monitoring:9091"}})
    validate(docs)
    maps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}
    assert maps[TELEMETRY_CONFIG_MAP]["data"] == {key: "pushgateway.monitoring:9091" for key in TELEMETRY_KEYS}
    compiled = (Path(__file__).resolve().parents[1] / "pipelines" / "compiled" / "fer_pipeline.yaml").read_text()
    tasks = sum(len(stage.tasks) for stage in STAGE_OUTPUTS.values())  # a sharded stage's part and merge tasks too
    assert compiled.count(f"configMapName: {TELEMETRY_CONFIG_MAP}") == tasks


def test_grafana_dashboard_queries_metrics_that_exist():
    """Every metric the dashboard plots is one fersynth stages or Triton really export."""
    import json
    import re

    from prometheus_client import generate_latest

    from components.common.telemetry import StageTelemetry

    docs = render("fersynth-serving", {"grafana": {"dashboard": True}})
    validate(docs)
    board = json.loads(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["fersynth.json"])
    telemetry = StageTelemetry("test")
    telemetry.seen()
    telemetry.produced(1, 0.1)
    telemetry.rejected("no_face")
    telemetry.push()
    ours = set(re.findall(r"^(fersynth_\w+)", generate_latest(telemetry.registry).decode(), re.MULTILINE))
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(fersynth_\w+)", e)}
    assert used and used <= ours, used - ours  # Triton's nv_* names: checked on a live server in test_serving
