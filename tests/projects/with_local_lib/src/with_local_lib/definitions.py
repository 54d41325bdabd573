import dagster as dg
from shared_lib import greeting


@dg.asset
def hello() -> str:
    return greeting("world")


defs = dg.Definitions(assets=[hello])
