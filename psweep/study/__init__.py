"""Study repositories: psweep new and update, the template repository, pinning psweep."""
