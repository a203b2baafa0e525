"""Small helpers every layer may use: reading tables, atomic writes, UTC times, did-you-mean
messages and the kill points of the crash tests. Nothing here knows about models or policies."""
