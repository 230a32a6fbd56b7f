"""PostgreSQL sources for corral: ``postgresql`` (pg_dump per database, plus globals) and ``postgresql_hot``
(pg_basebackup of the whole cluster)."""
