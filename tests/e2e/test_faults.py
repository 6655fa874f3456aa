#!/usr/bin/python3
"""End-to-end: faults (issue 17, point 8).  A disk that fills up under the
Maildir, and a database locked by another program during `postier run`:
a clear message, a non-zero exit, nothing lost, nothing sent twice.  (The
kill -9 and SMTP fault tests are test_crash.py and test_smtp_crash.py.)"""
import glob
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

BOOK = 'ref,kind,name,email\n' + ''.join(
    'C%d,client,Client %d,client%d@exemple.fr\n' % (i, i, i) for i in range(5))
INVOICES = 'ref,party_ref,amount\n' + ''.join('F%d,C%d,1%d.50\n' % (i, i, i) for i in range(5))

MORE_PARTIES = 'ref,kind,name,email\n' + ''.join(
    'D%d,client,Client %d,d%d@exemple.fr\n' % (i, i, i) for i in range(500))
CONTACTS = 'party_ref,last_name,email\n' + ''.join(
    'C%d,Martin,martin%d@exemple.fr\n' % (i % 5, i) for i in range(500))
MORE_INVOICES = 'ref,party_ref,amount\n' + ''.join(
    'G%d,C%d,2%d.50\n' % (i, i % 5, i) for i in range(2000))


class Faults(e2e.PostierCase):
    run_date = '2026-11-22'

    def book(self):
        self.ok('parties', 'import', self.write('p.csv', BOOK))
        self.ok('documents', 'import', self.write('d.csv', INVOICES), '--type', 'invoice')

    def sent_rows(self):
        return [h for h in self.history_rows() if h['event'] == 'sent']

    def small_disk(self, size='256k'):
        """A tmpfs of `size` mounted at <tmp>/small (skips the test when
        mounting is not permitted here)."""
        mnt = self.path('small')
        os.mkdir(mnt)
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=%s' % size, 'tmpfs', mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode:
            why = 'cannot mount a tmpfs here: %s' % p.stdout.decode().strip()
            # .ci/run sets this when it could mount one: then never skipped
            if os.environ.get('POSTIER_TEST_MOUNT') == '1':
                self.fail(why)
            self.skipTest(why)
        self.addCleanup(subprocess.run, ['umount', '-l', mnt])
        return mnt

    def fill(self, mnt, leave=0):
        """Fills the file system of mnt to the last block, then frees
        `leave` bytes; returns the filler's path (remove it to free the
        space)."""
        filler = os.path.join(mnt, 'filler')
        with open(filler, 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 4096)
            except OSError:
                pass
            try:
                while True:
                    f.write(b'\0')
            except OSError:
                pass
            f.truncate(f.tell() - leave)
        return filler

    def test_disk_full_under_the_maildir(self):
        mnt = self.small_disk()
        box = os.path.join(mnt, 'box')
        self.append_config('\n[email]\nmaildir = %s\n[smtp]\nmax_attempts = 1\n' % box)
        self.ok('init')
        self.book()
        filler = self.fill(mnt)
        r = self.run_job()
        self.assertNotEqual(r.rc, 0, r)
        self.assertEqual(r.rc, 75, r)  # nothing failed for good: deferred
        lines = [l for l in r.err.splitlines() if 'No space left on device' in l]
        self.assertEqual(len(lines), 1, r)
        self.assertIn(box, lines[0])
        self.assertEqual(self.sent_rows(), [])
        self.assertEqual(glob.glob(os.path.join(box, 'new', '*')), [])
        # space freed: every message exactly once, nothing said about disks
        os.unlink(filler)
        r = self.run_job(rc=0)
        self.assertNotIn('No space', r.err)
        r = self.run_job(rc=0)
        self.assertEqual(len(glob.glob(os.path.join(box, 'new', '*'))), 5)
        sent = self.sent_rows()
        self.assertEqual(sorted(h['document_ref'] for h in sent), ['F%d' % i for i in range(5)])
        self.verify_history()

    def assert_full_then_freed(self, r, place, filler, box):
        """r: the run on the full disk; place: the folder or database file
        its one line must name.  Then frees the space: every message once."""
        self.assertEqual(r.rc, 75, r)  # nothing failed for good: the next run resolves it
        lines = [l for l in r.err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, r)
        self.assertIn(place, lines[0], r)
        self.assertIn('No space left on device', lines[0], r)
        s = self.run_summary(r)
        self.assertEqual(s['queued'], s['sent'] + s['deferred'] + s['failed'], r)
        self.assertEqual(s['failed'], 0, r)
        os.unlink(filler)
        r = self.run_job(rc=0)
        self.assertNotIn('No space', r.err)
        s = self.run_summary(r)
        self.assertEqual((s['deferred'], s['failed']), (0, 0), r)
        self.assertEqual(len(glob.glob(os.path.join(box, 'new', '*'))), 5)
        sent = self.sent_rows()
        self.assertEqual(sorted(h['document_ref'] for h in sent), ['F%d' % i for i in range(5)])
        r = self.run_job(rc=0)
        self.assertEqual(self.run_summary(r)['sent'], 0, r)
        self.assertEqual(len(glob.glob(os.path.join(box, 'new', '*'))), 5)
        self.verify_history()

    def test_disk_full_under_the_spool(self):
        mnt = self.small_disk()
        spool = os.path.join(mnt, 'spool')
        box = self.path('box')
        # a spool moved elsewhere takes its history head with it (README)
        os.mkdir(spool, 0o700)
        shutil.copy2(self.path('spool', 'history.head'), spool)
        self.append_config('\n[store]\nspool = %s\n[email]\nmaildir = %s\n' % (spool, box))
        self.ok('init')
        self.book()
        filler = self.fill(mnt)
        r = self.run_job()
        self.assertEqual(self.sent_rows(), [])
        self.assert_full_then_freed(r, spool, filler, box)

    def test_disk_full_under_the_database(self):
        mnt = self.small_disk('2m')
        self.db = os.path.join(mnt, 'postier.db')
        box = self.path('box')
        self.append_config('\n[store]\ndatabase = %s\n[email]\nmaildir = %s\n' % (self.db, box))
        self.ok('init')
        self.book()
        filler = self.fill(mnt, 64 << 10)  # room to open it (WAL index), not to write
        r = self.run_job()
        self.assertIn('disk full', r.err)
        self.assert_full_then_freed(r, self.db, filler, box)

    def test_imports_on_a_full_disk(self):
        mnt = self.small_disk('2m')
        self.db = os.path.join(mnt, 'postier.db')
        self.append_config('\n[store]\ndatabase = %s\n' % self.db)
        self.ok('init')
        self.book()
        before = self.db_snapshot()
        filler = self.fill(mnt, 64 << 10)  # room to open it (WAL index), not to import
        for args in (['parties', 'import', self.write('p2.csv', MORE_PARTIES)],
                     ['contacts', 'import', self.write('c.csv', CONTACTS)],
                     ['documents', 'import', self.write('d2.csv', MORE_INVOICES),
                      '--type', 'invoice']):
            r = self.run_postier(*args)
            self.assertEqual(r.rc, 75, r)  # all or nothing, and nothing: try again later
            lines = [l for l in r.err.splitlines() if l.strip()]
            self.assertEqual(len(lines), 1, r)
            self.assertIn(self.db, lines[0], r)
            self.assertIn('No space left on device', lines[0], r)
            self.assertIn('nothing imported', lines[0], r)
        os.unlink(filler)
        self.assertEqual(self.db_snapshot(), before)  # nothing half-written
        self.ok('documents', 'import', self.path('d2.csv'), '--type', 'invoice')

    def hold_lock(self):
        con = sqlite3.connect(self.db, timeout=10, isolation_level=None,
                              check_same_thread=False)
        con.execute('BEGIN EXCLUSIVE')
        return con

    def test_database_locked_then_released_in_time(self):
        self.book()
        con = self.hold_lock()
        timer = threading.Timer(1.0, con.rollback)
        timer.start()
        try:
            r = self.run_job(rc=0)
        finally:
            timer.cancel()
            timer.join()
            con.close()
        self.assertEqual(self.run_summary(r)['sent'], 5, r)
        self.assertEqual(len(self.sent_rows()), 5)

    def test_database_locked_throughout(self):
        self.book()
        before = self.db_snapshot()
        con = self.hold_lock()
        try:
            r = self.run_job()
        finally:
            con.rollback()
            con.close()
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn('database is locked by another program', r.err, r)
        self.assertEqual(self.db_snapshot(), before)  # no partial state
        r = self.run_job(rc=0)  # nothing lost
        self.assertEqual(len(self.sent_rows()), 5)
        self.verify_history()


