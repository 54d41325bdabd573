"""Runs inside a virtualenv with dagster-cloud (never ours: it pins pex below 2.60). Starts each
location's pex pair through dagster-cloud's own MultiPexManager, as a Dagster+ agent does with
S3 downloads disabled, then answers one JSON line: per location, the ping echo, the asset keys
the code server serves, and whether dagster_cloud.instance imports in its environment.

usage: python run_in_multipex.py '{"pex_dir": ..., "deadline": s, "locations": [...]}'
"""

import json
import subprocess
import sys
import time

from dagster import DagsterInstance
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
from dagster._utils.error import SerializableErrorInfo
from dagster_cloud.pex.grpc.server.manager import MultiPexManager
from dagster_cloud.pex.grpc.types import PexServerHandle
from dagster_cloud_cli.core.pex_builder.util import build_pex_tag
from dagster_cloud_cli.core.workspace import CodeLocationDeployData, PexMetadata


def main() -> None:
    args = json.loads(sys.argv[1])
    report = {}
    with MultiPexManager(local_pex_files_dir=args["pex_dir"], watchdog_run_interval=None) as mgr:
        started = {}
        for loc in args["locations"]:
            handle = PexServerHandle("prod", loc["name"], 1)
            metadata = PexMetadata(pex_tag=loc["pex_tag"], python_version="3.11")
            data = CodeLocationDeployData(
                pex_metadata=metadata, working_directory=".", **loc["target"]
            )
            mgr.create_pex_server(handle, data, instance_ref=None)
            started[loc["name"]] = (handle, metadata)
        deadline = time.monotonic() + args["deadline"]
        for name, (handle, metadata) in started.items():
            report[name] = wait_and_inspect(mgr, handle, metadata, name, deadline)
            report[name]["their_tag"] = build_pex_tag(metadata.pex_tag[6:].split(":"))
    print(json.dumps(report))


def wait_and_inspect(mgr, handle, metadata, name, deadline):
    while True:
        client = mgr.get_pex_grpc_client_or_error(handle)
        if isinstance(client, SerializableErrorInfo):
            if "still starting up" not in client.message or time.monotonic() > deadline:
                return {"error": client.to_string()}
        else:
            try:
                echo = client.ping("fastdeploy")["echo"]
                break
            except Exception as e:  # not listening yet
                if time.monotonic() > deadline:
                    return {"error": repr(e)}
        time.sleep(0.2)
    origin = GrpcServerCodeLocationOrigin(
        host="localhost", socket=client.socket, location_name=name
    )
    with DagsterInstance.ephemeral() as instance, origin.create_location(instance) as location:
        keys = sorted(
            node.asset_key.to_user_string()
            for repo in location.get_repositories().values()
            for node in repo.get_asset_node_snaps()
        )
    executable = mgr._registry.get_pex_executable(metadata)
    imports = subprocess.run(
        [executable.source_path, "-c", "import dagster_cloud.instance"],
        env={**executable.environ},
        capture_output=True,
        text=True,
    )
    return {
        "ping": echo,
        "asset_keys": keys,
        "working_directory": executable.working_directory,
        "dagster_cloud_instance": imports.returncode == 0 or imports.stderr[-500:],
    }


if __name__ == "__main__":
    main()
