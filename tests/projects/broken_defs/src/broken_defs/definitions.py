import dagster as dg


@dg.asset
def numbers() -> list:
    return [1, 2, 3]


def lookup_table() -> dict:
    return {"numbers": numbers}["totals"]


defs = dg.Definitions(assets=[numbers], metadata={"table": lookup_table()})
