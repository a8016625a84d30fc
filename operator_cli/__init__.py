"""`task-subdomains`: the operator's command (status, doctor, renew, reconcile).

Not part of the Lambda package: chalice packages app.py and chalicelib/ only. Every decision the
command reports is made by the app's own code (settings, renewal rule, record ownership,
reconcile plan, the Route53 compare-and-swap loop) or by a pure function here; the modules that
talk to AWS are thin and take their clients from the caller.
"""