class Upgrade(e2e.PostierCase):
    def test_first_commands_after_an_upgrade_run_together(self):
        """The first night after an upgrade, the nightly run and the
        campaign timer open the old database at once: each migration is
        applied once, and every command succeeds."""
        self.ok('parties', 'import', self.write('p.csv', BOOK))
        # the database as the version before keys left it (schema 11)
        con = sqlite3.connect(self.db)
        con.executescript('DROP TABLE history_keyed;'
                          'DELETE FROM schema_version WHERE version >= 12;')
        con.commit()
        con.close()
        for f in (self.path('history.key'), self.path('spool', 'history.head')):
            os.unlink(f)
        procs = [subprocess.Popen(
            self.postier_argv('contacts', 'add', '--party', 'C1', '--last-name', 'Z%d' % i,
                              '--email', 'z%d@exemple.fr' % i),
            cwd=self.tmp, env=self.postier_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for i in range(12)]
        for p in procs:
            out, err = p.communicate(timeout=e2e.TIMEOUT)
            self.assertEqual(p.returncode, 0, (p.args, err))
        self.assertEqual(self.sql('SELECT version FROM schema_version WHERE version >= 12'),
                         [(12,)])
        self.assertEqual(self.sql("SELECT count(*) FROM contact WHERE last_name LIKE 'Z%'"),
                         [(12,)])


if __name__ == '__main__':
    e2e.main()
