"""Redis backups for corral (job type ``redis``): an RDB snapshot taken over the replication protocol."""
