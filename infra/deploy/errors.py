"""How a deploy or destroy stops: before changing anything, or part way (a rerun picks up)."""


class CannotStart(Exception):
    """Nothing was changed: the configuration or the credentials will not do."""


class StepFailed(Exception):
    """A step failed after others may have changed things; a rerun picks up from where it is."""
