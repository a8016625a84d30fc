"""`doctor`: the set-up checks (doctor.py runs them in groups), each group's reader and pure checks
(zones, caa and ca_identity, negative_caching, zone_capacity, storage_checks, deployment_checks),
and what a check is and how it prints (checks.py)."""
