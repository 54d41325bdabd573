import dagster as dg
import pandas as pd


@dg.asset
def frame() -> pd.DataFrame:
    return pd.DataFrame({"a": [1, 2]})


defs = dg.Definitions(assets=[frame])
