"""Shared helpers for postier's end-to-end tests.

Each test script does:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import e2e

and subclasses e2e.PostierCase: every test method gets a fresh temporary
folder <tmp> with <tmp>/config/postier.ini, `postier init` already run, and
helpers to drive the binary (self.ok, self.fails, self.json...), to set up the
workspace (append_config, write_template, import_invoice_book...), to run and
check the nightly run (run_job, run_summary, history_rows, verify_history,
parse_wire) and to read the database with sqlite3.

Environment: POSTIER is the built binary, POSTIER_SRC the source root (set by
tests/meson.build).  Run with Debian's /usr/bin/python3 (openpyxl).
"""

import csv
import email
import email.policy
import io
import json
import os
import pty
import re
import select
import shlex
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

SRC = os.environ.get('POSTIER_SRC') or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
POSTIER = os.environ.get('POSTIER') or os.path.join(SRC, 'build', 'src', 'postier')
# opt-in: a command the binary runs under, e.g.
# POSTIER_WRAPPER='valgrind -q --error-exitcode=9' (see README, Tests)
WRAPPER = shlex.split(os.environ.get('POSTIER_WRAPPER', ''))
DATA = os.path.join(SRC, 'tests', 'data')
TEMPLATES = os.path.join(SRC, 'templates')  # the shipped templates

TIMEOUT = 600 if WRAPPER else 60

# §8: the canonical contact columns; listings and exports put `id` first.
CONTACT_COLUMNS = (
    'party_ref,type,civility,last_name,first_name,company,department,function,'
    'email,phones,fax,address,postcode,city,country,site,website,note,locale,'
    'display_order,valid_from,valid_until,flags,consents').split(',')
CONTACT_KEYS = ['id'] + CONTACT_COLUMNS
PARTY_COLUMNS = 'ref,kind,name,civility,first_name,last_name,email,phones,locale,client_ref'.split(',')
ADDRESS_COLUMNS = ('party_ref,label,lines,postcode,city,country,contact_name,'
                   'contact_email,contact_phone').split(',')

# §8: the keys of every row of `history list --format json`
HISTORY_KEYS = {'id', 'at', 'event', 'channel', 'address', 'contact_id', 'party_ref',
                'document_ref', 'document_type', 'campaign', 'template', 'template_sha256',
                'message_id', 'reason', 'server_reply', 'consent', 'operator',
                'message_sha256', 'provider_id', 'hash'}
# §6 `run`: the summary line, `run DATE: 3 documents, 6 messages queued, ...`
RUN_SUMMARY_KEYS = ('documents', 'queued', 'sent', 'deferred', 'failed', 'skipped')
RUN_SUMMARY = (r'^run %s: (\d+) documents?, (\d+) messages? queued, (\d+) sent, '
               r'(\d+) deferred, (\d+) failed(?: \([^)]*\))?, (\d+) skipped')
# ...followed, when failed messages wait for `postier retry`, by
RETRY_WAITING = r'^(\d+) failed messages? waits? for `postier retry`$'

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


