"""CloudWatch metrics in Embedded Metric Format (Powertools): printed to the log, no API call.

Contract with infra/ (the expiry alarm): namespace TaskSubdomains, metric CertificateDaysRemaining,
dimensions service=task-subdomains and FunctionName=<the renewal function's name>, one value per
configured certificate per run: the days left on the certificate now stored, 0 when none could
be issued or when a task would load a key that does not belong to it (a broken pair no run could
repair yet). The alarm fires on Minimum < 14, and on missing data, which means the renewal
function stopped running.

FunctionName tells the stages apart: dev and prod run in one account, and with the service
dimension alone prod's alarm (its missing-data check included) would be fed by dev's runs. The
function name (task-subdomains-<stage>-renew_certificates) is unique per stage and set by Lambda,
so no configuration can get it wrong.
"""

import os
from collections.abc import Mapping

from aws_lambda_powertools.metrics import Metrics, MetricUnit

NAMESPACE = "TaskSubdomains"
SERVICE = "task-subdomains"
DAYS_REMAINING = "CertificateDaysRemaining"
FUNCTION_DIMENSION = "FunctionName"
# Outside Lambda (tests, a local run) there is no function name; nothing ingests those metrics.
OUTSIDE_LAMBDA = "local"


def function_name(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("AWS_LAMBDA_FUNCTION_NAME") or OUTSIDE_LAMBDA


class CertificateMetrics:
    def __init__(self, environ: Mapping[str, str] = os.environ):
        self._metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
        # Default dimensions survive each flush, unlike those added with add_dimension. Powertools
        # keeps them per process and warns when one is set again: set it once per container.
        dimension = {FUNCTION_DIMENSION: function_name(environ)}
        if self._metrics.default_dimensions != dimension:
            self._metrics.set_default_dimensions(**dimension)

    def days_remaining(self, days: float) -> None:
        self._metrics.add_metric(name=DAYS_REMAINING, unit=MetricUnit.Count, value=round(days, 2))

    def flush(self) -> None:
        self._metrics.flush_metrics(raise_on_empty_metrics=False)
