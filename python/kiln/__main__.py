"""python -m kiln COMMAND ...

Commands:
  compare MODEL.onnx [...]   compare Kiln with ONNX Runtime (python -m kiln compare --help)
  version                    print Kiln's version
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "compare":
        from .compare import main as compare_main

        return compare_main(rest)
    if command == "version":
        import kiln

        print(kiln.__version__)
        return 0
    print(f"unknown command '{command}'\n\n{__doc__.strip()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
