"""What runs inside a location's environment: the user's python, the user's dagster.

These modules import only the standard library and dagster, never dagster_fastdeploy: the host
runs `<environment python> <this dir>/code_server.py` so that a project never depends on us at
run time. See code_server.py for the protocol between the host and the process.
"""
