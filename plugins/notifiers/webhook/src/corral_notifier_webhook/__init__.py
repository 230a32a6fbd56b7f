"""JSON webhooks after each run, and a dead-man ping so that a server whose backups stopped is noticed.

Webhooks (``webhook_urls``) get the run's report, or a ``webhook_template`` filled from it, after every run or only
failed ones and those that found a site or database no job backs up (``webhook_level``). The ping
(``healthcheck_url``) follows healthchecks.io: ``URL/start`` when a run starts, ``URL`` when it succeeded,
``URL/fail`` when it failed or was interrupted; the service raises the alarm when the pings stop. Each URL is tried
on its own; failures are reported together, in one line.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from corral import RunContext, RunResult, hookimpl
from corral_notifier_webhook.delivery import WebhookError, post, where, with_path_suffix
from corral_notifier_webhook.report import render, text, uncovered, variables
from corral_notifier_webhook.settings import WebhookSettings

__all__ = ["WebhookError", "WebhookNotifier", "WebhookSettings"]

PING_BODY_LIMIT = 100_000  # healthchecks.io keeps the first 100 kB of a ping body


class WebhookNotifier:
    @hookimpl
    def corral_main_schema(self) -> type[BaseModel]:
        return WebhookSettings

    @hookimpl
    def corral_run_started(self, run: RunContext) -> None:
        main = run.main
        if main.healthcheck_url is not None:
            ping = with_path_suffix(main.healthcheck_url.get_secret_value(), "/start")
            try:
                post(ping, b"", {"Content-Type": "text/plain; charset=utf-8"}, main.webhook_timeout)
            except WebhookError as exc:
                raise WebhookError(f"dead-man ping /start: {exc}") from None

    @hookimpl
    def corral_run_finished(self, run: RunContext, result: RunResult) -> None:
        main = run.main
        failures = []
        if main.webhook_urls and (main.webhook_level == "always" or not result.ok or uncovered(result)):
            body = self.payload(main, result)
            headers = {"Content-Type": "application/json",
                       **{name: value.get_secret_value() for name, value in main.webhook_headers.items()}}
            for index, secret in enumerate(main.webhook_urls, start=1):
                url = secret.get_secret_value()
                try:
                    post(url, body, headers, main.webhook_timeout)
                    run.log.info("webhook %d (%s): report delivered", index, where(url))
                except WebhookError as exc:
                    failures.append(f"webhook {index}: {exc}")
        if main.healthcheck_url is not None:
            suffix = "" if result.ok else "/fail"
            ping = with_path_suffix(main.healthcheck_url.get_secret_value(), suffix)
            report = text(main.server_name, result).encode()[:PING_BODY_LIMIT]
            try:
                post(ping, report, {"Content-Type": "text/plain; charset=utf-8"}, main.webhook_timeout)
            except WebhookError as exc:
                failures.append(f"dead-man ping {suffix or '(success)'}: {exc}")
        if failures:
            raise WebhookError("; ".join(failures))

    @staticmethod
    def payload(main: Any, result: RunResult) -> bytes:
        values = variables(main.server_name, result)
        data = values if main.webhook_template is None else render(main.webhook_template, values)
        return json.dumps(data, ensure_ascii=False).encode()
