"""CloudWatch metrics in Embedded Metric Format (Powertools): printed to the log, no API call.

Every metric of the app: namespace TaskSubdomains, dimensions service=task-subdomains and
FunctionName=<the function's name>. FunctionName tells the stages apart: dev and prod may run in
one account, and with the service dimension alone prod's alarms (their missing-data checks
included) would be fed by dev's runs. Lambda sets the name (task-subdomains-<stage>-<function>),
so no configuration can get it wrong. The alarms in infra/ read exactly these.
"""

import os
from collections.abc import Mapping

from aws_lambda_powertools.metrics import Metrics, MetricUnit

NAMESPACE = "TaskSubdomains"
SERVICE = "task-subdomains"
FUNCTION_DIMENSION = "FunctionName"
# Outside Lambda (tests, a local run) there is no function name; nothing ingests those metrics.
OUTSIDE_LAMBDA = "local"


def function_name(environ: Mapping[str, str] = os.environ) -> str:
    return environ.get("AWS_LAMBDA_FUNCTION_NAME") or OUTSIDE_LAMBDA


class EmfMetrics:
    def __init__(self, environ: Mapping[str, str] = os.environ):
        self._metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
        # Default dimensions survive each flush, unlike those added with add_dimension. Powertools
        # keeps them per process and warns when one is set again: set it once per container.
        dimension = {FUNCTION_DIMENSION: function_name(environ)}
        if self._metrics.default_dimensions != dimension:
            self._metrics.set_default_dimensions(**dimension)

    def count(self, name: str, value: float) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def flush(self) -> None:
        self._metrics.flush_metrics(raise_on_empty_metrics=False)
