"""`task-subdomains`: the operator's command (status, doctor, renew, reconcile, wait).

Not part of the Lambda package: chalice packages app.py and chalicelib/ only. Every decision the
command reports is made by the app's own code (settings, renewal rule, record ownership,
reconcile plan, the Route53 compare-and-swap loop) or by a pure function here; the modules that
talk to AWS are thin and take their clients from the caller.

The layout shows the commands: cli.py holds every click command; a command with several modules
has a subpackage (doctor/, status/, renew/, wait/), reconcile one module. What several commands
share stays here: errors.py (the one place errors become exit codes), aws_settings.py (region
and credentials), configuration.py (--stage and the environment), invoke.py (the deployed
functions, invoked). A command's subpackage imports no other command's
(tests/test_import_boundaries.py).
"""