def csv_text(header, rows):
    """A CSV file's text: the header, then one line per dict of `rows`
    (a missing key is an empty field)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator='\n')
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(k, '') for k in header])
    return out.getvalue()


def free_port():
    """A TCP port of 127.0.0.1 that nobody listens on (just now)."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mid(value):
    """A Message-ID without its angle brackets and spaces."""
    return (value or '').strip().strip('<>').strip()


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

    def postier_argv(self, *args, config=True):
        """The command line of postier ARGS (with --config
        <tmp>/config/postier.ini unless config=False)."""
        return (WRAPPER + [POSTIER] + (['--config', self.config] if config else []) +
                [str(a) for a in args])

    def on_tty(self, argv, answer, env=None):
        """Runs argv with stdin, stdout and stderr on a pseudo-terminal;
        writes answer (bytes, or None: never) when a `[y/N]` question
        appears.  Returns (exit status, text printed, whether answered)."""
        master, slave = pty.openpty()
        p = subprocess.Popen(argv, cwd=self.tmp, env=env or self.postier_env(), stdin=slave,
                             stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        buf, end, answered = b'', time.monotonic() + 20, False
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
            if answer and not answered and b'[y/N]' in buf:
                os.write(master, answer)
                answered = True
            if p.poll() is not None and not r:
                break
        os.close(master)
        try:
            rc = p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail('%s on a terminal did not end:\n%r' % (' '.join(argv), buf))
        return rc, buf.decode('utf-8', 'replace'), answered

    def postier_env(self, env=None):
        """The environment postier runs in: ours without POSTIER_CONFIG,
        LC_ALL C.UTF-8 unless set, then `env`."""
        e = dict(os.environ)
        e.pop('POSTIER_CONFIG', None)
        e.setdefault('LC_ALL', 'C.UTF-8')
        if env:
            e.update(env)
        return e

    def run_postier(self, *args, config=True, env=None, cwd=None, stdin=None):
        """Runs postier (with --config <tmp>/config/postier.ini unless
        config=False) and returns a Result; never raises on exit status."""
        args = [str(a) for a in args]
        argv = self.postier_argv(*args, config=config)
        e = self.postier_env(env)
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

    def json_result(self, *args, **kw):
        """Runs a command with --format json, asserts exit 0 and JSON on
        stdout; returns (the parsed value, the Result)."""
        r = self.ok(*(list(args) + ['--format', 'json']), **kw)
        try:
            v = json.loads(r.out)
        except ValueError as exc:
            self.fail('stdout is not JSON (%s):\n%r' % (exc, r))
        return v, r

    def json(self, *args, **kw):
        """Runs a listing with --format json and returns the parsed array."""
        v, r = self.json_result(*args, **kw)
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

    def import_invoice_book(self, parties, docs):
        """Parties P0000... (client, e-mail accueil<i>@exemple.fr), each with
        two contacts flagged invoice (compta<i>@ and dir<i>@exemple.fr), and
        `docs` invoices F00000... spread over the parties in turn: docs * 2
        messages for `run`."""
        prows = ['ref,kind,name,email'] + [
            'P%04d,client,Client %d,accueil%d@exemple.fr' % (i, i, i) for i in range(parties)]
        contacts = ['party_ref,last_name,first_name,email,flags'] + [
            line for i in range(parties) for line in (
                'P%04d,Martin,Élodie,compta%d@exemple.fr,invoice' % (i, i),
                'P%04d,Lefèvre,Jérôme,dir%d@exemple.fr,invoice|order' % (i, i))]
        drows = ['ref,party_ref,amount,due_date'] + [
            'F%05d,P%04d,%d.50,2026-12-31' % (d, d % parties, d) for d in range(docs)]
        self.ok('parties', 'import', self.write('p.csv', '\n'.join(prows) + '\n'))
        self.ok('contacts', 'import', self.write('c.csv', '\n'.join(contacts) + '\n'))
        self.ok('documents', 'import', self.write('d.csv', '\n'.join(drows) + '\n'),
                '--type', 'invoice')

    # -- the nightly run and the history ------------------------------------

    run_date = None  # the --date of run_job()

    def run_job(self, rc=None):
        """postier run --date <run_date>; asserts exit `rc` unless None."""
        r = self.run_postier('run', '--date', self.run_date)
        if rc is not None:
            self.assertEqual(r.rc, rc, 'expected exit %d:\n%r' % (rc, r))
        return r

    def run_summary_line(self, r):
        """Run's summary line: the last of stdout, or the one before when
        the last says how many failed messages wait for `postier retry`."""
        lines = r.out.strip().splitlines()
        self.assertTrue(lines, 'no summary on stdout:\n%r' % r)
        if len(lines) > 1 and re.match(RETRY_WAITING, lines[-1]):
            lines.pop()
        return lines[-1]

    def run_summary(self, r):
        """The counts of run's summary line (run_summary_line):
        {'documents', 'queued', 'sent', 'deferred', 'failed', 'skipped'}."""
        m = re.match(RUN_SUMMARY % self.run_date, self.run_summary_line(r))
        self.assertTrue(m, 'last line of stdout is not the run summary:\n%r' % r)
        return dict(zip(RUN_SUMMARY_KEYS, map(int, m.groups())))

    def history_rows(self, *filters):
        """history list [FILTERS] --format json, every row with exactly the
        HISTORY_KEYS, in id order."""
        rows = self.json('history', 'list', *filters)
        for h in rows:
            self.assertEqual(set(h), HISTORY_KEYS, h)
        return sorted(rows, key=lambda h: h['id'])

    def verify_history(self):
        """history verify says the chain is intact."""
        self.assertIn('intact', self.ok('history', 'verify').out)

    def parse_wire(self, data):
        """Strict checks of one message's wire bytes (CRLF only, lines of
        998 at most, a 7-bit header, no defect in any part); returns it
        parsed."""
        self.assertNotIn(b'\n', data.replace(b'\r\n', b''), 'bare LF on the wire')
        self.assertNotIn(b'\r', data.replace(b'\r\n', b''), 'bare CR on the wire')
        self.assertTrue(data.endswith(b'\r\n'), data[-40:])
        self.assertLessEqual(max(len(x) for x in data.split(b'\r\n')), 998)
        head = data.split(b'\r\n\r\n', 1)[0]
        self.assertTrue(all(b < 128 for b in head), 'raw 8-bit bytes in the header:\n%r' % head)
        msg = email.message_from_bytes(data, policy=email.policy.default)
        self.assertEqual(msg.defects, [], data[:2000])
        for part in msg.walk():
            self.assertEqual(part.defects, [], part)
        return msg

    # -- files and database -------------------------------------------------

    def read_config(self):
        with open(self.config) as f:
            return f.read()

    def write_config(self, text):
        """Replaces the workspace INI with `text`."""
        with open(self.config, 'w') as f:
            f.write(text)

    def append_config(self, text):
        with open(self.config, 'a') as f:
            f.write(text)

    def write_template(self, folder, name, content):
        """Writes <tmp>/templates/<folder>/<name> (see write) and returns
        its path."""
        return self.write(os.path.join('templates', folder, name), content)

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
