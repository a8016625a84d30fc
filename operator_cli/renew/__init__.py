"""`renew`: a renewal run, invoked or here (runs.py), and what it says (render.py)."""
