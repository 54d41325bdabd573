import dagster as dg
import pandas as pd

from helpers import double


@dg.asset
def doubled() -> pd.DataFrame:
    return pd.DataFrame({"a": [double(1)]})


defs = dg.Definitions(assets=[doubled])
