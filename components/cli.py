"""The `fersynth` command: one subcommand per stage, plus `run` for the embedded pipeline.

    fersynth run [--config demo.yaml] [--out runs/NAME]
    fersynth identity --backend dcgan64 --count 64 --out DIR
    fersynth serve --model-repository runs/NAME/export ; fersynth predict face.jpg
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from components.common import storage
from components.common.config import ConfigError, add_arguments, from_args, load_config
from components.stages import STAGES

log = logging.getLogger("fersynth")


def _stage_parser(sub, stage) -> None:
    parser = sub.add_parser(stage.name, help=stage.help, description=stage.help)
    parser.add_argument("--config", help="YAML config; the section named after the stage is used")
    if stage.positional_input:
        parser.add_argument("in_dir", metavar="DATASET", help="dataset directory, s3:// prefix or FORMAT:PATH")
        parser.add_argument("--out", dest="out_dir", help=f"report folder (default: ./{stage.name}-<dataset name>)")
    elif stage.takes_input:
        parser.add_argument("--in", dest="in_dir", required=True, help="input dataset directory or s3:// prefix")
    if not stage.positional_input:
        parser.add_argument("--out", dest="out_dir", required=True, help="output dataset directory or s3:// prefix")
    if stage.shardable:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--shard", metavar="I/N", help="make only part I of N (0-based) into --out, for a merge")
        group.add_argument("--merge", nargs="+", metavar="PART",
                           help="join the --shard parts of all N workers into --out, as one run makes it")
    add_arguments(parser, stage.params)
    parser.set_defaults(command=stage.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fersynth", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on this machine through KFP's local runner")
    run.add_argument("--config", help="YAML run config (default: the embedded demo config)")
    run.add_argument("--out", dest="out_dir", help="run folder (default: runs/<timestamp>)")
    run.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                     help="show every stage's log on the console (it is always in <run>/logs/)")
    run.add_argument("--runner", choices=("subprocess", "docker"), default="subprocess",
                     help="subprocess: stages run in this Python environment; docker: each stage runs in its "
                          "container image (build them with `fersynth images --build`) through podman or docker")
    run.add_argument("--shards", type=int, default=1,
                     help="split identity, expression and adapt into N parallel tasks each (the same data)")
    comp = sub.add_parser("compile", help="compile the KFP pipelines (pipelines/compiled/*.yaml) for the KFP UI")
    comp.add_argument("--out", dest="out_dir", help="folder for fer_pipeline.yaml and fer_sweep_pipeline.yaml "
                                                    "(default: pipelines/compiled, the checked-in files)")
    images = sub.add_parser("images", help="print the build commands of the stage images, or build them")
    images.add_argument("--build", action="store_true", help="build the base and stage images and print their sizes")
    images.add_argument("--engine", choices=("podman", "docker"), help="container engine (default: podman if present)")
    images.add_argument("--stages", nargs="+", choices=list(STAGES), metavar="STAGE",
                        help="build only these stage images (and the base)")
    for name, helptext in (("submit", "create a run on a Kubeflow Pipelines cluster"),
                           ("schedule", "create a recurring run (cron) on a Kubeflow Pipelines cluster")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://ml-pipeline-ui.kubeflow")
        p.add_argument("--config", help="YAML run config (stage sections), default: the embedded demo config")
        p.add_argument("--experiment", default="fersynth")
        if name == "schedule":
            p.add_argument("--cron", required=True, help="KFP cron expression with seconds, e.g. '0 0 2 * * *'")
            p.add_argument("--job-name", default="fersynth-nightly", help="name of the recurring run")
    _serving_parsers(sub)
    for stage in STAGES.values():
        _stage_parser(sub, stage)
    return parser


def _serving_parsers(sub) -> None:
    serve = sub.add_parser("serve", help="serve an exported model repository with an embedded Triton server")
    serve.add_argument("--model-repository", required=True,
                       help="the export stage's output folder (or s3:// prefix) holding <name>/config.pbtxt")
    serve.add_argument("--address", default="127.0.0.1", help="listen address (0.0.0.0 for all interfaces)")
    serve.add_argument("--http-port", type=int, default=8000)
    serve.add_argument("--grpc-port", type=int, default=8001)
    serve.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics at /metrics")
    serve.add_argument("--threads", type=int, default=0, help="onnxruntime threads per model instance (0: all cores)")
    predict = sub.add_parser("predict", help="emotion probabilities for face photos from a Triton endpoint (JSON)")
    predict.add_argument("images", nargs="+", help="image files; each face is detected and aligned as in training")
    predict.add_argument("--url", default="127.0.0.1:8000", help="Triton endpoint host:port")
    predict.add_argument("--protocol", choices=("http", "grpc"), default="http")
    predict.add_argument("--model", default="fersynth_fer", help="served model name")
    predict.add_argument("--model-version", default="", help="model version (default: the server's latest)")


def _cluster_command(args) -> int:
    from pipelines import cluster_cli

    if args.command == "compile":
        out = Path(args.out_dir) if args.out_dir else cluster_cli.COMPILED.parent
        print(cluster_cli.compile_pipeline(out / cluster_cli.COMPILED.name))
        print(cluster_cli.compile_pipeline(out / cluster_cli.COMPILED_SWEEP.name, sweep=True))
    elif args.command == "images":
        _images_command(args)
    else:
        from pipelines.local_run import resolve_config
        from pipelines.pipeline_inputs import pipeline_arguments

        arguments = pipeline_arguments(resolve_config(args.config))
        if args.command == "submit":
            print(cluster_cli.submit(args.host, arguments, args.experiment))
        else:
            print(cluster_cli.schedule(args.host, args.cron, arguments, args.experiment, args.job_name))
    return 0


def _images_command(args) -> None:
    import shlex

    from pipelines import image_build

    if not args.build:
        print("\n".join(shlex.join(c) for c in image_build.build_commands(args.engine or "docker", args.stages)))
        return
    for image in image_build.build_images(args.engine, args.stages, log=lambda line: print(line, file=sys.stderr)):
        print(f"{image.tag}  {image.size_bytes / 1e9:.2f} GB  built in {image.seconds:.0f} s")


def _serving_command(args) -> int:
    if args.command == "serve":
        from components.serve.server import EmbeddedTriton, Ports

        server = EmbeddedTriton(args.model_repository, Ports(args.http_port, args.grpc_port, args.metrics_port),
                                args.address, threads=args.threads)
        # SIGTERM (docker stop, kill, timeout) stops Triton as cleanly as Ctrl-C does.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        try:
            server.start()
            print(f"Triton serving {', '.join(m.name for m in server.models)}: HTTP {server.http_url}, "
                  f"gRPC {server.grpc_url}, metrics {server.metrics_url} (Ctrl-C stops)", flush=True)
            return server.wait()
        finally:
            server.stop()
    from components.serve.client import FERClient

    with FERClient(args.url, args.model, args.model_version, args.protocol) as client:
        results = client.predict_files(args.images)
    print(json.dumps(results, indent=2))
    failed = [r for r in results if "error" in r]
    for r in failed:
        print(f"fersynth predict: {r['error']}", file=sys.stderr)
    return 1 if len(failed) == len(results) else 0


def _stage_runner(stage, args):
    """The stage's run, or one shard's part of it (--shard), or the merge of all parts (--merge)."""
    import functools

    from components.common.shards import Shard, merge_run

    if getattr(args, "shard", None):
        return functools.partial(stage.run, shard=Shard.parse(args.shard))
    if getattr(args, "merge", None):
        return merge_run(stage.run, [storage.local_path(p, download=True) for p in args.merge])
    return stage.run


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from components.common.telemetry import setup_logging

    setup_logging(args.verbose)
    try:
        if args.command == "run":
            from pipelines.console import headline
            from pipelines.local_run import run_local

            summary = run_local(args.config, args.out_dir, verbose=args.verbose, runner=args.runner,
                                shards=args.shards)
            print(headline(summary))
            return 0
        if args.command in ("serve", "predict"):
            return _serving_command(args)
        if args.command in ("compile", "images", "submit", "schedule"):
            return _cluster_command(args)
        stage = STAGES[args.command]
        section = load_config(args.config).get(stage.name, {}) if args.config else {}
        params = from_args(stage.params, args, section, where=args.config or "command line")
        if stage.positional_input:
            args.out_dir = args.out_dir or f"{stage.name}-{Path(args.in_dir.partition(':')[2] or args.in_dir).name}"
            inputs = (args.in_dir,)  # the stage reads FORMAT:PATH and s3:// itself
        else:
            # Datasets may live in a bucket: stages work on local folders, synced around the run.
            inputs = (storage.local_path(args.in_dir, download=True),) if stage.takes_input else ()
        out_dir = storage.local_path(args.out_dir, download=False)
        run = _stage_runner(stage, args)
        if storage.parse_uri(args.out_dir).scheme == "s3":
            with storage.PrefixLease(args.out_dir):  # one writer per output prefix
                counts = run(params, *inputs, out_dir)
                files = storage.upload_dir(out_dir, args.out_dir)
            log.info("uploaded %d files to %s", files, args.out_dir)
        else:
            counts = run(params, *inputs, out_dir)
        print(f"{stage.name}: {counts} -> {args.out_dir}")
        return 0
    except ConfigError as exc:
        print(f"fersynth: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fersynth: interrupted; finished images are kept, re-run the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as exc:  # ImageBuildError, ImageMissing are RuntimeErrors
        if args.verbose:
            raise
        print(f"fersynth {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
