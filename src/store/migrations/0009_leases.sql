-- Work that several machines sharing the database must do once per interval, not once per
-- machine (history pruning): the machine that takes the lease does it, until `until`.
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until TEXT NOT NULL
);
