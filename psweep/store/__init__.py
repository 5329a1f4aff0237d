"""On disk: where a study's files are, formats, runs table, atomic files, locks, git, DVC."""
