"""Command line: `optimize` local files, `run` the whole flow on an embedded S3, `invoke-local` one event,
`rerender` the uploads kept under ARCHIVE_PREFIX."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import SettingsError
from .local import USAGE_ERROR, rerender
from .settings import load_settings
from .specs import rendition_name, rendition_outputs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m image_optimizer", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    optimize = commands.add_parser("optimize", help="optimise local image files into DIR")
    optimize.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    optimize.add_argument("--out", required=True, type=Path, metavar="DIR")
    optimize.add_argument("--json", action="store_true", help="print one JSON array of per-input reports")

    run = commands.add_parser("run", help="upload images to an embedded S3 and run the function on its events")
    run.add_argument("images", nargs="*", type=Path, metavar="IMAGE", help="default: the files in samples/")
    run.add_argument("--watch", action="store_true", help="keep serving and processing uploads until Ctrl-C")
    run.add_argument("--endpoint-url", help="use this S3-compatible server instead of the embedded one")
    run.add_argument("--bucket", default="image-optimizer-local")
    run.add_argument(
        "--port", type=int, default=None, help="embedded server port (default: free port; 9000 with --watch)"
    )
    run.add_argument("--out", type=Path, default=Path("out"), help="where media/ is downloaded (default: out)")

    invoke = commands.add_parser("invoke-local", help="run the handler in-process on an event file (no Docker)")
    invoke.add_argument("event", type=Path, metavar="EVENT")
    invoke.add_argument("--image", type=Path, help="file uploaded under the event's key (default: first sample)")
    rerender.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if args.command == "optimize":
        from .local.optimize import run_optimize

        missing = [str(path) for path in args.inputs if not path.is_file()]
        if missing:
            print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
            return USAGE_ERROR
        stems = [path.stem for path in args.inputs]
        if len(set(stems)) != len(stems):
            print("error: two inputs share a file stem, so their outputs would overwrite each other", file=sys.stderr)
            return USAGE_ERROR
        targets = {
            (args.out / rendition_name(stem, name, fmt)).resolve()
            for stem in stems
            for name, fmt in rendition_outputs(settings.pipeline)
        }
        if targets & {path.resolve() for path in args.inputs}:
            print("error: an output would overwrite an input; choose another --out", file=sys.stderr)
            return USAGE_ERROR
        return run_optimize(args.inputs, args.out, as_json=args.json, config=settings.pipeline)

    if args.command == "rerender":
        return rerender.run(args, settings)
    from .local import run

    if args.command == "run":
        return run.run(
            args.images,
            watch=args.watch,
            endpoint_url=args.endpoint_url,
            bucket=args.bucket,
            port=args.port,
            out=args.out,
        )
    from .local.invoke import invoke_local

    return invoke_local(args.event, image=args.image)


if __name__ == "__main__":
    sys.exit(main())
