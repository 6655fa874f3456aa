"""End-to-end: `postier init`, the configuration file (SPEC §8) and the
global options (--config, POSTIER_CONFIG, --db, exit statuses)."""

import os
import re
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

# SPEC §8: every key of the default configuration, by section.
SECTIONS = {
    'store': ['database', 'documents', 'spool', 'templates'],
    'sender': ['name', 'email'],
    'email': ['transport', 'maildir'],
    'smtp': ['url', 'username', 'password', 'starttls', 'connections',
             'rate_per_second', 'rate_per_hour', 'timeout', 'max_attempts',
             'ca_file',  # ca_file: an extension (the CAs that verify the server)
             'verify', 'allow_plaintext_auth'],
    'sms': ['transport', 'url', 'token', 'sender', 'quiet_hours', 'quiet_days',
            # extensions: kannel credentials and reports, limits, retries
            'username', 'password', 'dlr_mask', 'dlr_url', 'max_segments', 'stop_text',
            'connections', 'timeout', 'max_attempts', 'allow_plaintext_auth'],
    'campaign': ['unsubscribe_url', 'unsubscribe_mailto'],
    'run': ['fallback', 'sms_types', 'timezone'],
    'template': ['max_iterations'],
    'history': ['key_file', 'retention_min_days'],
}
DEFAULTS = {
    ('store', 'database'): 'postier.db', ('store', 'spool'): 'spool',
    ('store', 'templates'): 'templates', ('store', 'documents'): 'documents',
    ('sender', 'name'): 'Postier',
    ('sender', 'email'): 'noreply@example.invalid',
    ('email', 'transport'): 'maildir', ('email', 'maildir'): 'spool/sent',
    ('smtp', 'url'): 'smtp://127.0.0.1:25', ('smtp', 'starttls'): 'auto',
    ('smtp', 'connections'): '4', ('smtp', 'rate_per_second'): '0',
    ('smtp', 'rate_per_hour'): '0', ('smtp', 'timeout'): '30',
    ('smtp', 'max_attempts'): '5', ('sms', 'transport'): 'none',
    ('sms', 'quiet_hours'): '20:00-08:00', ('sms', 'quiet_days'): 'sun',
    ('run', 'fallback'): 'main', ('run', 'timezone'): '',
    ('smtp', 'verify'): 'yes', ('smtp', 'allow_plaintext_auth'): 'no',
    ('template', 'max_iterations'): '100000', ('history', 'key_file'): 'history.key',
    ('history', 'retention_min_days'): '365', ('sms', 'allow_plaintext_auth'): 'no',
}


