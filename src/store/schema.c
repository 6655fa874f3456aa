/* The schema and its forward migrations.  Each migration is applied in its
 * own transaction and recorded in schema_version; a database newer than
 * this program is refused rather than misread. */
#include "store-int.h"

/* Version 1: the contacts directory (SPEC §1) plus the tables a contact
 * can be linked to (documents, history, events), so that deletion can be
 * refused while links exist. */
static const char *const v1 =
    "CREATE TABLE contact_type ("
    "  id INTEGER PRIMARY KEY,"
    "  code TEXT UNIQUE,"
    "  label TEXT NOT NULL);"
    "CREATE TABLE party ("
    "  id INTEGER PRIMARY KEY,"
    "  ref TEXT NOT NULL UNIQUE,"
    "  kind TEXT NOT NULL CHECK (kind IN ('client','supplier','company','introducer','claim')),"
    "  name TEXT NOT NULL,"
    "  civility TEXT, first_name TEXT, last_name TEXT, email TEXT, phones TEXT,"
    "  locale TEXT NOT NULL DEFAULT 'fr',"
    "  client_ref TEXT);"
    "CREATE TABLE address ("
    "  id INTEGER PRIMARY KEY,"
    "  party_id INTEGER NOT NULL REFERENCES party(id),"
    "  label TEXT NOT NULL,"
    "  lines TEXT, postcode TEXT, city TEXT, country TEXT,"
    "  contact_name TEXT, contact_email TEXT, contact_phone TEXT,"
    "  UNIQUE (party_id, label));"
    "CREATE TABLE contact ("
    "  id INTEGER PRIMARY KEY,"
    "  party_id INTEGER NOT NULL REFERENCES party(id),"
    "  type_id INTEGER REFERENCES contact_type(id),"
    "  site_id INTEGER REFERENCES address(id),"
    "  civility TEXT, last_name TEXT, first_name TEXT, company TEXT, department TEXT,"
    "  function TEXT, email TEXT, phones TEXT, fax TEXT, address TEXT, postcode TEXT,"
    "  city TEXT, country TEXT, website TEXT, note TEXT, locale TEXT,"
    "  display_order INTEGER NOT NULL DEFAULT 1,"
    "  valid_from TEXT, valid_until TEXT,"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  consents INTEGER NOT NULL DEFAULT 0,"
    "  CHECK (last_name IS NOT NULL OR company IS NOT NULL));"
    "CREATE INDEX contact_party ON contact(party_id, display_order, id);"
    /* folded text searched by `contacts list --search`, 64 contacts a row
     * (store/search.c) so the scan reads few, large rows */
    "CREATE TABLE search_block ("
    "  id INTEGER PRIMARY KEY,"
    "  text BLOB NOT NULL);"
    "CREATE TABLE document ("
    "  id INTEGER PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  party_id INTEGER NOT NULL REFERENCES party(id),"
    "  contact_id INTEGER REFERENCES contact(id),"
    "  address_id INTEGER REFERENCES address(id),"
    "  to_level TEXT NOT NULL DEFAULT 'contacts',"
    "  esign INTEGER NOT NULL DEFAULT 0,"
    "  fields TEXT NOT NULL DEFAULT '{}',"
    "  attachment TEXT,"
    "  imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')),"
    "  UNIQUE (type, ref));"
    "CREATE INDEX document_contact ON document(contact_id);"
    "CREATE TABLE event ("
    "  id INTEGER PRIMARY KEY,"
    "  contact_id INTEGER REFERENCES contact(id),"
    "  at TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  note TEXT);"
    "CREATE INDEX event_contact ON event(contact_id);"
    "CREATE TABLE history ("
    "  id INTEGER PRIMARY KEY,"
    "  at TEXT NOT NULL,"
    "  event TEXT NOT NULL,"
    "  channel TEXT, address TEXT,"
    "  contact_id INTEGER,"
    "  party_ref TEXT, document_ref TEXT, document_type TEXT, campaign TEXT,"
    "  template TEXT, template_sha256 TEXT, message_id TEXT, reason TEXT,"
    "  server_reply TEXT, consent TEXT,"
    "  hash TEXT NOT NULL);"
    "CREATE INDEX history_contact ON history(contact_id);"
    "CREATE TRIGGER history_no_update BEFORE UPDATE ON history"
    "  BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;"
    "CREATE TRIGGER history_no_delete BEFORE DELETE ON history"
    "  BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;";

