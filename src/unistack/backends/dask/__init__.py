"""The Dask engine: plans become ``dask.dataframe`` graphs run locally or on a Dask cluster."""

from unistack.backends.dask.engine import DaskEngine

__all__ = ["DaskEngine"]
