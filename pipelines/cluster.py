"""How each task runs on a Kubernetes cluster: resources, GPUs, node placement, secrets, retries.

The resources are the stage registry's (components/stages.py); `apply` sets them on a pipeline
task. The settings compile into the pipeline YAML; KFP's local runner ignores them (with a
warning), so the embedded run and the cluster run use the very same components.
"""
from __future__ import annotations

from kfp import kubernetes

from components.stages import STAGES

# Kubernetes secret holding the object store credentials (created by the fersynth-pipeline chart).
S3_SECRET = "fersynth-s3"
# ConfigMap with the Pushgateway address the stages push their metrics to (fersynth-pipeline chart).
TELEMETRY_CONFIG_MAP = "fersynth-telemetry"
TELEMETRY_KEYS = {"pushgateway": "FERSYNTH_PUSHGATEWAY"}
S3_SECRET_KEYS = {"endpoint": "FERSYNTH_S3_ENDPOINT", "access-key": "AWS_ACCESS_KEY_ID",
                  "secret-key": "AWS_SECRET_ACCESS_KEY"}
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_LABEL = ("nvidia.com/gpu.present", "true")


def apply(task, stage: str, retries: int = 2):
    """Requests = limits (guaranteed QoS), a GPU with node selector + toleration for GPU stages,
    S3 credentials from the secret and the Pushgateway address as environment variables, retries with backoff, caching on."""
    res = STAGES[stage].resources
    task.set_cpu_request(res.cpu).set_cpu_limit(res.cpu)
    task.set_memory_request(res.memory).set_memory_limit(res.memory)
    if res.gpu:
        task.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
        kubernetes.add_node_selector(task, label_key=GPU_NODE_LABEL[0], label_value=GPU_NODE_LABEL[1])
        kubernetes.add_toleration(task, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")
    # optional: runs whose data stays inside KFP artifacts start even where the secret is not installed
    kubernetes.use_secret_as_env(task, secret_name=S3_SECRET, secret_key_to_env=S3_SECRET_KEYS, optional=True)
    kubernetes.use_config_map_as_env(task, config_map_name=TELEMETRY_CONFIG_MAP,
                                     config_map_key_to_env=TELEMETRY_KEYS, optional=True)
    task.set_retry(num_retries=retries, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s")
    task.set_caching_options(True)
    return task
