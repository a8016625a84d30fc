# Everything installs itself: a fresh Debian machine with Python 3.11 needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test deploy destroy test-ready test-faults bench bench-cold-start bench-burst bench-spread pebble clean

demo: $(STAMP) pebble
	$(BIN)/python -m embedded_stack.demo

test: $(STAMP) pebble
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The seed's flake shown and ended at full size: 200 tasks a mode behind a caching resolver
# (make test runs the same test with 50).
test-ready: $(STAMP) pebble
	PROOF_TASKS=200 $(BIN)/python -m pytest -q tests/test_ready_before_resolving.py

# Every AWS request of the four fault scenarios, with each of three faults, then the platform's
# recovery and the invariants (make test runs a sample); prints "N faulted runs, M divergences".
test-faults: $(STAMP) pebble
	FAULT_SWEEP=full $(BIN)/python -m pytest -q tests/test_fault_sweep.py

bench: $(STAMP) pebble
	$(BIN)/python bench/issuance.py

bench-cold-start: $(STAMP)
	$(BIN)/python bench/cold_start.py

# 1000 tasks start at once: per-event and buffered mode side by side, Route53 behind its token buckets.
bench-burst: $(STAMP)
	$(BIN)/python bench/burst.py

# 200 tasks arrive over 30 s, in real time: both modes side by side against their targets.
bench-spread: $(STAMP)
	$(BIN)/python bench/spread.py

# One stage of .chalice/config.json to AWS, everything in order (docs/deploying.md), then doctor:
#   make deploy STAGE=prod [CERTIFICATE_READERS=<task role ARNs, comma-separated>]
# The region is the stage's CLUSTER_ARN's; credentials the SDK's own (AWS_PROFILE, ...).
deploy: $(STAMP)
	@test -n "$(STAGE)" || { echo "make deploy: name the stage: make deploy STAGE=dev (a stage of .chalice/config.json)"; exit 2; }
	$(BIN)/python -m infra.deploy deploy --stage "$(STAGE)" $(if $(CERTIFICATE_READERS),--certificate-readers "$(CERTIFICATE_READERS)")

# Removes the stage's functions and supporting stack; keeps the certificate bucket and the ACME account.
destroy: $(STAMP)
	@test -n "$(STAGE)" || { echo "make destroy: name the stage: make destroy STAGE=dev"; exit 2; }
	$(BIN)/python -m infra.deploy destroy --stage "$(STAGE)"

# The last step installs the operator command `task-subdomains` (pyproject.toml) editable, so it
# runs this checkout's code; --no-deps because the requirements files pin everything it needs.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable .
	rm -f $(VENV)/.installed-* && touch $@

# Pebble, Let's Encrypt's test CA (Debian package), for the certificate tests and the demo.
pebble:
	@command -v pebble >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update && $$SUDO apt-get install -y pebble; }

clean:
	rm -rf $(VENV) .pytest_cache

# The per-function IAM policies (.chalice/policy-<stage>-<function>.json) and the CloudFormation
# merge templates (infra/chalice-merge-<stage>.json), regenerated from .chalice/config.json.
.PHONY: policies
policies: $(STAMP)
	$(BIN)/python -m infra
