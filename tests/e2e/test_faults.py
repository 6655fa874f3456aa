#!/usr/bin/python3
"""End-to-end: faults (issue 17, point 8).  A disk that fills up under the
Maildir, and a database locked by another program during `postier run`:
a clear message, a non-zero exit, nothing lost, nothing sent twice.  (The
kill -9 and SMTP fault tests are test_crash.py and test_smtp_crash.py.)"""
import glob
import os
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


class Faults(e2e.PostierCase):
    run_date = '2026-11-22'

    def book(self):
        self.ok('parties', 'import', self.write('p.csv', BOOK))
        self.ok('documents', 'import', self.write('d.csv', INVOICES), '--type', 'invoice')

    def sent_rows(self):
        return [h for h in self.history_rows() if h['event'] == 'sent']

    def test_disk_full_under_the_maildir(self):
        mnt = self.path('small')
        os.mkdir(mnt)
        p = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode:
            self.skipTest('cannot mount a tmpfs here: %s' % p.stdout.decode().strip())
        self.addCleanup(subprocess.run, ['umount', '-l', mnt])
        box = os.path.join(mnt, 'box')
        self.append_config('\n[email]\nmaildir = %s\n[smtp]\nmax_attempts = 1\n' % box)
        self.ok('init')
        self.book()
        filler = os.path.join(mnt, 'filler')
        with open(filler, 'wb', buffering=0) as f:
            try:
                while True:
                    f.write(b'\0' * 4096)
            except OSError:
                pass
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


if __name__ == '__main__':
    e2e.main()
