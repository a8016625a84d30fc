"""EC2 adapter: the public addresses of a task's network interface.

IAM: ec2:DescribeNetworkInterfaces (EC2 allows no resource scoping for Describe calls).
"""

from botocore.exceptions import ClientError

from chalicelib.task_records import TaskAddresses


class NetworkInterfaces:
    def __init__(self, client):
        self._client = client

    def public_addresses(self, network_interface_id: str) -> TaskAddresses | None:
        """The ENI's public IPv4 and its IPv6 addresses; None when the ENI no longer exists."""
        try:
            response = self._client.describe_network_interfaces(
                NetworkInterfaceIds=[network_interface_id]
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "InvalidNetworkInterfaceID.NotFound":
                return None
            raise
        interfaces = response.get("NetworkInterfaces", [])
        if not interfaces:
            return None
        interface = interfaces[0]
        public_ipv4 = interface.get("Association", {}).get("PublicIp")
        ipv6 = [entry["Ipv6Address"] for entry in interface.get("Ipv6Addresses", []) if entry.get("Ipv6Address")]
        return TaskAddresses(ipv4=(public_ipv4,) if public_ipv4 else (), ipv6=tuple(ipv6))
