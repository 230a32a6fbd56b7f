"""MySQL and MariaDB sources: ``mysql`` (a logical dump per database) and ``mysql_xtradb`` (a hot physical
backup of the whole instance). Both stream through the compressor and keep the password out of ``ps``."""
