// The SQLite store's relay side (checkpoints, leases, seek, dead letters, retention by count and by
// age, the hard limit, status and lag, Store::put) is checked by the store conformance suite,
// tests/integration/conformance (ctest -R 'conformance.*/sqlite'), the same way as every other
// store. Tests of what only SQLite does belong here.
