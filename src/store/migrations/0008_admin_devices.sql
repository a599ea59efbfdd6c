-- Browsers an admin logged in from (a random id in a cookie; only its digest here): during a
-- flood of failed logins from many addresses, they keep logging in while unknown ones wait.
CREATE TABLE IF NOT EXISTS admin_devices (
    id_digest TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used TEXT NOT NULL
);
