#!/usr/bin/python3
"""Issue 17, point 4: tamper evidence that survives a knowledgeable insider.

- `init` creates the history key ([history] key_file: 64 hex digits, 0600
  whatever the umask), and never a new one for a keyed chain that lost it;
- every row's hash is HMAC-SHA-256 keyed with it (recipe documented in
  README "Compliance"): recomputing the chain with the old public SHA-256
  recipe is caught;
- <spool>/history.head holds the newest row's anchor line, written by every
  command that appended history: deleting the newest rows, or every row, is
  caught;
- `history anchor` prints that line; `verify --anchor LINE` proves the
  history still holds it (a chain re-keyed and re-forged is caught);
- `history purge --before` refuses a date later than today -
  retention_min_days, and the purge row anchors the chain;
- a legacy database (rows hashed before keys existed) still verifies, with
  its unkeyed rows counted, and chains keyed rows after `init` (or the next
  cron run);
- review fixes: the marker (history_keyed, schema 12) carries the key's MAC
  and, with the key file present, a dropped/emptied/forged marker or a
  missing head file fails verify (the downgrade to the public recipe);
  20 concurrent commands all exit 0 and leave the newest head (flock, own
  temp file); a head left behind is a warning, not exit 1;
  retention_min_days is bounded (0-36500);
- third review: a missing or wrong (replaced) key file stops every writing
  command before it writes; the head file carries a MAC; a corrupt head is
  BROKEN; anchor lines are trimmed and checked for overflow; `anchor` on a
  new install; a symlinked key; a full disk while writing the head (exit 75).
Each attack is done with sqlite3, as an insider with write access would.
"""
import hashlib
import hmac
import os
import re
import sqlite3
import subprocess
import tempfile

import e2e

COLS = ['at', 'event', 'channel', 'address', 'contact_id', 'party_ref', 'document_ref',
        'document_type', 'campaign', 'template', 'template_sha256', 'message_id', 'reason',
        'server_reply', 'consent', 'operator', 'message_sha256', 'provider_id']
LEGACY_OPTIONAL = {'operator', 'message_sha256', 'provider_id'}
ANCHOR = re.compile(r'^postier-anchor 1 id=(\d+) count=(\d+) '
                    r'at=(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) hash=([0-9a-f]{64})$')
BROKEN = re.compile(r'(?m)^history BROKEN at row (\d+): \S')


def slurp(path):
    with open(path) as f:
        return f.read()


def head_line(path):
    """The head file's anchor line, without its " mac=HEX"."""
    return slurp(path).strip().split(' mac=')[0]


def value(name, v):
    v = '' if v is None or v == '' or v == 0 else str(v)
    return name + '=' + v.replace('\\', '\\\\').replace('\n', '\\n').replace('\r', '\\r') + '\n'


def legacy_hash(prev, row):
    text = prev + '\n' + ''.join(value(n, v) for n, v in zip(COLS, row)
                                 if not (n in LEGACY_OPTIONAL and v is None))
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def keyed_hash(key, prev, rid, row):
    """The keyed recipe 1 of README "Compliance"."""
    text = 'postier-chain 1\n%s\nid=%d\n' % (prev, rid) + ''.join(
        value(n, v) for n, v in zip(COLS, row))
    return hmac.new(key, text.encode('utf-8'), hashlib.sha256).hexdigest()