/* Version 2: the nightly run.  A document is processed once (processed_at);
 * each (document or campaign, channel, address) gets at most one delivery,
 * ever, whose state follows the spool: queued -> sent | deferred | failed. */
static const char *const v2 =
    "ALTER TABLE document ADD COLUMN processed_at TEXT;"
    "CREATE INDEX document_new ON document(processed_at, type);"
    "CREATE TABLE delivery ("
    "  id INTEGER PRIMARY KEY,"
    /* 0 and '' rather than NULL: NULLs would never collide in UNIQUE */
    "  document_id INTEGER NOT NULL DEFAULT 0,"
    "  campaign TEXT NOT NULL DEFAULT '',"
    "  contact_id INTEGER,"
    "  channel TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('queued','sent','deferred','failed')),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  template TEXT, template_sha256 TEXT, consent TEXT,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (document_id, campaign, channel, address));"
    "CREATE INDEX delivery_state ON delivery(state);"
    "CREATE INDEX delivery_contact ON delivery(contact_id);"
    "CREATE INDEX delivery_message ON delivery(message_id);";

/* Version 3: campaigns.  A campaign's recipients are frozen at launch
 * (campaign_recipient: one row per candidate, reason NULL for a recipient,
 * with its unsubscribe token); the suppression list holds unsubscribed
 * addresses. */
static const char *const v3 =
    "CREATE TABLE campaign ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  template TEXT NOT NULL,"
    "  channel TEXT NOT NULL CHECK (channel IN ('email','sms')),"
    "  purpose TEXT NOT NULL CHECK (purpose IN ('service','commercial','partner')),"
    "  selection TEXT NOT NULL DEFAULT '{}',"
    "  state TEXT NOT NULL DEFAULT 'draft' CHECK (state IN"
    "    ('draft','scheduled','running','paused','done','cancelled')),"
    "  scheduled_at TEXT,"
    "  frozen_at TEXT,"
    "  created_at TEXT NOT NULL);"
    "CREATE TABLE campaign_recipient ("
    "  campaign_id INTEGER NOT NULL REFERENCES campaign(id),"
    "  seq INTEGER NOT NULL,"
    "  contact_id INTEGER,"
    "  address TEXT NOT NULL DEFAULT '',"
    "  reason TEXT,"
    "  token TEXT,"
    "  PRIMARY KEY (campaign_id, seq));"
    "CREATE UNIQUE INDEX campaign_token ON campaign_recipient(token);"
    "CREATE TABLE suppression ("
    "  address TEXT PRIMARY KEY COLLATE NOCASE,"
    "  at TEXT NOT NULL,"
    "  source TEXT NOT NULL);"
    "CREATE INDEX delivery_campaign ON delivery(campaign, state);";

/* Version 4: compliance.  History rows say who acted, the rendered
 * message's SHA-256 and the provider's id; a purge removes old rows and
 * keeps the chain verifiable from its anchor (the last removed row's id
 * and hash). */
static const char *const v4 =
    "ALTER TABLE history ADD COLUMN operator TEXT;"
    "ALTER TABLE history ADD COLUMN message_sha256 TEXT;"
    "ALTER TABLE history ADD COLUMN provider_id TEXT;"
    "CREATE TABLE history_anchor ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  last_id INTEGER NOT NULL,"
    "  last_hash TEXT NOT NULL,"
    "  purged_at TEXT NOT NULL);";

