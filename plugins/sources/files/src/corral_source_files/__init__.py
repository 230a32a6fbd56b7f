"""File archives with GNU tar: ``desc_files`` (one archive per target)."""