class ChainCase(e2e.PostierCase):
    run_date = '2026-11-23'

    def setUp(self):
        super().setUp()
        self.append_config('[sender]\nname = Cabinet Durand\nemail = contact@cabinet-durand.fr\n')
        self.key_file = self.path('history.key')
        self.head_file = self.path('spool', 'history.head')
        self.import_invoice_book(2, 3)
        self.run_job(rc=0)
        self.n = self.sql('SELECT count(*) FROM history')[0][0]
        self.assertGreaterEqual(self.n, 6)

    # -- helpers ---------------------------------------------------------------

    def tamper(self, *statements):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            for s in statements:
                con.execute(*s) if isinstance(s, tuple) else con.executescript(s)
            con.commit()
        finally:
            con.close()

    def rechain(self, hasher):
        """Rewrites every hash with hasher(prev, id, row) (a forger)."""
        rows = self.sql('SELECT id, %s FROM history ORDER BY id' % ', '.join(COLS))
        prev, fixes = '0' * 64, []
        for r in rows:
            prev = hasher(prev, r[0], r[1:])
            fixes.append((prev, r[0]))
        self.tamper('DROP TRIGGER IF EXISTS history_no_update',
                    *[('UPDATE history SET hash = ? WHERE id = ?', f) for f in fixes])
        return prev

    def verify_broken(self, row, *args):
        r = self.run_postier('history', 'verify', *args)
        self.assertEqual(r.rc, 1, 'verify must fail:\n%r' % r)
        m = BROKEN.search(r.out)
        self.assertTrue(m, 'no "history BROKEN at row K: ..." line:\n%r' % r)
        self.assertEqual(int(m.group(1)), row, 'wrong first broken row:\n%r' % r)
        return r

    def anchor(self):
        line = self.ok('history', 'anchor').out.strip()
        m = ANCHOR.match(line)
        self.assertTrue(m, 'not an anchor line: %r' % line)
        return line, m

    def new_invoice(self, ref='F9'):
        """One more invoice, so that the next run appends history."""
        self.ok('documents', 'import', self.write('d-%s.csv' % ref, 'ref,party_ref,amount,due_date\n'
                                                  '%s,P0000,1.00,2026-12-31\n' % ref),
                '--type', 'invoice')

    def run_at(self, when, *args):
        """postier ARGS under `faketime WHEN`."""
        env = self.postier_env({'FAKETIME_DONT_FAKE_MONOTONIC': '1', 'TZ': 'UTC'})
        env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') +
                               ':verify_asan_link_order=0').lstrip(':')
        p = subprocess.run(['faketime', when] + self.postier_argv(*args), cwd=self.tmp, env=env,
                           input=b'', stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=e2e.TIMEOUT)
        return e2e.Result(['@' + when] + list(args), p.returncode,
                          p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace'))

    def key(self):
        with open(self.key_file) as f:
            return bytes.fromhex(f.read().strip())

    # -- the key ---------------------------------------------------------------

    def test_key_created_0600_and_kept(self):
        st = os.stat(self.key_file)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(len(self.key()), 32)
        before = self.key()
        self.assertNotIn('(created)', self.ok('init').out.split('history key')[1].split('\n')[0])
        self.assertEqual(self.key(), before, 'init must never replace the key')
        # a fresh install under umask 000: still 0600
        with tempfile.TemporaryDirectory() as d:
            old = os.umask(0)
            try:
                r = subprocess.run(e2e.WRAPPER + [e2e.POSTIER, '--config',
                                                  os.path.join(d, 'config', 'postier.ini'),
                                                  'init'], cwd=d, env=self.postier_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            finally:
                os.umask(old)
            self.assertEqual(r.returncode, 0, r)
            self.assertEqual(os.stat(os.path.join(d, 'history.key')).st_mode & 0o777, 0o600)

    def test_rows_are_keyed(self):
        key = self.key()
        rows = self.sql('SELECT id, hash, %s FROM history ORDER BY id' % ', '.join(COLS))
        prev = '0' * 64
        for r in rows:
            self.assertEqual(keyed_hash(key, prev, r[0], r[2:]), r[1], 'row %d' % r[0])
            prev = r[1]
        head = head_line(self.head_file)
        self.assertEqual(os.stat(self.head_file).st_mode & 0o777, 0o600)
        m = ANCHOR.match(head)
        self.assertTrue(m, head)
        self.assertEqual((int(m.group(1)), int(m.group(2)), m.group(4)),
                         (self.n, self.n, prev))

    def test_missing_key_fails_clearly(self):
        self.new_invoice()
        os.unlink(self.key_file)
        before = self.sql('SELECT count(*) FROM history')
        for args in (('run', '--date', self.run_date), ('history', 'verify'), ('init',)):
            self.fails(*args, contains=('history key file %s missing: restore it from backup'
                                        % self.key_file,))
        self.assertFalse(os.path.exists(self.key_file), 'no new key may be made')
        self.assertEqual(self.sql('SELECT count(*) FROM history'), before)

    def test_key_readable_by_others_refused(self):
        os.chmod(self.key_file, 0o644)
        self.fails('history', 'verify', contains=(self.key_file, 'chmod 600'))

    # -- the attacks -------------------------------------------------------------

    def test_intact_and_anchor(self):
        self.assertIn('history intact: %d rows' % self.n, self.ok('history', 'verify').out)
        line, m = self.anchor()
        self.assertEqual((int(m.group(1)), int(m.group(2))), (self.n, self.n))
        r = self.ok('history', 'verify', '--anchor', line)
        self.assertIn('contains anchor id=%d' % self.n, r.out)
        # later rows: the old anchor still holds
        self.new_invoice()
        self.run_job(rc=0)
        self.assertGreater(self.sql('SELECT count(*) FROM history')[0][0], self.n)
        self.assertIn('contains anchor id=%d' % self.n,
                      self.ok('history', 'verify', '--anchor', line).out)

    def test_malformed_anchor_exit_2(self):
        for bad in ('', 'postier-anchor 2 id=1 count=1 at=2026-01-01T00:00:00Z hash=' + 'a' * 64,
                    'postier-anchor 1 id=x count=1 at=2026-01-01T00:00:00Z hash=' + 'a' * 64,
                    'postier-anchor 1 id=1 count=1 at=2026-01-01T00:00:00Z hash=abc'):
            self.fails('history', 'verify', '--anchor', bad, contains=('anchor',))

    def test_row_edited(self):
        self.tamper('DROP TRIGGER history_no_update;'
                    "UPDATE history SET address = 'evil@attacker.example' WHERE id = 3")
        self.verify_broken(3)

    def test_row_deleted_in_middle(self):
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history WHERE id = 3')
        self.verify_broken(4)

    def test_newest_rows_deleted(self):
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history WHERE id > %d'
                    % (self.n - 2))
        r = self.verify_broken(self.n)
        self.assertIn('newest rows were deleted', r.out)
        # a later command does not hide it by moving the head
        self.run_job()
        self.verify_broken(self.n)

    def test_every_row_deleted(self):
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history')
        self.verify_broken(self.n)

    def test_head_file_removed(self):
        os.unlink(self.head_file)
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('head file %s missing' % self.head_file, r.out)

    def test_rechained_with_public_recipe(self):
        # every hash recomputed with the old documented SHA-256 recipe
        self.rechain(lambda prev, rid, row: legacy_hash(prev, row))
        self.verify_broken(1)
        # and the keying record removed too: the key file says there was one
        self.tamper('DROP TRIGGER history_keyed_no_delete; DELETE FROM history_keyed')
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('history key marker missing', r.out)

    def test_rekeyed_chain_vs_anchor(self):
        line, _ = self.anchor()
        # an insider with the key file and the head file: a new key, every
        # hash re-forged, the head file rewritten
        key = os.urandom(32)
        with open(self.key_file, 'w') as f:
            f.write(key.hex() + '\n')
        last = self.rechain(lambda prev, rid, row: keyed_hash(key, prev, rid, row))
        self.tamper('DROP TRIGGER history_keyed_no_delete; DELETE FROM history_keyed',
                    ('INSERT INTO history_keyed(id, first_id, mac) VALUES (1, 1, ?)',
                     (hmac.new(key, b'postier-keyed 1 first_id=1', hashlib.sha256).hexdigest(),)))
        head = re.sub(r'hash=[0-9a-f]{64}', 'hash=' + last, head_line(self.head_file))
        with open(self.head_file, 'w') as f:
            f.write('%s mac=%s\n' % (head, hmac.new(key, head.encode(), hashlib.sha256).hexdigest()))
        self.verify_history()  # what verify cannot see without an anchor
        r = self.verify_broken(self.n, '--anchor', line)
        self.assertIn('anchor', r.out)

    def test_other_database_has_its_own_head(self):
        other = self.path('other.db')
        head = slurp(self.head_file)
        self.ok('--db', other, 'parties', 'import',
                self.write('z.csv', 'ref,kind,name\nZ1,client,Zed\n'))
        self.ok('--db', other, 'contacts', 'import',
                self.write('zc.csv', 'party_ref,last_name,email\nZ1,Zed,z@exemple.fr\n'))
        self.assertEqual(slurp(self.head_file), head, 'the configured database\'s head')
        self.assertTrue(ANCHOR.match(head_line(other + '.head')))
        self.assertIn('intact', self.ok('--db', other, 'history', 'verify').out)
        self.verify_history()

    # -- retention -----------------------------------------------------------------

    def test_purge_refuses_recent_date(self):
        before = self.sql('SELECT count(*) FROM history')
        r = self.fails('history', 'purge', '--before', '2026-12-01',
                       contains=('retention_min_days', 'latest date allowed is'))
        m = re.search(r'latest date allowed is (\d{4}-\d\d-\d\d)', r.err)
        self.assertTrue(m, r)
        self.assertEqual(self.sql('SELECT count(*) FROM history'), before)
        # the earliest allowed date itself is accepted (nothing older: no row)
        self.assertIn('no history row before', self.ok('history', 'purge', '--before',
                                                       m.group(1)).out)

    def test_purge_anchors_the_chain(self):
        # 2028-01-01: 365 days (the default) after 2027-01-01, the latest date allowed
        r = self.run_at('2028-01-01 12:00:00', 'history', 'purge', '--before', '2027-01-02')
        self.assertEqual(r.rc, 2, r)
        self.assertIn('the latest date allowed is 2027-01-01', r.err)
        r = self.run_at('2028-01-01 12:00:00', 'history', 'purge', '--before', '2027-01-01')
        self.assertEqual(r.rc, 0, r)
        self.assertIn('purged %d history rows' % self.n, r.out)
        self.assertEqual(self.sql('SELECT count(*) FROM history'), [(1,)])
        m = ANCHOR.match(head_line(self.head_file))
        self.assertEqual((int(m.group(1)), int(m.group(2))), (self.n + 1, self.n + 1))
        self.assertTrue(m.group(3).startswith('2028-01-01'), m.group(0))
        self.verify_history()
        line, _ = self.anchor()
        self.assertIn('contains anchor', self.ok('history', 'verify', '--anchor', line).out)
        # and the tail after the purge is still guarded
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history')
        self.verify_broken(self.n + 1)

    # -- legacy databases ------------------------------------------------------------

    def make_legacy(self):
        """The database as a version from before keys left it: legacy
        hashes, schema 11 (no history_keyed table), no key, no head."""
        self.rechain(lambda prev, rid, row: legacy_hash(prev, row))
        self.tamper('DROP TABLE history_keyed; DELETE FROM schema_version WHERE version >= 12')
        os.unlink(self.key_file)
        os.unlink(self.head_file)

    def test_legacy_database_upgraded_by_init(self):
        self.make_legacy()
        r = self.ok('history', 'verify')
        self.assertIn('(%d unkeyed rows' % self.n, r.out)
        self.assertFalse(os.path.exists(self.key_file), 'verify never makes a key')
        self.assertIn('history key: %s (created)' % self.key_file, self.ok('init').out)
        # key, marker and head made together, before any keyed row
        key = self.key()
        mac = hmac.new(key, b'postier-keyed 1 first_id=%d' % (self.n + 1),
                       hashlib.sha256).hexdigest()
        self.assertEqual(self.sql('SELECT first_id, mac FROM history_keyed'), [(self.n + 1, mac)])
        m = ANCHOR.match(head_line(self.head_file))
        self.assertEqual((int(m.group(1)), int(m.group(2))), (self.n, self.n))
        self.new_invoice()
        self.run_job(rc=0)
        total = self.sql('SELECT count(*) FROM history')[0][0]
        self.assertGreater(total, self.n)
        r = self.ok('history', 'verify')
        self.assertIn('history intact: %d rows' % total, r.out)
        self.assertIn('(%d unkeyed rows' % self.n, r.out)

    def test_legacy_database_upgraded_by_cron(self):
        # no `init` after the upgrade: the nightly run makes the key itself
        self.make_legacy()
        self.new_invoice()
        self.run_job(rc=0)
        self.assertEqual(os.stat(self.key_file).st_mode & 0o777, 0o600)
        self.assertEqual(self.sql('SELECT first_id FROM history_keyed'), [(self.n + 1,)])
        r = self.ok('history', 'verify')
        self.assertIn('(%d unkeyed rows' % self.n, r.out)

    def test_new_install_has_marker_and_head(self):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run(e2e.WRAPPER + [e2e.POSTIER, '--config',
                                              os.path.join(d, 'config', 'postier.ini'), 'init'],
                               cwd=d, env=self.postier_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
            self.assertEqual(r.returncode, 0, r)
            con = sqlite3.connect(os.path.join(d, 'postier.db'))
            self.assertEqual(con.execute('SELECT first_id FROM history_keyed').fetchall(), [(1,)])
            con.close()
            head = head_line(os.path.join(d, 'spool', 'history.head'))
            self.assertTrue(head.startswith('postier-anchor 1 id=0 count=0 at='), head)
            self.assertTrue(head.endswith('hash=' + '0' * 64), head)

    # -- downgrades without the key (review of point 4) ------------------------

    def test_downgrade_to_legacy_without_key(self):
        # the reviewer's attack: marker dropped, row 5 altered, every hash
        # recomputed with the public legacy recipe, head file removed
        self.tamper('DROP TABLE history_keyed; DROP TRIGGER history_no_update;'
                    "UPDATE history SET address = 'evil@attacker.example' WHERE id = 5")
        self.rechain(lambda prev, rid, row: legacy_hash(prev, row))
        os.unlink(self.head_file)
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('history_keyed table missing', r.out)
        # the head file rewritten with the forged last hash instead: same
        last = self.sql('SELECT id, hash, at FROM history ORDER BY id DESC LIMIT 1')[0]
        with open(self.head_file, 'w') as f:
            f.write('postier-anchor 1 id=%d count=%d at=%s hash=%s\n'
                    % (last[0], last[0], last[2], last[1]))
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('history BROKEN', r.out)

    def test_marker_emptied_or_forged(self):
        self.rechain(lambda prev, rid, row: legacy_hash(prev, row))
        # the marker row removed: the table is empty, the key is there
        self.tamper('DROP TRIGGER history_keyed_no_delete; DELETE FROM history_keyed')
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('history key marker missing', r.out)
        # a marker saying every row is legacy, without the key's MAC
        self.tamper(('INSERT INTO history_keyed(id, first_id, mac) VALUES (1, ?, ?)',
                     (self.n + 1, 'a' * 64)))
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn("does not carry the key's MAC", r.out)

    # -- concurrent commands and the head file ---------------------------------

    def test_concurrent_commands_keep_the_head(self):
        n = 20
        procs = []
        for i in range(n):
            if i % 2:
                args = ['parties', 'import', self.write('p%d.csv' % i,
                                                         'ref,kind,name\nQ%d,client,Q %d\n'
                                                         % (i, i))]
            else:
                args = ['contacts', 'add', '--party', 'P0000', '--last-name', 'C%d' % i,
                        '--email', 'c%d@exemple.fr' % i]
            procs.append(subprocess.Popen(self.postier_argv(*args), cwd=self.tmp,
                                          env=self.postier_env(), stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))
        for p in procs:
            out, err = p.communicate(timeout=e2e.TIMEOUT)
            self.assertEqual(p.returncode, 0, (p.args, out, err))
            self.assertNotIn(b'history.head', err)
        self.assertEqual([f for f in os.listdir(self.path('spool')) if f.startswith('history.head.')],
                         ['history.head.lock'], 'no temporary head file left')
        self.assertEqual(os.stat(self.head_file).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.head_file + '.lock').st_mode & 0o777, 0o600)
        total = self.sql('SELECT count(*) FROM history')[0][0]
        self.assertGreaterEqual(total, self.n + n)
        m = ANCHOR.match(head_line(self.head_file))
        self.assertEqual(int(m.group(1)), self.sql('SELECT max(id) FROM history')[0][0])
        self.assertIn('history intact: %d rows' % total, self.ok('history', 'verify').out)

    def test_head_behind_is_a_warning_not_a_failure(self):
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history WHERE id = %d' % self.n)
        r = self.run_postier('parties', 'import', self.write('q.csv', 'ref,kind,name\nQ1,client,Q\n'))
        self.assertEqual(r.rc, 0, r)
        self.assertIn('postier: warning: ', r.err)
        self.assertIn('is no longer in the history', r.err)

    def test_retention_out_of_range(self):
        self.append_config('[history]\nretention_min_days = 99999999999\n')
        # a load error naming the line (was cast to int: a nonsense date)
        self.fails('history', 'purge', '--before', '2000-01-01',
                   contains=('postier.ini:', 'retention_min_days', 'at most 36500'))


    # -- second review ------------------------------------------------------------

    def test_newest_rows_and_head_removed_stay_broken(self):
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history WHERE id > %d'
                    % (self.n - 2))
        os.unlink(self.head_file)
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        # the next command does not make a new head from what is left
        self.new_invoice('F7')
        r = self.run_job()
        self.assertIn('postier: warning: history head file %s missing: not recreated'
                      % self.head_file, r.err)
        self.assertFalse(os.path.exists(self.head_file))
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('head file %s missing' % self.head_file, r.out)

    def test_db_naming_the_configured_database(self):
        head = slurp(self.head_file)
        for db in (self.db, './postier.db'):
            r = self.ok('--db', db, 'history', 'verify')
            self.assertIn('history intact', r.out)
        self.ok('--db', self.db, 'parties', 'import',
                self.write('z.csv', 'ref,kind,name\nZ1,client,Zed\n'))
        self.assertFalse(os.path.exists(self.db + '.head'), 'one head per database')
        self.assertNotEqual(slurp(self.head_file), head, 'the configured head follows')
        self.verify_history()

    def legacy_copy(self):
        other = self.path('legacy.db')
        self.make_legacy()
        import shutil
        shutil.copy(self.db, other)
        self.ok('init')  # the configured database gets the key
        return other, self.sql('SELECT count(*) FROM history')[0][0]

    def test_older_database_with_shared_key(self):
        other, n = self.legacy_copy()
        # its first open with this version: the marker is new, made with the key
        self.ok('--db', other, 'parties', 'import',
                self.write('z.csv', 'ref,kind,name\nZ1,client,Zed\n'))
        con = sqlite3.connect(other)
        self.assertEqual(con.execute('SELECT first_id FROM history_keyed').fetchall(), [(n + 1,)])
        con.close()
        r = self.ok('--db', other, 'history', 'verify')
        self.assertIn('(%d unkeyed rows' % n, r.out)

    def test_older_database_checked_first_then_used(self):
        other, n = self.legacy_copy()
        # a backup from an older postier, checked first (as compliance
        # does): its first writing command still marks it
        r = self.run_postier('--db', other, 'history', 'verify')
        self.assertIn('older postier', r.out + r.err)
        self.ok('--db', other, 'contacts', 'list')
        self.ok('--db', other, 'parties', 'import',
                self.write('z.csv', 'ref,kind,name\nZ1,client,Zed\n'))
        r = self.ok('--db', other, 'history', 'verify')
        self.assertIn('(%d unkeyed rows' % n, r.out)
        # once keyed (it has its head file), an emptied marker is refused
        con = sqlite3.connect(other)
        con.executescript('DROP TRIGGER IF EXISTS history_keyed_no_delete;'
                          'DELETE FROM history_keyed;')
        con.commit()
        con.close()
        r = self.run_postier('--db', other, 'parties', 'import',
                             self.write('z2.csv', 'ref,kind,name\nZ2,client,Zed\n'))
        self.assertEqual(r.rc, 2, r)
        self.assertIn('history key marker missing', r.err)
        con = sqlite3.connect(other)
        self.assertEqual(con.execute('SELECT count(*) FROM party WHERE ref = ?', ('Z2',)).fetchall(),
                         [(0,)])
        con.close()

    def test_purge_floor_is_a_utc_date(self):
        # 12:00 UTC is already 01:00 the next day in Auckland: rows are
        # compared in UTC, so the floor is UTC today - 365 days
        self.append_config('[run]\ntimezone = Pacific/Auckland\n')
        r = self.run_at('2028-01-01 12:00:00', 'history', 'purge', '--before', '2027-01-02')
        self.assertEqual(r.rc, 2, r)
        self.assertIn('the latest date allowed is 2027-01-01', r.err)
        self.assertIn('UTC', self.ok('history', 'purge', '--help').out)

    # -- third review (chain4) ------------------------------------------------------

    def counts(self):
        return self.sql('SELECT (SELECT count(*) FROM history), (SELECT count(*) FROM contact),'
                        ' (SELECT count(*) FROM party)')[0]

    def writers(self):
        """Commands that write directory data and its history."""
        return [('contacts', 'add', '--party', 'P0000', '--last-name', 'Zoé',
                 '--email', 'zoe@x.fr'),
                ('contacts', 'import', self.write('zc.csv', 'party_ref,last_name,email\n'
                                                  'P0000,Zed,zed@x.fr\n')),
                ('parties', 'import', self.write('zp.csv', 'ref,kind,name\nZ1,client,Zed\n'))]

    def test_wrong_key_file_refused_before_writing(self):
        right = slurp(self.key_file)
        os.unlink(self.key_file)
        self.write('history.key', os.urandom(32).hex() + '\n')
        os.chmod(self.key_file, 0o600)
        before = self.counts()
        for args in self.writers() + [('run', '--date', self.run_date)]:
            r = self.fails(*args, contains=(
                "history key file %s is not this history's key (its marker does not verify):"
                " restore the right one" % self.key_file,))
            self.assertNotIn('added contact', r.out)
        self.assertEqual(self.counts(), before, 'nothing written with the wrong key')
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('the key file or the marker was replaced', r.out)
        with open(self.key_file, 'w') as f:
            f.write(right)
        self.assertIn('history intact: %d rows' % self.n, self.ok('history', 'verify').out)

    def test_missing_key_refused_before_writing(self):
        os.unlink(self.key_file)
        before = self.counts()
        for args in self.writers():
            r = self.fails(*args, contains=('history key file %s missing: restore it from backup'
                                            % self.key_file,))
            self.assertNotIn('added contact', r.out)
            self.assertEqual(self.counts(), before, 'nothing written: %r' % (args,))

    def test_empty_chain_head_forged(self):
        # every row deleted, the empty chain's head written without the key
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history')
        with open(self.head_file, 'w') as f:
            f.write('postier-anchor 1 id=0 count=0 at=2026-11-23T00:00:00Z hash=%s\n' % ('0' * 64))
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('history BROKEN', r.out)
        self.assertIn('carries no MAC', r.out)
        # a marker placed after rows that are all gone (keyed from row n+1):
        # even a head made with the key does not hide them
        first = self.n + 1
        mark = hmac.new(self.key(), b'postier-keyed 1 first_id=%d' % first,
                        hashlib.sha256).hexdigest()
        self.tamper('DROP TRIGGER history_keyed_no_update',
                    ('UPDATE history_keyed SET first_id = ?, mac = ?', (first, mark)))
        line = 'postier-anchor 1 id=0 count=0 at=2026-11-23T00:00:00Z hash=%s' % ('0' * 64)
        mac = hmac.new(self.key(), line.encode(), hashlib.sha256).hexdigest()
        with open(self.head_file, 'w') as f:
            f.write('%s mac=%s\n' % (line, mac))
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('keyed rows start at row %d, but the history ends at row 0' % first, r.out)

    def test_head_file_is_keyed(self):
        head = slurp(self.head_file).strip()
        line, mac = head.rsplit(' mac=', 1)
        self.assertTrue(ANCHOR.match(line), head)
        self.assertEqual(hmac.new(self.key(), line.encode(), hashlib.sha256).hexdigest(), mac)
        # verify --anchor takes both forms
        self.ok('history', 'verify', '--anchor', head)
        self.ok('history', 'verify', '--anchor', line)
        # newest rows deleted and the head rewritten to the new last row, without the key
        self.tamper('DROP TRIGGER history_no_delete; DELETE FROM history WHERE id > %d'
                    % (self.n - 2))
        rid, h, at = self.sql('SELECT id, hash, at FROM history ORDER BY id DESC LIMIT 1')[0]
        with open(self.head_file, 'w') as f:
            f.write('postier-anchor 1 id=%d count=%d at=%s hash=%s mac=%s\n'
                    % (rid, rid, at, h, '0' * 64))
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, r)
        self.assertIn('its MAC does not verify', r.out)

    def test_corrupt_head_file_is_broken(self):
        for kind, why in (('corrupt', 'does not start with'), ('empty', 'empty'),
                          ('dir', 'Is a directory')):
            with self.subTest(kind=kind):
                if os.path.isdir(self.head_file):
                    os.rmdir(self.head_file)
                else:
                    os.unlink(self.head_file)
                if kind == 'dir':
                    os.mkdir(self.head_file)
                else:
                    with open(self.head_file, 'w') as f:
                        f.write('hello\n' if kind == 'corrupt' else '')
                r = self.run_postier('history', 'verify')
                self.assertEqual(r.rc, 1, r)
                self.assertIn('history BROKEN', r.out)
                self.assertIn(why, r.out)
                self.assertEqual(r.out.count(self.head_file), 1, r)
                # a writing command warns and keeps the evidence
                r = self.run_postier('parties', 'import',
                                     self.write('w.csv', 'ref,kind,name\nW%s,client,W\n' % kind))
                self.assertEqual(r.rc, 0, r)
                self.assertIn('postier: warning: history head file %s' % self.head_file, r.err)
                self.assertEqual(len(r.err.strip().splitlines()), 1, r)

    def test_anchor_line_parsing(self):
        line, _ = self.anchor()
        for pasted in (line + '\r\n', line + ' ', ' ' + line, '\t' + line + '\n'):
            self.ok('history', 'verify', '--anchor', pasted)
        big = line.replace('id=%d ' % self.n, 'id=99999999999999999999999 ')
        r = self.fails('history', 'verify', '--anchor', big, contains=('id=', 'too large'))
        self.assertTrue(r.err.startswith('postier: anchor line: id='), r)
        r = self.fails('history', 'verify', '--anchor', line[:-3])
        self.assertTrue(r.err.startswith('postier: anchor line: hash='), r)
        zero = 'postier-anchor 1 id=0 count=0 at=2026-01-01T00:00:00Z hash=' + 'a' * 64
        r = self.run_postier('history', 'verify', '--anchor', zero)
        self.assertEqual(r.rc, 1, r)
        self.assertIn("does not match the empty chain's", r.out)
        self.assertNotIn('purged', r.out)

    def test_anchor_on_new_install(self):
        with tempfile.TemporaryDirectory() as d:
            def run(*args):
                return subprocess.run(e2e.WRAPPER + [e2e.POSTIER, '--config',
                                                     os.path.join(d, 'config', 'postier.ini')]
                                      + list(args), cwd=d, env=self.postier_env(),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(run('init').returncode, 0)
            r = run('history', 'anchor')
            self.assertEqual(r.returncode, 0, r)
            line = r.stdout.decode().strip()
            m = ANCHOR.match(line)
            self.assertTrue(m, line)
            self.assertEqual((m.group(1), m.group(2), m.group(4)), ('0', '0', '0' * 64))
            r = run('history', 'verify', '--anchor', line)
            self.assertEqual(r.returncode, 0, r)

    def test_symlinked_key_file(self):
        real = self.path('real.key')
        os.rename(self.key_file, real)
        os.symlink(real, self.key_file)
        before = self.counts()
        for args in (self.writers()[0], ('history', 'verify')):
            self.fails(*args, contains=('history key file %s is a symbolic link' % self.key_file,
                                        'set [history] key_file to the real path'))
        self.assertEqual(self.counts(), before)

    def test_disk_full_during_the_head_write(self):
        import shutil
        import test_faults
        mnt = test_faults.Faults.small_disk(self)
        spool = os.path.join(mnt, 'spool')
        os.mkdir(spool, 0o700)
        shutil.copy2(self.head_file, spool)
        self.append_config('\n[store]\nspool = %s\n' % spool)
        head = os.path.join(spool, 'history.head')
        open(head + '.lock', 'w').close()  # the lock exists before the disk fills
        filler = test_faults.Faults.fill(self, mnt)
        before = self.counts()
        r = self.run_postier(*self.writers()[0])
        self.assertEqual(r.rc, 75, r)
        lines = r.err.strip().splitlines()
        self.assertEqual(len(lines), 1, r)
        self.assertIn('history head file %s not written: No space left on device' % head, lines[0])
        self.assertNotIn('history.head.', lines[0])
        self.assertEqual(self.counts()[1], before[1] + 1, 'the contact is committed')
        os.unlink(filler)
        self.ok('parties', 'import', self.write('q.csv', 'ref,kind,name\nQ1,client,Q\n'))
        self.assertIn('history intact', self.ok('history', 'verify').out)


if __name__ == '__main__':
    e2e.main()
