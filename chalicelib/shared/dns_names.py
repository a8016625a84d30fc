"""DNS names as Route53 and the CA accept them. Pure functions.

Patterns are matched with fullmatch: `$` would also accept a trailing newline.
"""

import re

# RFC 1123 host label: letters, digits and hyphens, 1-63 characters, no hyphen at either end.
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def is_valid_label(label: str) -> bool:
    return bool(_LABEL.fullmatch(label))


def is_valid_dns_name(name: str) -> bool:
    return len(name) <= 253 and all(is_valid_label(label) for label in name.split("."))
