"""Analytics over the lakehouse: the shared Athena SQL, a local query engine and the dashboard."""
