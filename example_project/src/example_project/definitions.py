import dagster as dg

from example_project.assets import (
    orders_by_region,
    orders_have_positive_amounts,
    raw_customers,
    raw_orders,
)
from example_project.resources import WarehouseResource

daily_refresh = dg.define_asset_job("daily_refresh", selection=dg.AssetSelection.all())

daily_schedule = dg.ScheduleDefinition(job=daily_refresh, cron_schedule="0 6 * * *")


@dg.sensor(job=daily_refresh, minimum_interval_seconds=60)
def new_orders_sensor(context: dg.SensorEvaluationContext):
    if context.cursor == "seen":
        return dg.SkipReason("no new orders")
    context.update_cursor("seen")
    return dg.RunRequest(run_key="first")


defs = dg.Definitions(
    assets=[raw_orders, raw_customers, orders_by_region],
    asset_checks=[orders_have_positive_amounts],
    jobs=[daily_refresh],
    schedules=[daily_schedule],
    sensors=[new_orders_sensor],
    resources={"warehouse": WarehouseResource()},
)
