"""Shared helpers for postier's end-to-end tests.

Each test script does:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import e2e

and subclasses e2e.PostierCase: every test method gets a fresh temporary
folder <tmp> with <tmp>/config/postier.ini, `postier init` already run, and
helpers to drive the binary (self.ok, self.fails, self.json...) and to read the
database with sqlite3.

Environment: POSTIER is the built binary, POSTIER_SRC the source root (set by
tests/meson.build).  Run with Debian's /usr/bin/python3 (openpyxl).
"""

import csv
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get('POSTIER_SRC') or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
POSTIER = os.environ.get('POSTIER') or os.path.join(SRC, 'build', 'src', 'postier')
DATA = os.path.join(SRC, 'tests', 'data')

TIMEOUT = 60

# §8: the canonical contact columns; listings and exports put `id` first.
CONTACT_COLUMNS = (
    'party_ref,type,civility,last_name,first_name,company,department,function,'
    'email,phones,fax,address,postcode,city,country,site,website,note,locale,'
    'display_order,valid_from,valid_until,flags,consents').split(',')
CONTACT_KEYS = ['id'] + CONTACT_COLUMNS
PARTY_COLUMNS = 'ref,kind,name,civility,first_name,last_name,email,phones,locale,client_ref'.split(',')
ADDRESS_COLUMNS = ('party_ref,label,lines,postcode,city,country,contact_name,'
                   'contact_email,contact_phone').split(',')

FLAGS = ['invoice', 'payment_reminder', 'due_notice', 'document_reminder',
         'claim_settlement', 'order', 'after_sales', 'receiver']
CONSENTS = ['commercial', 'partner', 'esign', 'sms_marketing']


def data_path(*parts):
    return os.path.join(DATA, *parts)


def blank_contact(**fields):
    """A contact as `contacts list --format json` prints it: every key, null
    when empty, with the given fields set (id must be given)."""
    c = {k: None for k in CONTACT_KEYS}
    for k, v in fields.items():
        if k not in c:
            raise KeyError(k)
        c[k] = v
    return c


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return ('postier %s\n  exit %d\n  stdout: %r\n  stderr: %r'
                % (' '.join(self.args), self.rc, self.out[:2000], self.err[:2000]))


class PostierCase(unittest.TestCase):
    """Base TestCase: a fresh workspace per test method, initialised."""

    maxDiff = None
    auto_init = True

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix='postier-e2e-')
        self.addCleanup(self._tmp.cleanup)
        self.tmp = self._tmp.name
        self.config = os.path.join(self.tmp, 'config', 'postier.ini')
        self.db = os.path.join(self.tmp, 'postier.db')
        if self.auto_init:
            self.ok('init')

    # -- running the binary -------------------------------------------------

    def run_postier(self, *args, config=True, env=None, cwd=None, stdin=None):
        """Runs postier (with --config <tmp>/config/postier.ini unless
        config=False) and returns a Result; never raises on exit status."""
        args = [str(a) for a in args]
        argv = [POSTIER] + (['--config', self.config] if config else []) + args
        e = dict(os.environ)
        e.pop('POSTIER_CONFIG', None)
        e.setdefault('LC_ALL', 'C.UTF-8')
        if env:
            e.update(env)
        p = subprocess.run(argv, cwd=cwd or self.tmp, env=e,
                           input=stdin if stdin is not None else b'',
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=TIMEOUT)
        return Result(args, p.returncode,
                      p.stdout.decode('utf-8', 'replace'),
                      p.stderr.decode('utf-8', 'replace'))

    def ok(self, *args, **kw):
        """Runs postier and asserts exit 0."""
        r = self.run_postier(*args, **kw)
        self.assertEqual(r.rc, 0, 'expected exit 0:\n%r' % r)
        return r

    def fails(self, *args, rc=2, contains=(), **kw):
        """Runs postier, asserts exit `rc` and a `postier: ` message on
        stderr containing every string of `contains`."""
        r = self.run_postier(*args, **kw)
        self.assertEqual(r.rc, rc, 'expected exit %d:\n%r' % (rc, r))
        self.assertRegex(r.err, r'(?m)^postier: ', 'no "postier: " error on stderr:\n%r' % r)
        if isinstance(contains, str):
            contains = (contains,)
        for s in contains:
            self.assertIn(s, r.err, 'stderr should mention %r:\n%r' % (s, r))
        return r

    def json(self, *args, **kw):
        """Runs a listing with --format json and returns the parsed array."""
        r = self.ok(*(list(args) + ['--format', 'json']), **kw)
        try:
            v = json.loads(r.out)
        except ValueError as exc:
            self.fail('stdout is not JSON (%s):\n%r' % (exc, r))
        self.assertIsInstance(v, list, 'JSON output must be one array:\n%r' % r)
        return v

    def contacts(self, *extra):
        return self.json('contacts', 'list', *extra)

    def all_contacts(self):
        return self.json('contacts', 'list', '--all')

    def contact(self, cid):
        v = self.json('contacts', 'show', cid)
        self.assertEqual(len(v), 1, v)
        return v[0]

    def add_contact(self, *args):
        """contacts add ...; asserts `added contact <id>` and returns id."""
        r = self.ok('contacts', 'add', *args)
        m = re.search(r'added contact (\d+)', r.out)
        self.assertTrue(m, 'no "added contact <id>" in stdout:\n%r' % r)
        return int(m.group(1))

    def add_party(self, ref, name, kind='client', *args):
        self.ok('parties', 'add', '--ref', ref, '--kind', kind, '--name', name, *args)

    # -- files and database -------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write(self, name, content, encoding='utf-8'):
        """Writes a test input file in the workspace (str encoded with
        `encoding`, or bytes as is) and returns its path."""
        p = self.path(name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        data = content if isinstance(content, bytes) else content.encode(encoding)
        with open(p, 'wb') as f:
            f.write(data)
        return p

    def read_bytes(self, p):
        with open(p, 'rb') as f:
            return f.read()

    def sql(self, query, params=(), db=None):
        """Runs one SQL statement on the database (committed) and returns
        its rows."""
        con = sqlite3.connect(db or self.db, timeout=10)
        try:
            rows = con.execute(query, params).fetchall()
            con.commit()
            return rows
        finally:
            con.close()

    def party_id(self, ref):
        rows = self.sql('SELECT id FROM party WHERE ref = ?', (ref,))
        self.assertEqual(len(rows), 1, 'party %s not in the database' % ref)
        return rows[0][0]

    def db_snapshot(self):
        """Every row of the tables an import may touch, to prove that a
        failed or dry-run command wrote nothing."""
        snap = {}
        for t in ('party', 'address', 'contact_type', 'contact', 'history'):
            snap[t] = self.sql('SELECT * FROM %s ORDER BY rowid' % t)
        return snap


def parse_csv(text, delimiter=','):
    return list(csv.reader(io.StringIO(text, newline=''), delimiter=delimiter))


def main():
    unittest.main(verbosity=2)
