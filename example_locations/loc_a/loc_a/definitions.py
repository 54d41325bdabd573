import dagster as dg
from shared_lib import orders


@dg.asset
def a_orders() -> int:
    return len(orders())


defs = dg.Definitions(assets=[a_orders])
