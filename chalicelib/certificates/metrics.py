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

from chalicelib.shared.metrics import EmfMetrics

DAYS_REMAINING = "CertificateDaysRemaining"


class CertificateMetrics(EmfMetrics):
    def days_remaining(self, days: float) -> None:
        self.count(DAYS_REMAINING, round(days, 2))
