"""`renew`: a renewal run, invoked or here (runs.py); what it says while it runs, on a terminal
(progress.py); what it did to each certificate (outcomes.py), as text (render.py)."""
