"""Allow `python -m controller` as an alias of the `extctl` console script."""

from controller.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
