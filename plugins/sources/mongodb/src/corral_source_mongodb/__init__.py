"""MongoDB backups for corral (job type ``mongodb``): mongodump's directory format written with pymongo."""
