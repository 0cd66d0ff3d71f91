"""``python -m tod_lab.sweep NAME [OVERRIDES]``: the same as ``python -m tod_lab.sweep.run``."""

from tod_lab.sweep.run import main

if __name__ == "__main__":
    main()
