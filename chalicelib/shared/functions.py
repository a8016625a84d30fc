"""The names of the Lambda functions app.py registers, and of the variables that choose them.

Defined once, here: app.py registers the functions under these names, infra/ derives each one's
policy and resources from them, and the operator command finds them by them. The names are part
of the contract (docs/contract.md): alarms, log groups and users' own tooling refer to them.
"""

# Task events reach one of two functions, by the stage's mode: update_task_dns, one event at a
# time from the stage's EventBridge rule (per-event mode), or, when the stage sets
# TASK_EVENTS_QUEUE_ARN, process_task_events, batches of them from that SQS queue (buffered mode).
UPDATE_TASK_DNS = "update_task_dns"
PROCESS_TASK_EVENTS = "process_task_events"
RECONCILE_TASK_DNS = "reconcile_task_dns"
# When the stage sets HOSTNAME_EVENTS_QUEUE_ARN: readiness checks from the three writers above,
# turned into "Task Hostname Ready" / "Task Hostname Removed" events once Route53 is in sync.
ANNOUNCE_HOSTNAMES = "announce_hostnames"
RENEW_CERTIFICATES = "renew_certificates"

# The functions that write task records.
TASK_RECORD_WRITERS = (UPDATE_TASK_DNS, PROCESS_TASK_EVENTS, RECONCILE_TASK_DNS)

TASK_EVENTS_QUEUE_VARIABLE = "TASK_EVENTS_QUEUE_ARN"
HOSTNAME_EVENTS_QUEUE_VARIABLE = "HOSTNAME_EVENTS_QUEUE_ARN"
EVENT_BUS_VARIABLE = "EVENT_BUS_NAME"
