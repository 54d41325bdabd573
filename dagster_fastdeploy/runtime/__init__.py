"""The warm host: environments, code-server processes, stable endpoints, control API, rollout
and reconcile. The host process never imports dagster or user code; it talks to code servers
over gRPC and forwards Dagster's API as raw bytes."""
