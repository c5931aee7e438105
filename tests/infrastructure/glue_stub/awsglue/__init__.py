"""A stand-in for the Glue runtime's `awsglue` package, for tests only (see ../README.md)."""