class InitConfigTest(e2e.PostierCase):
    auto_init = False

    def write_config(self, text):
        return self.write(os.path.join('config', 'postier.ini'), text)

    # -- init ---------------------------------------------------------------

    def test_init_creates_config_database_and_spool(self):
        self.assertFalse(os.path.exists(self.config))
        r = self.ok('init')
        self.assertTrue(os.path.isfile(self.config))
        # database: default postier.db relative to the config folder's parent
        self.assertTrue(os.path.isfile(self.path('postier.db')), r)
        self.assertFalse(os.path.exists(self.path('config', 'postier.db')))
        for d in ('spool', 'spool/tmp', 'spool/queue', 'spool/sent',
                  'spool/sent/tmp', 'spool/sent/new', 'spool/sent/cur'):
            self.assertTrue(os.path.isdir(self.path(d)), 'missing folder ' + d)
        self.assertEqual(r.err.strip(), '')

    def test_default_config_has_every_key_commented(self):
        self.ok('init')
        with open(self.config, encoding='utf-8') as f:
            lines = f.read().splitlines()
        section = None
        seen = {}
        for n, line in enumerate(lines, 1):
            s = line.strip()
            m = re.fullmatch(r'\[(\w+)\]', s)
            if m:
                section = m.group(1)
                seen.setdefault(section, {})
                continue
            if not s or s.startswith(('#',)):
                continue
            m = re.match(r';\s*(\w+)\s*=\s*(.*)$', s)
            if m and section:
                value = m.group(2).split(';')[0].strip()
                seen[section][m.group(1)] = value
                continue
            # anything else must be a comment; no key may be active
            self.assertTrue(s.startswith(';'),
                            'line %d is an active setting: %r' % (n, line))
        self.assertEqual(sorted(seen), sorted(SECTIONS), 'sections')
        for sec, keys in SECTIONS.items():
            self.assertEqual(sorted(seen[sec]), sorted(keys), 'keys of [%s]' % sec)
        for (sec, key), value in DEFAULTS.items():
            self.assertEqual(seen[sec][key], value, '[%s] %s default' % (sec, key))

    def test_default_config_is_accepted_when_uncommented(self):
        # the commented defaults, once uncommented, must be a valid config
        self.ok('init')
        with open(self.config, encoding='utf-8') as f:
            text = f.read()
        text = re.sub(r'(?m)^;(\s*\w+\s*=)', r'\1', text)
        self.write_config(text)
        self.ok('types', 'list')

    def test_init_twice_changes_nothing(self):
        self.ok('init')
        before = self.read_bytes(self.config)
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.ok('parties', 'add', '--ref', 'C001', '--kind', 'client', '--name', 'Dupont SARL')
        r = self.ok('init')
        self.assertEqual(self.read_bytes(self.config), before, 'config rewritten')
        self.assertEqual(self.json('types', 'list'),
                         [{'id': 1, 'code': 'exp', 'label': 'Expert', 'contacts': 0}])
        self.assertEqual([p['ref'] for p in self.json('parties', 'list')], ['C001'])
        self.assertEqual(r.err.strip(), '')

    def test_init_keeps_an_existing_config(self):
        self.write_config('[sender]\nname = Cabinet Lefèvre\n')
        self.ok('init')
        with open(self.config, encoding='utf-8') as f:
            self.assertEqual(f.read(), '[sender]\nname = Cabinet Lefèvre\n')
        self.assertTrue(os.path.isfile(self.path('postier.db')))

    def test_database_schema(self):
        self.ok('init')
        con = sqlite3.connect(self.db)
        try:
            self.assertEqual(con.execute('PRAGMA journal_mode').fetchone()[0].lower(), 'wal')
            # schema versioned with migrations: 1, 2, ... up to the current one
            versions = [r[0] for r in con.execute(
                'SELECT version FROM schema_version ORDER BY version')]
            self.assertEqual(versions[:1], [1])
            self.assertEqual(versions, list(range(1, len(versions) + 1)))
            tables = {r[0] for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            for t in ('party', 'address', 'contact_type', 'contact', 'document',
                      'history', 'event'):
                self.assertIn(t, tables)
            fks = {r[2] for r in con.execute('PRAGMA foreign_key_list(contact)')}
            self.assertIn('party', fks)
            self.assertIn('contact_type', fks)
        finally:
            con.close()

    def test_delivery_table_of_version_7_migrated(self):
        # a version 7 database (state CHECK written "IN (...)"), with a
        # delivery: the next command copies the table, keeping every row
        self.ok('init')
        con = sqlite3.connect(self.db)
        try:
            con.executescript("""
                DELETE FROM schema_version WHERE version >= 8;
                DROP TABLE delivery;
                CREATE TABLE delivery (id INTEGER PRIMARY KEY,
                  document_id INTEGER NOT NULL DEFAULT 0, campaign TEXT NOT NULL DEFAULT '',
                  contact_id INTEGER, channel TEXT NOT NULL, address TEXT NOT NULL,
                  message_id TEXT NOT NULL,
                  state TEXT NOT NULL CHECK (state IN ('queued','sent','deferred','failed')),
                  attempts INTEGER NOT NULL DEFAULT 0, template TEXT, template_sha256 TEXT,
                  consent TEXT, updated_at TEXT NOT NULL,
                  UNIQUE (document_id, campaign, channel, address));
                CREATE INDEX delivery_state ON delivery(state);
                CREATE INDEX delivery_contact ON delivery(contact_id);
                CREATE INDEX delivery_campaign ON delivery(campaign, state);
                INSERT INTO delivery VALUES (41, 7, '', NULL, 'email', 'a@exemple.fr',
                  '<x@y>', 'deferred', 2, 'invoice', 'abc', 'email', '2026-11-20T01:00:00Z');
                """)
            con.commit()
        finally:
            con.close()
        self.ok('documents', 'list')
        self.assertEqual(self.sql('SELECT max(version) FROM schema_version'), [(12,)])
        self.assertEqual(self.sql('SELECT * FROM delivery'),
                         [(41, 7, '', None, 'email', 'a@exemple.fr', '<x@y>', 'deferred', 2,
                           'invoice', 'abc', 'email', '2026-11-20T01:00:00Z',
                           None)])  # version 10: the last failure's reason (none)
        indexes = {r[0] for r in self.sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'delivery'"
            " AND sql IS NOT NULL")}
        # version 9: the index of pending deliveries holds only them, the
        # campaigns' leaves out the nightly run's; version 10: failed ones
        self.assertEqual(indexes, {'delivery_pending', 'delivery_contact', 'delivery_campaign',
                                   'delivery_failed'})
        self.assertEqual(self.sql("SELECT id FROM delivery INDEXED BY delivery_pending"
                                  " WHERE (state = 'queued' OR state = 'deferred')"
                                  " AND channel = 'email'"), [(41,)])
        con = sqlite3.connect(self.db)
        try:
            with self.assertRaises(sqlite3.IntegrityError):  # the CHECK still holds
                con.execute("UPDATE delivery SET state = 'lost' WHERE id = 41")
        finally:
            con.close()

    def test_foreign_keys_enforced_by_postier(self):
        # a contact of a type cannot outlive its type, a party's contact
        # needs the party: the binary must keep the database consistent
        self.ok('init')
        self.ok('types', 'add', '--label', 'Garage', '--code', 'gar')
        self.ok('parties', 'add', '--ref', 'C001', '--kind', 'client', '--name', 'Dupont SARL')
        self.add_contact('--party', 'C001', '--type', 'gar', '--company', 'Garage du Centre')
        self.fails('types', 'rm', 'gar')
        con = sqlite3.connect(self.db)
        try:
            self.assertEqual(con.execute('PRAGMA foreign_key_check').fetchall(), [])
        finally:
            con.close()

    def test_db_option_overrides_database(self):
        self.ok('init')
        other = self.path('ailleurs.db')
        self.ok('--db', other, 'init')
        self.assertTrue(os.path.isfile(other))
        self.ok('--db', other, 'types', 'add', '--label', 'Expert', '--code', 'exp')
        self.assertEqual(len(self.json('--db', other, 'types', 'list')), 1)
        self.assertEqual(self.json('types', 'list'), [])
        con = sqlite3.connect(other)
        try:
            self.assertEqual(con.execute('SELECT code FROM contact_type').fetchall(), [('exp',)])
        finally:
            con.close()

    def test_config_database_key_is_relative_to_config_parent(self):
        os.makedirs(self.path('data'))
        self.write_config('[store]\ndatabase = data/annuaire.db\n')
        self.ok('init')
        self.assertTrue(os.path.isfile(self.path('data', 'annuaire.db')))
        self.assertFalse(os.path.exists(self.path('postier.db')))
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp')
        self.assertEqual(self.sql('SELECT code FROM contact_type',
                                  db=self.path('data', 'annuaire.db')), [('exp',)])

    def test_postier_config_environment(self):
        elsewhere = self.path('elsewhere')
        os.makedirs(elsewhere)
        self.ok('init', config=False, cwd=elsewhere,
                env={'POSTIER_CONFIG': self.config})
        self.assertTrue(os.path.isfile(self.config))
        self.assertTrue(os.path.isfile(self.path('postier.db')))
        self.assertFalse(os.path.exists(os.path.join(elsewhere, 'config')))
        self.ok('types', 'add', '--label', 'Expert', '--code', 'exp', config=False,
                cwd=elsewhere, env={'POSTIER_CONFIG': self.config})
        self.assertEqual(len(self.json('types', 'list')), 1)

    def test_default_config_path_is_config_postier_ini(self):
        self.ok('init', config=False)
        self.assertTrue(os.path.isfile(self.config))
        self.assertTrue(os.path.isfile(self.path('postier.db')))

    # -- bad configurations -------------------------------------------------

    def test_bad_value_names_file_and_line(self):
        cfg = self.write_config('; test\n[email]\ntransport = pigeon\n')
        for args in (['init'], ['types', 'list']):
            r = self.fails(*args, contains=[cfg])
            self.assertRegex(r.err, r'(:3\b|line 3\b)', r)
            self.assertIn('pigeon', r.err)
        self.assertFalse(os.path.exists(self.path('postier.db')))

    def test_unknown_key_names_file_and_line(self):
        cfg = self.write_config('[store]\ndatabase = x.db\n\n[smtp]\nconections = 4\n')
        r = self.fails('init', contains=[cfg, 'conections'])
        self.assertRegex(r.err, r'(:5\b|line 5\b)', r)

    def test_other_bad_values(self):
        cases = [
            ('[smtp]\nconnections = beaucoup\n', 2),
            ('[smtp]\nstarttls = parfois\n', 2),
            ('[run]\nfallback = everybody\n', 2),
            ('[sms]\ntransport = pigeon\n', 2),
            ('\n\n[bogus]\nkey = 1\n', 4),
        ]
        for text, line in cases:
            with self.subTest(config=text):
                cfg = self.write_config(text)
                r = self.fails('types', 'list', contains=[cfg])
                self.assertRegex(r.err, r'(:%d\b|line %d\b)' % (line, line), r)

    # -- global usage -------------------------------------------------------

    def test_usage_and_exit_statuses(self):
        self.ok('init')
        r = self.ok('--help')
        self.assertIn('contacts', r.out)
        self.ok('--version')
        self.fails('frobnicate')
        self.fails('contacts', 'frobnicate')
        self.fails('contacts', 'list', '--no-such-option')
        self.fails('contacts', 'list', '--format', 'yaml')
        for cmd in (['init'], ['types', 'add'], ['parties', 'import'],
                    ['contacts', 'list'], ['contacts', 'import'], ['contacts', 'export']):
            with self.subTest(cmd=cmd):
                r = self.ok(*(cmd + ['--help']))
                self.assertIn('Usage', r.out)


if __name__ == '__main__':
    e2e.main()
