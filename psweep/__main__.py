"""``python -m psweep``: the ``psweep`` command."""

from psweep.cli import main

if __name__ == "__main__":
    main()
