# corral with every plugin and the client tools its jobs run; docs/container.md says how to run it.
#   docker build -t corral .
#   docker run --rm --init -v /etc/corral:/etc/corral:ro -v /var/backups:/var/backups -v corral-state:/var/lib/corral corral
FROM debian:bookworm-slim

# python3 for corral; tar and the codecs; age for `encrypt:`; the database clients (mariadb-dump and mariabackup,
# pg_dump 15, redis-cli; mongodb needs none: pymongo); ssh for the scp and sftp storages; ionice (util-linux)
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates tzdata util-linux \
        tar gzip zstd pigz age openssh-client \
        mariadb-client mariadb-backup postgresql-client redis-tools \
    && rm -rf /var/lib/apt/lists/*

# The core and every plugin, as the README installs a server: a wheelhouse, then corral[all] from it alone
COPY core /src/core
COPY plugins /src/plugins
RUN cd /src \
    && python3 -m venv /opt/corral \
    && /opt/corral/bin/pip wheel --no-cache-dir --disable-pip-version-check -q -w /tmp/wheels \
        ./core ./plugins/[!_]*/*/ \
    && /opt/corral/bin/pip install --no-cache-dir --disable-pip-version-check -q --no-index \
        --find-links /tmp/wheels 'corral[all]' \
    && cd / && rm -rf /tmp/wheels /src \
    && /opt/corral/bin/corral plugins

# No VOLUME: an anonymous volume dies with `docker run --rm`, and with it the incremental state of
# /var/lib/corral; mount named volumes or host folders instead (docs/container.md)
ENV PATH=/opt/corral/bin:$PATH
ENTRYPOINT ["corral"]
CMD ["start", "all", "-c", "/etc/corral/corral.conf"]