/* Version 5: the asset-freeze register.  The last loaded file is kept
 * whole (it is read again to check a contact on save); a contact that
 * matches carries the match until an operator clears it. */
static const char *const v5 =
    "CREATE TABLE registry ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  source TEXT NOT NULL, published TEXT, entries INTEGER NOT NULL,"
    "  loaded_at TEXT NOT NULL, content BLOB NOT NULL);"
    "ALTER TABLE contact ADD COLUMN registry_match TEXT;"
    "ALTER TABLE contact ADD COLUMN registry_cleared TEXT;"
    "CREATE INDEX contact_registry ON contact(registry_match) WHERE registry_match IS NOT NULL;";

/* Version 6: merged contacts.  The duplicate goes; its history rows keep
 * its id, and the kept contact's history includes them through this. */
static const char *const v6 =
    "CREATE TABLE contact_merge ("
    "  dup_id INTEGER PRIMARY KEY,"
    "  keep_id INTEGER NOT NULL REFERENCES contact(id),"
    "  merged_at TEXT NOT NULL);"
    "CREATE INDEX contact_merge_keep ON contact_merge(keep_id);";

/* Version 7: no index on delivery(message_id).  Message-IDs are hashes,
 * so each insert landed on a random page of that index: at 200,000
 * messages a run spent a third of its time writing it back.  The spool and
 * the journal name deliveries by id instead. */
static const char *const v7 = "DROP INDEX IF EXISTS delivery_message;";

/* Version 8: delivery's state CHECK as comparisons.  SQLite evaluates
 * "state IN (four values)" by building a temporary b-tree of the list at
 * every INSERT and UPDATE of a delivery: a quarter of their cost.  A
 * CHECK cannot be altered: the table is copied (ids kept). */
static const char *const v8 =
    "CREATE TABLE delivery_v8 ("
    "  id INTEGER PRIMARY KEY,"
    "  document_id INTEGER NOT NULL DEFAULT 0,"
    "  campaign TEXT NOT NULL DEFAULT '',"
    "  contact_id INTEGER,"
    "  channel TEXT NOT NULL,"
    "  address TEXT NOT NULL,"
    "  message_id TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state = 'queued' OR state = 'sent' OR state = 'deferred'"
    "                             OR state = 'failed'),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  template TEXT, template_sha256 TEXT, consent TEXT,"
    "  updated_at TEXT NOT NULL,"
    "  UNIQUE (document_id, campaign, channel, address));"
    "INSERT INTO delivery_v8 SELECT id, document_id, campaign, contact_id, channel, address,"
    "  message_id, state, attempts, template, template_sha256, consent, updated_at FROM delivery;"
    "DROP TABLE delivery;"
    "ALTER TABLE delivery_v8 RENAME TO delivery;"
    "CREATE INDEX delivery_state ON delivery(state);"
    "CREATE INDEX delivery_contact ON delivery(contact_id);"
    "CREATE INDEX delivery_campaign ON delivery(campaign, state);";

/* Version 9: the pending deliveries' index holds only them.  An index on
 * state over every delivery grew with the whole history, took an insert
 * per message and a delete and an insert per outcome, and did not serve
 * the dispatcher, which walked the table by id from its start (through
 * every delivery ever sent) to find the queued ones: now it seeks them.
 * The campaigns' index leaves out the nightly run's deliveries (campaign
 * ''), which it never served and which cost it the same work. */
static const char *const v9 =
    "DROP INDEX IF EXISTS delivery_state;"
    "CREATE INDEX delivery_pending ON delivery(channel, id)"
    "  WHERE state = 'queued' OR state = 'deferred';"
    "DROP INDEX IF EXISTS delivery_campaign;"
    "CREATE INDEX delivery_campaign ON delivery(campaign, state) WHERE campaign <> '';";

