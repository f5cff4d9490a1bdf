"""The registry of stages: every per-stage fact in one table.

Name, parameter model and run function (imported lazily, so `fersynth <stage> --help` loads no
torch), the dataset artifact its KFP component writes, the resources it asks a cluster for. The
CLI, the embedded run, its console and report, the KFP pipeline, the cluster settings and the
image builds all read this table, so a new stage is added in one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Callable


@dataclass(frozen=True)
class Resources:
    """What a stage's pod requests (= limits) on a cluster; `gpu` adds one GPU and GPU-node placement."""
    cpu: str
    memory: str
    gpu: bool = False


@dataclass(frozen=True)
class Stage:
    name: str
    params_path: str  # "module:Class"
    run_path: str  # "module:function"
    help: str
    takes_input: bool  # reads a previous stage's dataset
    in_pipeline: bool = True  # part of the KFP pipeline and the embedded run
    positional_input: bool = False  # `fersynth NAME DIR` instead of --in DIR, and --out optional
    output: str | None = None  # the dataset (or model) artifact its pipeline component writes
    resources: Resources | None = None  # its pod on a cluster (pipeline stages only)
    shardable: bool = False  # run(..., shard=Shard(i, n)) makes one part of its dataset (common/shards.py)

    @property
    def task(self) -> str:
        """The KFP task that writes its dataset: `<name>-op`, or `<name>-merge-op` for a sharded stage."""
        return f"{self.name}-merge-op" if self.shardable else f"{self.name}-op"

    @property
    def tasks(self) -> tuple[str, ...]:
        """Every KFP task of the stage (a sharded stage's parts too); their lines go to one log."""
        return (f"{self.name}-part-op", self.task) if self.shardable else (self.task,)

    @staticmethod
    def _load(path: str):
        module, attr = path.split(":")
        return getattr(import_module(module), attr)

    @property
    def params(self) -> type:
        return self._load(self.params_path)

    @property
    def run(self) -> Callable:
        return self._load(self.run_path)


STAGES: dict[str, Stage] = {
    "identity": Stage("identity", "components.identity.params:IdentityParams", "components.identity.run:run",
                      "generate or collect aligned identity faces (dcgan64, stylegan2, folder)", takes_input=False,
                      output="identities", resources=Resources("2", "8G", gpu=True), shardable=True),
    "expression": Stage("expression", "components.expression.params:ExpressionParams",
                        "components.expression.run:run",
                        "put emotions / polar codes / AU vectors on identities (mesh_warp, au_warp, ganmut)",
                        takes_input=True, output="expressions", resources=Resources("2", "8G", gpu=True),
                        shardable=True),
    "adapt": Stage("adapt", "components.adapt.params:AdaptParams", "components.adapt.run:run",
                   "paste edits back: LAB colour transfer + feathered alpha (or Poisson) blending", takes_input=True,
                   output="images", resources=Resources("2", "4G"), shardable=True),
    "select": Stage("select", "components.select.params:SelectParams", "components.select.run:run",
                    "keep good images: face check, BRISQUE/NIQE/FR metrics, FID/KID, class-balanced top-k",
                    takes_input=True, output="selected", resources=Resources("4", "8G"), shardable=True),
    "annotate": Stage("annotate", "components.annotate.params:AnnotateParams", "components.annotate.run:run",
                      "label images from seed lists and edit targets; labels table, seed review gallery",
                      takes_input=True, output="labelled", resources=Resources("1", "2G")),
    "privacy": Stage("privacy", "components.privacy.params:PrivacyParams", "components.privacy.run:run",
                     "memorisation check: flag (or drop) synthetic identities too close to real faces",
                     takes_input=True, output="checked", resources=Resources("2", "4G"), shardable=True),
    "train": Stage("train", "components.train.params:TrainParams", "components.train.run:run",
                   "train a FER model on the labelled synthetic set (+ real datasets), identity-disjoint splits",
                   takes_input=True, output="model", resources=Resources("4", "16G", gpu=True)),
    "evaluate": Stage("evaluate", "components.evaluate.params:EvaluateParams", "components.evaluate.run:run",
                      "evaluate a trained model (--model-dir) on held-out identities (--in) and test sets",
                      takes_input=True, output="evaluation", resources=Resources("2", "8G")),
    "bias": Stage("bias", "components.bias.params:BiasParams", "components.bias.run:run",
                  "bias report of any face dataset: class/identity balance, skin tone (ITA), per-group accuracy "
                  "(--model-dir)", takes_input=True, positional_input=True, output="report",
                  resources=Resources("2", "4G")),
    "export": Stage("export", "components.export.params:ExportParams", "components.export.run:run",
                    "export a trained model (--in: train output) to ONNX + a Triton model repository (--out)",
                    takes_input=True, output="repository", resources=Resources("2", "4G")),
    # A tool of the pipelines layer: it chains train and evaluate over several mixes.
    "sweep": Stage("sweep", "pipelines.sweep:SweepParams", "pipelines.sweep:run",
                   "train the same model on several real + k x synthetic mixes and print the accuracy table",
                   takes_input=True, in_pipeline=False),
    # Not a pipeline stage: trains the ganmut editor's checkpoint on a labelled face folder.
    "train-ganmut": Stage("train-ganmut", "components.expression.params:GANmutTrainParams",
                          "components.expression.ganmut_train:run",
                          "train the ganmut expression editor on a labelled folder (--in) into --out",
                          takes_input=True, in_pipeline=False),
}


PIPELINE_STAGES: dict[str, Stage] = {name: stage for name, stage in STAGES.items() if stage.in_pipeline}
