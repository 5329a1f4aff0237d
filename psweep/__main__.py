"""``python -m psweep``: the ``psweep`` command."""

from psweep.study.new import main

if __name__ == "__main__":
    main()