/* Version 10: the failed deliveries of documents, which `retry` sends
 * again and `run` counts at its end: a seek among them alone, not a scan
 * of every delivery ever made.  A failed delivery keeps the reason of its
 * failure (`retry --reason` reads it there, not in the history). */
static const char *const v10 =
    "CREATE INDEX delivery_failed ON delivery(document_id)"
    "  WHERE state = 'failed' AND campaign = '';"
    "ALTER TABLE delivery ADD COLUMN reason TEXT;"
    "UPDATE delivery SET reason = (SELECT h.reason FROM history h JOIN document d"
    "  ON h.document_type = d.type AND h.document_ref = d.ref"
    "  WHERE d.id = delivery.document_id AND h.channel = delivery.channel"
    "  AND h.address = delivery.address AND h.event = 'failed' ORDER BY h.id DESC LIMIT 1)"
    "  WHERE state = 'failed' AND campaign = '';";

/* Version 11: contact ids are never given twice.  Without AUTOINCREMENT
 * SQLite gave a new contact the id of the highest one deleted, and with it
 * that contact's history rows (kept by id).  The table is copied (ids
 * kept, foreign keys off meanwhile: store_migrate); the sequence starts
 * past every id ever seen, the deleted contacts' included. */
static const char *const v11 =
    "CREATE TABLE contact_v11 ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  party_id INTEGER NOT NULL REFERENCES party(id),"
    "  type_id INTEGER REFERENCES contact_type(id),"
    "  site_id INTEGER REFERENCES address(id),"
    "  civility TEXT, last_name TEXT, first_name TEXT, company TEXT, department TEXT,"
    "  function TEXT, email TEXT, phones TEXT, fax TEXT, address TEXT, postcode TEXT,"
    "  city TEXT, country TEXT, website TEXT, note TEXT, locale TEXT,"
    "  display_order INTEGER NOT NULL DEFAULT 1,"
    "  valid_from TEXT, valid_until TEXT,"
    "  flags INTEGER NOT NULL DEFAULT 0,"
    "  consents INTEGER NOT NULL DEFAULT 0,"
    "  registry_match TEXT, registry_cleared TEXT,"
    "  CHECK (last_name IS NOT NULL OR company IS NOT NULL));"
    "INSERT INTO contact_v11 SELECT id, party_id, type_id, site_id, civility, last_name,"
    "  first_name, company, department, function, email, phones, fax, address, postcode,"
    "  city, country, website, note, locale, display_order, valid_from, valid_until, flags,"
    "  consents, registry_match, registry_cleared FROM contact;"
    "DROP TABLE contact;"
    "ALTER TABLE contact_v11 RENAME TO contact;"
    "CREATE INDEX contact_party ON contact(party_id, display_order, id);"
    "CREATE INDEX contact_registry ON contact(registry_match) WHERE registry_match IS NOT NULL;"
    "DELETE FROM sqlite_sequence WHERE name = 'contact';"
    "INSERT INTO sqlite_sequence(name, seq) SELECT 'contact', max("
    "  (SELECT coalesce(max(id), 0) FROM contact),"
    "  (SELECT coalesce(max(contact_id), 0) FROM history),"
    "  (SELECT coalesce(max(dup_id), 0) FROM contact_merge),"
    "  (SELECT coalesce(max(contact_id), 0) FROM delivery),"
    "  (SELECT coalesce(max(contact_id), 0) FROM campaign_recipient),"
    "  (SELECT coalesce(max(contact_id), 0) FROM event));";

/* Version 12: the keyed chain's marker (issue 17), one row written when
 * the history key is created: the first id hashed with the key and a MAC
 * of it under the key, so that dropping or rewriting it needs the key.  A
 * database that made the table itself before this version keeps its row
 * and gets the mac column (apply; empty: `history verify` reports it). */
