"""`make deploy STAGE=<stage>` and `make destroy STAGE=<stage>`: a stage from .chalice/config.json to
AWS and back, in one command each (docs/deploying.md "How make deploy keeps its state").
"""
