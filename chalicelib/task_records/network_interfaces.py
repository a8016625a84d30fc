"""EC2 adapter: the public addresses of a task's network interface.

IAM: ec2:DescribeNetworkInterfaces (EC2 allows no resource scoping for Describe calls).
"""

from collections.abc import Iterable, Mapping

from chalicelib.task_records.tasks import TaskAddresses

# A filter takes at most 200 values; a filter (unlike NetworkInterfaceIds) does not fail the
# whole call when one interface is already gone.
FILTER_VALUES_LIMIT = 200


class NetworkInterfaces:
    def __init__(self, client):
        self._client = client

    def public_addresses_of(self, network_interface_ids: Iterable[str]) -> dict[str, TaskAddresses]:
        """Addresses of the interfaces that still exist, by interface id."""
        ids = sorted(set(network_interface_ids))
        found: dict[str, TaskAddresses] = {}
        paginator = self._client.get_paginator("describe_network_interfaces")
        for start in range(0, len(ids), FILTER_VALUES_LIMIT):
            chunk = ids[start:start + FILTER_VALUES_LIMIT]
            for page in paginator.paginate(Filters=[{"Name": "network-interface-id", "Values": chunk}]):
                for interface in page.get("NetworkInterfaces", []):
                    found[interface["NetworkInterfaceId"]] = addresses_of(interface)
        return found


def addresses_of(interface: Mapping) -> TaskAddresses:
    public_ipv4 = interface.get("Association", {}).get("PublicIp")
    ipv6 = [entry["Ipv6Address"] for entry in interface.get("Ipv6Addresses", []) if entry.get("Ipv6Address")]
    return TaskAddresses(ipv4=(public_ipv4,) if public_ipv4 else (), ipv6=tuple(ipv6))
