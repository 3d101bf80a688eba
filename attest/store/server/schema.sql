-- The warehouse store's schema, version 1 (attest store init). Run by a superuser in one
-- transaction; every statement is idempotent, so init on a current store changes nothing.
--
-- Roles (cluster-wide, NOLOGIN groups):
--   attest_owner    owns the schema, its tables and the ingest trigger; nobody logs in as it
--   attest_station  each enrolled station's own login role is a member: SELECT on everything,
--                   INSERT on attest.pushes only, and only rows naming its own role (RLS)
--   attest_admin    warehouse administrators: may enrol stations (INSERT on attest.stations)
-- Nothing grants UPDATE, DELETE or TRUNCATE, and triggers refuse them even to the owner.

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_owner') THEN
        CREATE ROLE attest_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_station') THEN
        CREATE ROLE attest_station NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'attest_admin') THEN
        CREATE ROLE attest_admin NOLOGIN;
    END IF;
END
$roles$;

CREATE EXTENSION IF NOT EXISTS plpython3u;
CREATE SCHEMA IF NOT EXISTS attest AUTHORIZATION attest_owner;
REVOKE ALL ON SCHEMA attest FROM PUBLIC;
GRANT USAGE ON SCHEMA attest TO attest_station, attest_admin;
SET LOCAL search_path = attest, pg_catalog;

CREATE TABLE IF NOT EXISTS attest.schema_versions (
    version integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now(),
    applied_by name NOT NULL DEFAULT session_user,
    tool_version text NOT NULL
);
CREATE TABLE IF NOT EXISTS attest.meta (
    key text PRIMARY KEY,
    value text NOT NULL
);
CREATE TABLE IF NOT EXISTS attest.stations (
    station text PRIMARY KEY CHECK (station ~ '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$'),
    role name NOT NULL UNIQUE,
    public_key bytea NOT NULL CHECK (length(public_key) = 32),
    public_pem text NOT NULL,
    fingerprint text NOT NULL UNIQUE CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    enrolled_at timestamptz NOT NULL DEFAULT now(),
    enrolled_by name NOT NULL DEFAULT session_user
);
-- One row per push: the station's input columns (records, right_nodes) are emptied by the
-- ingest trigger, which fills in the outcome; refused pushes stay, as the report of them.
CREATE TABLE IF NOT EXISTS attest.pushes (
    id bigserial PRIMARY KEY,
    role name NOT NULL DEFAULT current_user,
    station text,
    first_index bigint NOT NULL,
    records bytea[],
    right_nodes bytea[],
    checkpoint text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    outcome text CHECK (outcome IN ('accepted', 'refused')),
    code text,
    message text,
    accepted integer,
    tree_size bigint,
    root bytea,
    head bigint,
    frontier bytea[]
);
CREATE INDEX IF NOT EXISTS pushes_head ON attest.pushes (station, id) WHERE outcome = 'accepted';
CREATE TABLE IF NOT EXISTS attest.records (
    station text NOT NULL REFERENCES attest.stations (station),
    idx bigint NOT NULL,
    leaf_hash bytea NOT NULL,
    data bytea NOT NULL,
    push_id bigint NOT NULL,  -- the push that brought it (its row is written after its records)
    time timestamptz NOT NULL,
    serial text,
    verdict text,
    batch text,
    address text,
    identity_sha256 text,
    reasons text[],
    PRIMARY KEY (station, idx)
);
-- The record's hash is its key: the same record can never be stored twice, under any index.
CREATE UNIQUE INDEX IF NOT EXISTS records_leaf ON attest.records (leaf_hash);
-- One appraisal's lookup: a serial's newest records at every station.
CREATE INDEX IF NOT EXISTS records_serial ON attest.records (serial, time DESC) WHERE serial IS NOT NULL;
CREATE INDEX IF NOT EXISTS records_time ON attest.records (time);

ALTER TABLE attest.schema_versions OWNER TO attest_owner;
ALTER TABLE attest.meta OWNER TO attest_owner;
ALTER TABLE attest.stations OWNER TO attest_owner;
ALTER TABLE attest.pushes OWNER TO attest_owner;
ALTER TABLE attest.records OWNER TO attest_owner;

CREATE OR REPLACE FUNCTION attest.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'the Rig Attest warehouse store is append-only: % on attest.% refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;
ALTER FUNCTION attest.refuse_change() OWNER TO attest_owner;

DO $triggers$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['schema_versions', 'meta', 'stations', 'pushes', 'records'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = t || '_append_only'
                       AND tgrelid = ('attest.' || t)::regclass) THEN
            EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON attest.%I '
                           'FOR EACH ROW EXECUTE FUNCTION attest.refuse_change()', t || '_append_only', t);
            EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON attest.%I '
                           'FOR EACH STATEMENT EXECUTE FUNCTION attest.refuse_change()', t || '_no_truncate', t);
        END IF;
    END LOOP;
END
$triggers$;

-- The ingest check (attest/store/server/ingest.py), as the schema owner: a station's INSERT
-- into attest.pushes runs it, and only it writes attest.records.
CREATE OR REPLACE FUNCTION attest.ingest_push() RETURNS trigger LANGUAGE plpython3u SECURITY DEFINER
SET search_path = attest, pg_catalog AS $ingest$
{INGEST_PY}
return handle(plpy, TD, SD)
$ingest$;
ALTER FUNCTION attest.ingest_push() OWNER TO attest_owner;
REVOKE ALL ON FUNCTION attest.ingest_push() FROM PUBLIC;

-- The server's Python can check what the ingest needs (Ed25519 from python3-cryptography).
CREATE OR REPLACE FUNCTION attest.server_check() RETURNS text LANGUAGE plpython3u AS $check$
import sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
key = Ed25519PrivateKey.generate()
key.public_key().verify(key.sign(b"rig attest"), b"rig attest")
import cryptography
return "python %d.%d, cryptography %s" % (sys.version_info[0], sys.version_info[1], cryptography.__version__)
$check$;
ALTER FUNCTION attest.server_check() OWNER TO attest_owner;

DO $trigger$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'pushes_ingest' AND tgrelid = 'attest.pushes'::regclass) THEN
        CREATE TRIGGER pushes_ingest BEFORE INSERT ON attest.pushes
            FOR EACH ROW EXECUTE FUNCTION attest.ingest_push();
    END IF;
END
$trigger$;

ALTER TABLE attest.pushes ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS pushes_read ON attest.pushes;
CREATE POLICY pushes_read ON attest.pushes FOR SELECT USING (true);
DROP POLICY IF EXISTS pushes_own_role ON attest.pushes;
CREATE POLICY pushes_own_role ON attest.pushes FOR INSERT WITH CHECK (role = current_user);

REVOKE ALL ON ALL TABLES IN SCHEMA attest FROM PUBLIC, attest_station, attest_admin;
GRANT SELECT ON attest.schema_versions, attest.meta, attest.stations, attest.pushes, attest.records
    TO attest_station, attest_admin;
GRANT INSERT (station, first_index, records, right_nodes, checkpoint) ON attest.pushes TO attest_station;
GRANT USAGE ON SEQUENCE attest.pushes_id_seq TO attest_station;
GRANT INSERT (station, role, public_key, public_pem, fingerprint) ON attest.stations TO attest_admin;
GRANT EXECUTE ON FUNCTION attest.server_check() TO attest_station, attest_admin;
