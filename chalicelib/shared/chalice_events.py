"""Lets an @app.on_cw_event handler see malformed events instead of crashing on them.

Chalice builds a CloudWatchEvent from the raw payload before the handler runs, and raises
KeyError when a field such as `detail` is missing: Lambda would then retry a payload that can
never succeed. The lenient class keeps whatever is there; the handler validates `to_dict()`.
"""

from typing import Any

from chalice.app import CloudWatchEvent, EventSourceHandler


class LenientCloudWatchEvent(CloudWatchEvent):
    def _extract_attributes(self, event_dict: Any) -> None:
        fields = event_dict if isinstance(event_dict, dict) else {}
        self.version = fields.get("version")
        self.account = fields.get("account")
        self.region = fields.get("region")
        self.detail = fields.get("detail")
        self.detail_type = fields.get("detail-type")
        self.source = fields.get("source")
        self.time = fields.get("time")
        self.event_id = fields.get("id")
        self.resources = fields.get("resources")


def tolerate_malformed_events(handler: EventSourceHandler) -> None:
    handler.event_class = LenientCloudWatchEvent