static const char *const v12 =
    "CREATE TABLE IF NOT EXISTS history_keyed ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  first_id INTEGER NOT NULL,"
    "  mac TEXT);"
    "CREATE TRIGGER IF NOT EXISTS history_keyed_no_update BEFORE UPDATE"
    "  ON history_keyed BEGIN SELECT RAISE(ABORT, 'read-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS history_keyed_no_delete BEFORE DELETE"
    "  ON history_keyed BEGIN SELECT RAISE(ABORT, 'read-only'); END;";

static const char *const migrations[] = {v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

static int current_version(struct store *s, int *v, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = store_exec(s,
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    "  version INTEGER PRIMARY KEY,"
                    "  applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ','now')))",
                    e);
    if (rc)
        return rc;
    rc = sqlite3_prepare_v2(s->db, "SELECT coalesce(max(version), 0) FROM schema_version", -1,
                            &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "schema_version");
    rc = sqlite3_step(st);
    *v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : store_dberr(s, rc, e, "schema_version");
}

/* A migration that copies a table runs with foreign keys off (SQLite
 * cannot drop a referenced table otherwise): every reference must still
 * hold before it commits. */
static int foreign_keys_hold(struct store *s, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return store_dberr(s, rc, e, "foreign_key_check");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        rc = err_set(e, ERR_DB, "table %s: row %lld refers to a missing row of %s",
                     (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
                     (const char *)sqlite3_column_text(st, 2));
    else
        rc = rc == SQLITE_DONE ? 0 : store_dberr(s, rc, e, "foreign_key_check");
    sqlite3_finalize(st);
    return rc;
}

/* Version 12 on a history_keyed table made before it: its mac column. */
static int keyed_mac_column(struct store *s, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc;

    rc = sqlite3_prepare_v2(s->db,
                            "SELECT count(*) FROM pragma_table_info('history_keyed')"
                            " WHERE name = 'mac'",
                            -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return store_dberr(s, rc, e, "history_keyed");
    }
    rc = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc ? 0 : store_exec(s, "ALTER TABLE history_keyed ADD COLUMN mac TEXT", e);
}

static int apply(struct store *s, int version, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int rc, now;

    rc = store_exec(s, "BEGIN IMMEDIATE", e);
    if (rc)
        return rc;
    /* another postier may have applied it since we read the version (the
     * nightly run and the campaign timer, the first night after an upgrade) */
    if ((rc = current_version(s, &now, e)) == 0 && now >= version)
        return store_exec(s, "COMMIT", e);
    if (!rc)
        rc = store_exec(s, migrations[version - 1], e);
    if (!rc && version == 12)
        rc = keyed_mac_column(s, e);
    if (!rc)
        rc = foreign_keys_hold(s, e);
    if (!rc && sqlite3_prepare_v2(s->db, "INSERT INTO schema_version(version) VALUES (?)", -1,
                                  &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int(st, 1, version);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = store_dberr(s, SQLITE_ERROR, e, "schema_version");
    } else if (!rc) {
        rc = store_dberr(s, SQLITE_ERROR, e, "schema_version");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = store_exec(s, "COMMIT", e);
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return err_prefix(e, "migration to schema version %d", version);
    }
    return 0;
}

int store_migrate(struct store *s, struct err *e)
{
    int v, rc, rc2;

    rc = current_version(s, &v, e);
    if (rc)
        return rc;
    if (v > NMIGRATIONS)
        return err_set(e, ERR_DB,
                       "database schema version %d is newer than this postier (%d): upgrade postier",
                       v, NMIGRATIONS);
    /* outside any transaction, where the pragma takes effect */
    if (v < NMIGRATIONS && (rc = store_exec(s, "PRAGMA foreign_keys = OFF", e)))
        return rc;
    s->from_version = v;
    while (!rc && v < NMIGRATIONS) {
        rc = apply(s, v + 1, e);
        if (!rc)
            v++;
    }
    rc2 = store_exec(s, "PRAGMA foreign_keys = ON", rc ? NULL : e);
    if (!rc)
        rc = rc2;
    if (!rc)
        s->version = v;
    return rc;
}
