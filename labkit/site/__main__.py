"""``python -m labkit.site``: build the course site into build/site/ (``make site``)."""

import argparse
import pathlib
import sys

from labkit import site


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.site", description=__doc__)
    parser.add_argument("--root", type=pathlib.Path, default=site.ROOT,
                        help="the checkout to build from (default: this one)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help=f"output folder (default: ROOT/{site.OUTPUT})")
    parser.add_argument("--no-strict", dest="strict", action="store_false",
                        help="do not turn warnings into errors")
    parser.add_argument("-v", "--verbose", dest="quiet", action="store_false",
                        help="show Sphinx's progress")
    args = parser.parse_args(argv)
    return site.build(args.root.resolve(), args.out, strict=args.strict, quiet=args.quiet)


if __name__ == "__main__":
    sys.exit(main())
