"""What runs inside a location's environment: the user's python, the user's dagster.

These modules import only the standard library and dagster, never dagster_fastdeploy: the host
runs `<environment python> <this dir>/code_server.py` so that a project never depends on us at
run time. See code_server.py for the protocol between the host and the process; the host's end
of that pipe is runtime/code_server_process.py.

Run that way, this directory is `sys.path[0]` and its modules are top-level modules, side by side
with the user's own packages. That is why every helper here carries the `_loader_` prefix: a user
module named `errors` or `fork` must never shadow ours, nor ours theirs.
"""
