"""The `fersynth` command: one subcommand per stage, plus `run` for the embedded pipeline.

    fersynth run [--config demo.yaml] [--out runs/NAME]
    fersynth identity --backend dcgan64 --count 64 --out DIR
"""
from __future__ import annotations

import argparse
import logging
import sys

from components.common import storage
from components.common.config import ConfigError, add_arguments, from_args, load_config
from components.stages import STAGES

log = logging.getLogger("fersynth")


def _stage_parser(sub, stage) -> None:
    parser = sub.add_parser(stage.name, help=stage.help, description=stage.help)
    parser.add_argument("--config", help="YAML config; the section named after the stage is used")
    if stage.takes_input:
        parser.add_argument("--in", dest="in_dir", required=True, help="input dataset directory or s3:// prefix")
    parser.add_argument("--out", dest="out_dir", required=True, help="output dataset directory or s3:// prefix")
    add_arguments(parser, stage.params)
    parser.set_defaults(command=stage.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fersynth", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the pipeline on this machine through KFP's local runner")
    run.add_argument("--config", help="YAML run config (default: the embedded demo config)")
    run.add_argument("--out", dest="out_dir", help="run folder (default: runs/<timestamp>)")
    for stage in STAGES.values():
        _stage_parser(sub, stage)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from components.common.telemetry import setup_logging

    setup_logging(args.verbose)
    try:
        if args.command == "run":
            from pipelines.local_run import run_local

            summary = run_local(args.config, args.out_dir)
            print(summary["run_dir"])
            return 0
        stage = STAGES[args.command]
        section = load_config(args.config).get(stage.name, {}) if args.config else {}
        params = from_args(stage.params, args, section, where=args.config or "command line")
        # Datasets may live in a bucket: stages work on local folders, synced around the run.
        inputs = (storage.local_path(args.in_dir, download=True),) if stage.takes_input else ()
        out_dir = storage.local_path(args.out_dir, download=False)
        counts = stage.run(params, *inputs, out_dir)
        if storage.parse_uri(args.out_dir).scheme == "s3":
            files = storage.upload_dir(out_dir, args.out_dir)
            log.info("uploaded %d files to %s", files, args.out_dir)
        print(f"{stage.name}: {counts} -> {args.out_dir}")
        return 0
    except ConfigError as exc:
        print(f"fersynth: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fersynth: interrupted; finished images are kept, re-run the same command to resume", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError) as exc:
        if args.verbose:
            raise
        print(f"fersynth {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
