"""One structured JSON logger for the whole app (Powertools for AWS Lambda).

Log with keys (task_id, hostname, zone_id, ...) rather than formatted strings, so CloudWatch Logs
Insights can filter on them.
"""

import logging

from aws_lambda_powertools import Logger

logger = Logger(service="task-subdomains")

# botocore logs every request's parameters at DEBUG, and ours include private keys (the ACME
# account key to SSM, the certificate key to S3). Whatever level the root logger or Lambda's log
# level setting asks for, botocore's records stop at INFO.
logging.getLogger("botocore").setLevel(logging.INFO)
