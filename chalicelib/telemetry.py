"""CloudWatch metrics in Embedded Metric Format (Powertools): printed to the log, no API call.

Contract with infra/ (the expiry alarm): namespace TaskSubdomains, metric CertificateDaysRemaining,
dimension service=task-subdomains, one value per configured certificate per run: the days left
on the certificate now stored (0 when none could be issued). The alarm fires on Minimum < 14,
and on missing data, which means the renewal function stopped running.
"""

from aws_lambda_powertools.metrics import Metrics, MetricUnit

NAMESPACE = "TaskSubdomains"
SERVICE = "task-subdomains"
DAYS_REMAINING = "CertificateDaysRemaining"


class CertificateMetrics:
    def __init__(self):
        self._metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

    def days_remaining(self, days: float) -> None:
        self._metrics.add_metric(name=DAYS_REMAINING, unit=MetricUnit.Count, value=round(days, 2))

    def flush(self) -> None:
        self._metrics.flush_metrics(raise_on_empty_metrics=False)
