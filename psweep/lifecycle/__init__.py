"""The run lifecycle: rows, journal, merge, recovery, execution backends."""
