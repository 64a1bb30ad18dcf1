"""Store implementations behind small interfaces: storage, Iceberg catalog, platform state."""
