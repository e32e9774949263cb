"""Application services (application-service-api.md): bridges and bots registered by a
file each, with exclusive user and alias namespaces and a transaction stream each."""
