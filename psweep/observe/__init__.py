"""Looking at a study: run status, report, comparing databases."""
