"""What every function's configuration shares: the error that names a variable, and how to read one.

Configuration is read at first use, not at import, so a misconfigured stage fails with an error
that names the variable instead of a stack trace from somewhere deeper. The variable names are
the contract of docs/contract.md.
"""

import re
from collections.abc import Mapping

ZONE_ID = re.compile(r"[A-Z0-9]{1,32}")


class ConfigurationError(ValueError):
    """A configuration variable is missing or invalid; the message names it."""


def required_variable(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set; see README 'Configure'")
    return value
