import dagster as dg
import pandas as pd

from example_project.resources import WarehouseResource


@dg.asset(group_name="ingest", kinds={"pandas"})
def raw_orders() -> pd.DataFrame:
    return pd.DataFrame(
        {"order_id": [1, 2, 3, 4], "customer": ["a", "b", "a", "c"], "amount": [10.0, 5.5, 7.25, 3.0]}
    )


@dg.asset(group_name="ingest", kinds={"pandas"})
def raw_customers() -> pd.DataFrame:
    return pd.DataFrame({"customer": ["a", "b", "c"], "region": ["eu", "us", "eu"]})


@dg.asset(group_name="analytics", kinds={"pandas"})
def orders_by_region(
    raw_orders: pd.DataFrame, raw_customers: pd.DataFrame, warehouse: WarehouseResource
) -> pd.DataFrame:
    joined = raw_orders.merge(raw_customers, on="customer")
    result = joined.groupby("region", as_index=False)["amount"].sum()
    dg.get_dagster_logger().info("writing %s", warehouse.table_name("orders_by_region"))
    return result


@dg.asset_check(asset=raw_orders)
def orders_have_positive_amounts(raw_orders: pd.DataFrame) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=bool((raw_orders["amount"] > 0).all()))
