"""``corral doctor`` for ``redis``: redis-cli and its version, the server's answer to ``INFO`` with the job's login
(the password in redis-cli's environment, as a snapshot passes it), and the codec."""

from __future__ import annotations

from corral import Check, RunContext
from corral.doctoring import codec, program
from corral_source_redis.facts import ask, parse_info
from corral_source_redis.options import RedisSource
from corral_source_redis.snapshot import redis_cli_command


def check(source: RedisSource, run: RunContext) -> list[Check]:
    cli = program("redis-cli", "redis-tools")
    if cli.path is None:
        return [cli.check, codec(source.codec_name)]
    connect = source.connect
    argv, env = redis_cli_command(connect, "INFO", "server")
    code, out, err = ask(run, argv, env)
    info = parse_info(out) if code == 0 else {}
    if not info:  # redis-cli says an AUTH failure on stdout and exits 0; a refused address on stderr
        said = [line.strip() for line in (err + out).splitlines() if line.strip() and not line.startswith("#")]
        cause = said[0] if said else f"redis-cli exited with code {code}"
        return [cli.check, Check.fail(f"server {connect.where}: cannot connect: {cause}"), codec(source.codec_name)]
    return [Check.ok(f"{cli.check.text} (server {info['server']} at {connect.where})"), codec(source.codec_name)]
