import dagster as dg
from shared_lib import orders


@dg.asset
def b_revenue() -> int:
    return int(orders()["amount"].sum())


defs = dg.Definitions(assets=[b_revenue])
