#!/usr/bin/python3
"""End-to-end: files are private (issue 17, point 3).  The database, its
WAL/SHM, the config, the spool and the Maildir are created 0600/0700 (the
Maildir may be 0750/0640) whatever the umask; a config that holds a password
and is readable by others gets a warning from init and every command."""
import os
import stat
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402

BOOK = """ref,kind,name,email
C1,client,Lefèvre SARL,accueil@lefevre.fr
"""
INVOICES = """ref,party_ref,amount
F1,C1,12.50
"""


class Modes(e2e.PostierCase):
    auto_init = False
    run_date = '2026-11-22'

    def with_umask(self, mask, *args):
        old = os.umask(mask)
        try:
            return self.ok(*args)
        finally:
            os.umask(old)

    def check_tree(self, umask):
        """init, an import and a run under `umask`; then every file postier
        made is private."""
        self.with_umask(umask, 'init')
        self.with_umask(umask, 'parties', 'import', self.write('p.csv', BOOK))
        self.with_umask(umask, 'documents', 'import', self.write('d.csv', INVOICES),
                        '--type', 'invoice')
        old = os.umask(umask)
        try:
            r = self.run_job(rc=0)
        finally:
            os.umask(old)
        self.assertEqual(self.run_summary(r)['sent'], 1, r)
        self.with_umask(umask, 'contacts', 'export', '--format', 'csv',
                        '-o', self.path('export.csv'))
        inputs = {self.path(n) for n in ('p.csv', 'd.csv')}
        maildir = self.path('spool', 'sent')
        seen = []
        for root, dirs, files in os.walk(self.tmp):
            if root.startswith(self.path('templates')):
                continue  # copies of the shipped templates: nothing private
            for name in dirs + files:
                p = os.path.join(root, name)
                if p in inputs:
                    continue
                mode = stat.S_IMODE(os.lstat(p).st_mode)
                in_maildir = p.startswith(maildir + os.sep)
                if name in dirs:
                    allowed = (0o700, 0o750) if in_maildir or p == maildir else (0o700,)
                else:
                    allowed = (0o600, 0o640) if in_maildir else (0o600,)
                self.assertIn(mode, allowed, '%s is %o under umask %03o' % (p, mode, umask))
                seen.append(os.path.relpath(p, self.tmp))
        # the files this test is about were all there
        for must in ('postier.db', 'config/postier.ini', 'spool/queue', 'export.csv'):
            self.assertIn(must, seen)
        self.assertTrue([s for s in seen if s.startswith('spool/sent/new/')], seen)

    def test_umask_000(self):
        self.check_tree(0o000)

    def test_umask_022(self):
        self.check_tree(0o022)

    def test_wal_and_shm_are_private(self):
        self.with_umask(0o000, 'init')
        # a reader holding the database open keeps -wal and -shm on disk
        import sqlite3
        con = sqlite3.connect(self.db)
        try:
            con.execute('SELECT count(*) FROM party').fetchall()
            self.with_umask(0o000, 'parties', 'import', self.write('p.csv', BOOK))
            for suffix in ('-wal', '-shm'):
                p = self.db + suffix
                self.assertTrue(os.path.exists(p), p)
                self.assertEqual(stat.S_IMODE(os.stat(p).st_mode), 0o600, p)
            self.assertEqual(stat.S_IMODE(os.stat(self.db).st_mode), 0o600)
        finally:
            con.close()


class PasswordWarning(e2e.PostierCase):
    WARNING = 'holds a password and is readable by others'

    def test_readable_config_with_password_warns(self):
        self.append_config('\n[smtp]\nusername = postier\npassword = s3cret\n')
        os.chmod(self.config, 0o644)
        for args in (('init',), ('types', 'list'), ('contacts', 'list')):
            r = self.ok(*args)
            self.assertIn(self.WARNING, r.err, r)
            self.assertIn('chmod 600', r.err, r)
            self.assertIn(self.config, r.err, r)
            self.assertNotIn('s3cret', r.err + r.out)
        os.chmod(self.config, 0o600)
        r = self.ok('types', 'list')
        self.assertNotIn(self.WARNING, r.err, r)

    def test_sms_token_counts_as_a_password(self):
        self.append_config('\n[sms]\ntoken = abc123\n')
        os.chmod(self.config, 0o640)
        self.assertIn(self.WARNING, self.ok('types', 'list').err)

    def test_readable_config_without_password_is_quiet(self):
        os.chmod(self.config, 0o644)
        r = self.ok('types', 'list')
        self.assertNotIn('warning', r.err, r)


if __name__ == '__main__':
    e2e.main()
