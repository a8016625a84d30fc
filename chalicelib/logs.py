"""One structured JSON logger for the whole app (Powertools for AWS Lambda).

Log with keys (task_id, hostname, zone_id, ...) rather than formatted strings, so CloudWatch Logs
Insights can filter on them.
"""

from aws_lambda_powertools import Logger

logger = Logger(service="task-subdomains")
