"""``python -m psweep``: the ``psweep`` command."""

from .study import main

if __name__ == "__main__":
    main()
