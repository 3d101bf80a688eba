"""The warehouse store: several stations' signed logs replicated to one PostgreSQL server.

A station stays offline-first: its own SQLite log is the source of truth, and what the store
does not hold yet waits there (``queue``) until the next check or ``attest store sync`` pushes
it (``push``). The server believes no station: its ingest check (``server/``, PL/Python in the
database) stores a record only when it is in the station's chain and under a checkpoint signed
by the station's enrolled key (``enroll``), and triggers refuse every UPDATE and DELETE. What
the store gives back: earlier sightings of a serial at any station, for appraisal
(``history.StoreHistory``, a ``History``), the warehouse's intake (``report``), an audit of
every station's records against its signed checkpoints (``audit``), and one bundle spanning
stations for an auditor (``export``). ``commands`` is the CLI; the GUI uses the same functions
through its job thread. psycopg is imported only when a store is used.
"""
