"""task-subdomains: per-task DNS records and wildcard certificates for ECS Fargate."""
