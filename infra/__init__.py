"""Deployment artefacts derived from .chalice/config.json: per-function IAM policies and the
CloudFormation merge templates. `python -m infra` regenerates them (`make policies`)."""
