"""`status`: the report (status.py) of each certificate (certificate_status.py, with the CA's
renewal information: renewal_information.py) and of the task records (task_status.py), as text
(render.py)."""
