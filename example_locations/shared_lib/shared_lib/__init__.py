"""Code both locations use: a local library, shipped inside each location's source.pex."""

import pandas as pd


def orders() -> pd.DataFrame:
    return pd.DataFrame({"region": ["eu", "us", "eu"], "amount": [10, 20, 5]})
