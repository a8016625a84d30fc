"""`wait`: the loop (wait.py), the task's addresses (task_lookup.py), the zone's name servers asked
directly (name_servers.py), and whether their answers make the name ready (readiness.py, pure)."""
