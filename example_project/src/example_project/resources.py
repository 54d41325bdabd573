import dagster as dg


class WarehouseResource(dg.ConfigurableResource):
    """Where the example writes its tables; a dict stands in for a real warehouse."""

    schema_name: str = "analytics"

    def table_name(self, name: str) -> str:
        return f"{self.schema_name}.{name}"
