#!/usr/bin/python3
"""End-to-end: what compliance relies on (SPEC §1 history, §6 `history` and
`registry`, §7 exports, §8 history columns).

A book of two parties, contacts with and without e-mail and mobile,
invoices, orders and due notices (whose template is broken: failed rows),
one service campaign and the nightly run (Maildir for e-mail, a real Kannel
gateway for the invoices' SMS) gives a history of every kind of row.  On it:

  * `history list`: each filter alone (--from/--to inclusive on the UTC
    date, --contact, --party, --document, --type, --campaign, --status,
    --channel) and combined, pagination, bad values (exit 2);
  * `history show`: the table and JSON forms (20 fields), the operator (the
    OS user, or `--operator NAME`), the consent state at send time, the
    gateway's id, the message block whose size and SHA-256 are the Maildir
    file's (or the spooled message's while it is deferred);
  * `message_sha256`: the same on the queued and the sent row, the SHA-256
    of the delivered file;
  * `history export`: CSV (RFC 4180, CRLF, BOM and ';' options, formula
    neutralisation) equal to the list JSON, XLSX read back with openpyxl
    (numbers, real date-times, strings, bold frozen header, autofilter), a
    20,000-row export streamed in constant memory;
  * `history verify`: an altered, deleted, swapped or appended row, the
    operator or message SHA-256 columns altered, each named as the first
    broken row; the chain recomputed by an auditor with nothing but SQLite
    and SHA-256;
  * `history purge`: rows before a date removed, a `purged` row carrying the
    anchor, verify green after it and after new rows, tampering with the
    anchor or the remaining rows caught.

The class `Registry` tests the asset-freeze register (`registry load`,
`registry check`, flagging on save and import, `skipped registry_match` in
runs and campaigns, `contacts clear-registry`).

postier runs with TZ=Pacific/Kiritimati (UTC+14), so that a local date
where a UTC one is due shows.  Some tests re-chain the history with the
auditor's recipe documented in src/audit/audit.c (to spread rows over
several dates, or as a forger would).
"""
import datetime
import getpass
import glob
import hashlib
import hmac
import json
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
import warnings
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import sms_gateway  # noqa: E402
from e2e import csv_text  # noqa: E402

RUN_DATE = '2026-11-23'
# `history list --format json` keys, in the order of the CSV/XLSX columns
LIST_KEYS = ['id', 'at', 'event', 'channel', 'address', 'contact_id', 'party_ref',
             'document_ref', 'document_type', 'campaign', 'template', 'template_sha256',
             'message_id', 'reason', 'server_reply', 'consent', 'operator', 'message_sha256',
             'provider_id', 'hash']
# `history show`: every column, in this order
SHOW_KEYS = ['id', 'at', 'event', 'channel', 'address', 'contact_id', 'party_ref',
             'document_ref', 'document_type', 'campaign', 'template', 'template_sha256',
             'message_id', 'reason', 'server_reply', 'consent', 'operator', 'message_sha256',
             'provider_id', 'hash']
# the columns an auditor hashes (see src/audit/audit.c); the last three only when set
CANON = ['at', 'event', 'channel', 'address', 'contact_id', 'party_ref', 'document_ref',
         'document_type', 'campaign', 'template', 'template_sha256', 'message_id', 'reason',
         'server_reply', 'consent']
CANON_OPTIONAL = ['operator', 'message_sha256', 'provider_id']
# the keyed chain's key and recorded head (issue 17), copied with the database
CHAIN_FILES = [('history.key', ('history.key',)), ('history.head', ('spool', 'history.head'))]
HEX64 = re.compile(r'^[0-9a-f]{64}$')
AT = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
DANGEROUS = ('=', '+', '-', '@', '\t', '\r')
REGISTER = e2e.data_path('registry', 'registre-gels-sample.json')  # the Trésor's shape
# postier runs 14 hours ahead of UTC: `at`, --from/--to and purge dates are UTC
TZ = 'Pacific/Kiritimati'

PARTIES = [
    dict(ref='P1', kind='client', name='Boulangerie Lefèvre', email='accueil@lefevre.fr'),
    dict(ref='P2', kind='client', name='Harbour Ltd', email='accounts@harbour.example'),
]
CONTACTS = [
    # key: the tests' name for the contact
    dict(key='martin', party_ref='P1', last_name='Martin', first_name='Élodie',
         email='compta@lefevre.fr', phones='06 12 34 56 78', flags='invoice|order',
         display_order=1),
    dict(key='lefevre', party_ref='P1', last_name='Lefèvre', first_name='Antoine',
         email='antoine@lefevre.fr', flags='invoice|order|due_notice', display_order=2),
    dict(key='sansmail', party_ref='P1', last_name='Sansmail', first_name='Paul',
         flags='invoice', display_order=3),
    dict(key='whitaker', party_ref='P2', last_name='Whitaker', first_name='James',
         email='james@harbour.example', phones='07 98 76 54 32',
         flags='invoice|order|due_notice', display_order=1),
]
CONTACT_COLS = ['party_ref', 'last_name', 'first_name', 'email', 'phones', 'flags',
                'display_order']
# formula-like refs, and one needing RFC 4180 quoting
INVOICES = [('F1', 'P1'), ('F2', 'P2'), ('=1+1', 'P2')]
ORDERS = [('O1', 'P1'), ('@O2', 'P2'), ('O3,"x"', 'P1')]
DUE = [('-D1', 'P2')]
SMS_TEMPLATE = 'Facture {{doc.ref}} de {{party.name}} : {{doc.amount|money}}'
INFO_TEMPLATE = 'Subject: Information pour {{party.name}}\n\nBonjour {{contact.name}},\n' \
                'nos bureaux seront fermés le 24 décembre.\n'
BROKEN_TEMPLATE = 'Subject: Échéance {{doc.ref}}\n\nBonjour {{contact.frist_name}},\n'


def neutral(v):
    """A CSV cell as §7 writes it: formula-like text prefixed with '."""
    return "'" + v if v[:1] and v[0] in DANGEROUS else v


def cell(v):
    """A list-JSON value as CSV text."""
    return '' if v is None else str(v)


def fold(s):
    """Lowercase, no accents, punctuation as spaces: the set of words."""
    s = unicodedata.normalize('NFKD', s)
    s = ''.join(ch for ch in s if not unicodedata.combining(ch)).lower()
    return frozenset(re.sub(r'[^0-9a-z]+', ' ', s).split())


def os_users():
    """The OS user as a program may see it (login name or password entry)."""
    return {getpass.getuser(), pwd.getpwuid(os.getuid()).pw_name}


def day(d, delta=0):
    return (d + datetime.timedelta(days=delta)).isoformat()


class ComplianceCase(e2e.PostierCase):
    """The workspace: our own templates folder (the shipped e-mail templates,
    an SMS template for invoices, a campaign template `info`, a broken
    due_notice template) and a sender."""

    run_date = RUN_DATE
    global_opts = ()  # put before every command (e.g. --operator NAME)

    def postier_argv(self, *args, config=True):
        argv = super().postier_argv(*args, config=config)
        return argv[:3 if config else 1] + list(self.global_opts) + argv[3 if config else 1:]

    def postier_env(self, env=None):
        e = super().postier_env(env)
        if not (env and 'TZ' in env):
            e['TZ'] = TZ
        return e

    def setUp(self):
        super().setUp()
        self.base_ini = self.read_config()
        self.tdir = self.path('templates')
        for t in os.listdir(e2e.TEMPLATES):
            if t == 'due_notice':
                continue
            for name in os.listdir(os.path.join(e2e.TEMPLATES, t)):
                if name.endswith('.eml.tmpl'):
                    os.makedirs(os.path.join(self.tdir, t), exist_ok=True)
                    shutil.copy(os.path.join(e2e.TEMPLATES, t, name),
                                os.path.join(self.tdir, t, name))
        self.write_template('invoice', 'fr.sms.tmpl', SMS_TEMPLATE)
        self.write_template('info', 'fr.eml.tmpl', INFO_TEMPLATE)
        self.write_template('info', 'en.eml.tmpl', INFO_TEMPLATE)
        for loc in ('fr', 'en'):
            self.write_template('due_notice', '%s.eml.tmpl' % loc, BROKEN_TEMPLATE)
        self.configure()
        self.maildir = self.path('spool', 'sent', 'new')
        self.ids = {}

    def configure(self, sms_url=None):
        ini = self.base_ini + ('\n[store]\ntemplates = %s\n[sender]\nname = Cabinet Durand\n'
                               'email = contact@cabinet-durand.fr\n'
                               '[history]\nretention_min_days = 0\n' % self.tdir)
        if sms_url:
            ini += ('[run]\nsms_types = invoice\n[sms]\ntransport = kannel\nurl = %s\n'
                    'sender = POSTIER\ntimeout = 10\n' % sms_url)
        self.write_config(ini)

    # -- building the book ------------------------------------------------------

    def import_contacts(self, rows, name='contacts.csv'):
        self.ok('contacts', 'import', self.write(name, csv_text(CONTACT_COLS, rows)))

    def import_docs(self, doc_type, docs, name=None):
        self.ok('documents', 'import',
                self.write(name or 'docs-%s.csv' % doc_type,
                           csv_text(['ref', 'party_ref', 'amount'],
                                    [{'ref': r, 'party_ref': p, 'amount': '%d.25' % (10 + i)}
                                     for i, (r, p) in enumerate(docs)])),
                '--type', doc_type)

    def contact_ids(self):
        return {c['last_name']: c['id'] for c in self.all_contacts()}

    def book(self, sms=True, campaign=True, operator=None):
        """The whole book, then the run (and a campaign on P2), every
        command with --operator `operator` when given.  Returns the history
        rows (list JSON, id order)."""
        if operator:
            self.global_opts = ('--operator', operator)
            try:
                return self.book(sms, campaign)
            finally:
                self.global_opts = ()
        if sms:
            gw = sms_gateway.Gateway(self.path('gateway'), mode='kannel').start()
            self.addCleanup(gw.stop)
            self.configure(gw.url)
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email'], PARTIES)))
        self.import_contacts(CONTACTS)
        by_name = self.contact_ids()
        self.ids = {c['key']: by_name[c['last_name']] for c in CONTACTS}
        self.import_docs('invoice', INVOICES)
        self.import_docs('order', ORDERS)
        self.import_docs('due_notice', DUE)
        r = self.run_postier('run', '--date', RUN_DATE)
        self.assertEqual(r.rc, 1, 'the broken due_notice template fails its messages:\n%r' % r)
        if campaign:
            self.ok('campaign', 'new', 'noel', '--template', 'info', '--channel', 'email',
                    '--purpose', 'service', '--party', 'P2')
            self.ok('campaign', 'launch', 'noel', '--yes')
        rows = self.history_rows()
        self.assertTrue(rows)
        return rows

    # -- reading ------------------------------------------------------------------

    def show(self, rid):
        v = self.json('history', 'show', rid)
        self.assertEqual(len(v), 1, v)
        self.assertEqual(set(v[0]), set(SHOW_KEYS), 'history show --format json keys')
        return v[0]

    def maildir_file(self, message_id):
        local = e2e.mid(message_id).split('@')[0]
        return os.path.join(self.maildir, local + '.postier')

    def verify_broken(self, row):
        """history verify exits 1 naming `row` as the first broken one."""
        r = self.run_postier('history', 'verify')
        self.assertEqual(r.rc, 1, 'verify must fail:\n%r' % r)
        m = re.search(r'(?m)^history BROKEN at row (\d+): \S', r.out)
        self.assertTrue(m, 'no "history BROKEN at row K: ..." line:\n%r' % r)
        self.assertEqual(int(m.group(1)), row, 'wrong first broken row:\n%r' % r)
        return r

    def tamper(self, *statements):
        """Runs SQL statements as an attacker with write access would."""
        con = sqlite3.connect(self.db, timeout=10)
        try:
            for s in statements:
                if isinstance(s, tuple):
                    con.execute(*s)
                else:
                    con.execute(s)
            con.commit()
        finally:
            con.close()

    def auditor_chain(self, rehash=False):
        """The chain recomputed with nothing but SQLite and SHA-256 (the
        recipes documented in README "Compliance": keyed HMAC-SHA-256 from
        history_keyed.first_id, the key in history.key), from the purge anchor if
        any.  Returns the ids whose stored hash differs; with rehash=True,
        rewrites every hash instead (a forger re-chaining after editing)."""
        con = sqlite3.connect(self.db, timeout=10)
        try:
            anchor = con.execute('SELECT last_id, last_hash FROM history_anchor').fetchall()
            prev = anchor[0][1] if anchor else '0' * 64
            keyed = con.execute("SELECT first_id FROM history_keyed").fetchall()
            keyed_from = keyed[0][0] if keyed else None
            with open(self.path('history.key')) as f:
                key = bytes.fromhex(f.read().strip())
            cols = CANON + CANON_OPTIONAL
            bad, fixes = [], []
            for row in con.execute('SELECT id, hash, %s FROM history ORDER BY id'
                                   % ', '.join('"%s"' % c for c in cols)).fetchall():
                is_keyed = keyed_from is not None and row[0] >= keyed_from
                text = ('postier-chain 1\n%s\nid=%d\n' % (prev, row[0]) if is_keyed
                        else prev + '\n')
                for name, v in zip(cols, row[2:]):
                    if name in CANON_OPTIONAL and v is None and not is_keyed:
                        continue
                    v = '' if v is None or v == '' or v == 0 else str(v)
                    v = v.replace('\\', '\\\\').replace('\n', '\\n').replace('\r', '\\r')
                    text += name + '=' + v + '\n'
                h = (hmac.new(key, text.encode('utf-8'), hashlib.sha256).hexdigest() if is_keyed
                     else hashlib.sha256(text.encode('utf-8')).hexdigest())
                if h != row[1]:
                    bad.append(row[0])
                    fixes.append((h, row[0]))
                prev = h if rehash else row[1]
            if rehash:
                con.execute('DROP TRIGGER IF EXISTS history_no_update')
                con.executemany('UPDATE history SET hash = ? WHERE id = ?', fixes)
                con.execute('CREATE TRIGGER history_no_update BEFORE UPDATE ON history'
                            "  BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;")
                con.commit()
                # a forger holding the key rewrites the recorded head as well
                head = self.path('spool', 'history.head')
                if fixes and os.path.exists(head):
                    with open(head) as f:
                        line = f.read()
                    m = re.search(r' id=(\d+) ', line)
                    new = dict((rid, h) for h, rid in fixes).get(int(m.group(1)))
                    if new:  # and signs it (README: the head's MAC)
                        line = re.sub(r'hash=[0-9a-f]{64}', 'hash=' + new,
                                      line.strip().split(' mac=')[0])
                        mac = hmac.new(key, line.encode(), hashlib.sha256).hexdigest()
                        with open(head, 'w') as f:
                            f.write('%s mac=%s\n' % (line, mac))
            return bad
        finally:
            con.close()

    def set_dates(self, dates):
        """Gives rows new `at` values {id: 'YYYY-MM-DDTHH:MM:SSZ'} and
        re-chains the whole history (the auditor's recipe), so that verify
        stays green: history with several days in it."""
        self.tamper('DROP TRIGGER history_no_update',
                    *[('UPDATE history SET at = ? WHERE id = ?', (at, rid))
                      for rid, at in dates.items()],
                    'CREATE TRIGGER history_no_update BEFORE UPDATE ON history'
                    "  BEGIN SELECT RAISE(ABORT, 'history is append-only'); END;")
        self.auditor_chain(rehash=True)
        self.verify_history()


# ---------------------------------------------------------------------------------
# history list: the filters


class HistoryList(ComplianceCase):
    def test_book_rows_and_keys(self):
        fmt = '%Y-%m-%dT%H:%M:%SZ'
        start = (datetime.datetime.now(datetime.timezone.utc) -
                 datetime.timedelta(seconds=2)).strftime(fmt)
        rows = self.book()
        end = (datetime.datetime.now(datetime.timezone.utc) +
               datetime.timedelta(seconds=2)).strftime(fmt)
        for h in rows:
            self.assertEqual(set(h), set(LIST_KEYS), 'JSON keys')
            self.assertIsInstance(h['id'], int)
            self.assertTrue(h['contact_id'] is None or isinstance(h['contact_id'], int), h)
            self.assertRegex(h['at'], AT)
            self.assertTrue(start <= h['at'] <= end,
                            'at is not the UTC time of the run (%s..%s): %r' % (start, end, h))
            self.assertRegex(h['hash'], HEX64)
        self.assertEqual([h['id'] for h in rows], list(range(1, len(rows) + 1)))
        kinds = {(h['event'], h['channel']) for h in rows}
        for k in [('queued', 'email'), ('sent', 'email'), ('skipped', 'email'),
                  ('failed', 'email'), ('queued', 'sms'), ('sent', 'sms')]:
            self.assertIn(k, kinds, 'the book should give %s rows' % (k,))
        self.assertIn(('skipped', 'no_email', self.ids['sansmail']),
                      {(h['event'], h['reason'], h['contact_id']) for h in rows})
        self.assertTrue(all(h['reason'] == 'template' for h in rows if h['event'] == 'failed'))
        self.assertEqual({h['document_ref'] for h in rows if h['event'] == 'failed'}, {'-D1'})
        self.assertEqual({h['address'] for h in rows if h['channel'] == 'sms'
                          and h['event'] == 'sent'}, {'+33612345678', '+33798765432'})
        self.assertTrue([h for h in rows if h['campaign'] == 'noel' and h['event'] == 'sent'])

    def check_filter(self, rows, args, pred, min_rows=1):
        """history list ARGS gives exactly the rows of `rows` matching pred,
        in id order, at least min_rows of them and not all."""
        args = [str(a) for a in args]
        want = [h for h in rows if pred(h)]
        got = self.history_rows(*args)
        self.assertEqual([h['id'] for h in got], [h['id'] for h in want],
                         'history list %s' % ' '.join(args))
        self.assertEqual(got, want)
        self.assertGreaterEqual(len(want), min_rows, 'filter %s: too few rows' % (args,))
        if min_rows:
            self.assertLess(len(want), len(rows), 'filter %s selects everything' % (args,))
        return got

    def test_each_filter_alone(self):
        rows = self.book()
        ids = self.ids
        got = self.check_filter(rows, ['--contact', ids['martin']],
                                lambda h: h['contact_id'] == ids['martin'], 6)
        self.assertEqual({h['channel'] for h in got}, {'email', 'sms'})
        self.check_filter(rows, ['--contact', ids['sansmail']],
                          lambda h: h['contact_id'] == ids['sansmail'])
        got = self.check_filter(rows, ['--party', 'P1'], lambda h: h['party_ref'] == 'P1', 8)
        self.assertEqual({h['document_ref'] for h in got}, {'F1', 'O1', 'O3,"x"'})
        self.check_filter(rows, ['--party', 'P2'], lambda h: h['party_ref'] == 'P2', 8)
        self.check_filter(rows, ['--party', 'P3'], lambda h: False, 0)
        got = self.check_filter(rows, ['--document', 'F1'],
                                lambda h: h['document_ref'] == 'F1', 4)
        self.assertEqual({h['document_type'] for h in got}, {'invoice'})
        self.check_filter(rows, ['--document', '=1+1'], lambda h: h['document_ref'] == '=1+1')
        self.check_filter(rows, ['--document', 'O3,"x"'],
                          lambda h: h['document_ref'] == 'O3,"x"')
        self.check_filter(rows, ['--document', 'F'], lambda h: False, 0)  # exact, not a prefix
        self.check_filter(rows, ['--type', 'invoice'],
                          lambda h: h['document_type'] == 'invoice', 10)
        self.check_filter(rows, ['--type', 'order'], lambda h: h['document_type'] == 'order', 6)
        self.check_filter(rows, ['--type', 'due_notice'],
                          lambda h: h['document_type'] == 'due_notice')
        got = self.check_filter(rows, ['--campaign', 'noel'], lambda h: h['campaign'] == 'noel', 2)
        self.assertEqual({h['event'] for h in got}, {'queued', 'sent'})
        self.check_filter(rows, ['--campaign', 'nope'], lambda h: False, 0)
        for ev in ('queued', 'sent', 'skipped', 'failed'):
            self.check_filter(rows, ['--status', ev], lambda h, ev=ev: h['event'] == ev)
        self.check_filter(rows, ['--status', 'bounced'], lambda h: False, 0)
        got = self.check_filter(rows, ['--channel', 'sms'], lambda h: h['channel'] == 'sms', 4)
        self.assertTrue(all(a.startswith('+') for a in
                            (h['address'] for h in got if h['event'] == 'sent')))
        self.check_filter(rows, ['--channel', 'email'], lambda h: h['channel'] == 'email', 10)

    def test_filters_combined(self):
        rows = self.book()
        ids = self.ids
        self.check_filter(rows, ['--party', 'P1', '--type', 'invoice', '--status', 'sent',
                                 '--channel', 'email'],
                          lambda h: (h['party_ref'], h['document_type'], h['event'],
                                     h['channel']) == ('P1', 'invoice', 'sent', 'email'), 2)
        self.check_filter(rows, ['--contact', ids['martin'], '--channel', 'sms'],
                          lambda h: h['contact_id'] == ids['martin'] and h['channel'] == 'sms',
                          2)
        self.check_filter(rows, ['--document', 'F2', '--status', 'queued'],
                          lambda h: h['document_ref'] == 'F2' and h['event'] == 'queued', 2)
        self.check_filter(rows, ['--campaign', 'noel', '--status', 'sent',
                                 '--contact', ids['whitaker']],
                          lambda h: (h['campaign'], h['event'], h['contact_id']) ==
                          ('noel', 'sent', ids['whitaker']), 1)
        self.check_filter(rows, ['--party', 'P2', '--type', 'due_notice', '--status', 'failed'],
                          lambda h: (h['party_ref'], h['document_type'], h['event']) ==
                          ('P2', 'due_notice', 'failed'), 1)
        # contradictory filters: nothing
        self.check_filter(rows, ['--party', 'P1', '--document', 'F2'], lambda h: False, 0)
        self.check_filter(rows, ['--type', 'order', '--channel', 'sms'], lambda h: False, 0)
        # with the dates of today (UTC) the same
        d = {h['at'][:10] for h in rows}
        self.assertEqual(len(d), 1, 'the book was written within one UTC day')
        d = d.pop()
        self.check_filter(rows, ['--from', d, '--to', d, '--party', 'P2', '--status', 'sent'],
                          lambda h: h['party_ref'] == 'P2' and h['event'] == 'sent', 3)

    def test_campaign_rows_keep_their_party(self):
        # every row of a campaign message to a contact of P2 is found by --party P2
        rows = self.book(sms=False)
        camp = [h for h in rows if h['campaign'] == 'noel']
        self.assertEqual({h['event'] for h in camp}, {'queued', 'sent'})
        for h in camp:
            self.assertEqual(h['party_ref'], 'P2',
                             'campaign %s row %d has no party_ref: %r' % (h['event'], h['id'], h))
        got = {h['id'] for h in self.history_rows('--party', 'P2', '--campaign', 'noel')}
        self.assertEqual(got, {h['id'] for h in camp})

    def test_dates_today_are_inclusive(self):
        rows = self.book(sms=False, campaign=False)
        d = datetime.date.fromisoformat(rows[0]['at'][:10])
        self.assertEqual({h['at'][:10] for h in rows}, {d.isoformat()})
        everything = [h['id'] for h in rows]
        for args in (['--from', day(d)], ['--to', day(d)], ['--from', day(d), '--to', day(d)],
                     ['--from', day(d, -1), '--to', day(d, 1)]):
            self.assertEqual([h['id'] for h in self.history_rows(*args)], everything, args)
        for args in (['--from', day(d, 1)], ['--to', day(d, -1)],
                     ['--from', day(d, 1), '--to', day(d, 2)]):
            self.assertEqual(self.history_rows(*args), [], args)

    def test_dates_boundaries(self):
        rows = self.book(sms=False, campaign=False)
        self.assertGreaterEqual(len(rows), 8)
        # spread the rows over several days (re-chained: verify stays green)
        stamps = ['2026-01-31T23:59:59Z', '2026-02-01T00:00:00Z', '2026-02-01T12:00:00Z',
                  '2026-02-28T23:59:59Z', '2026-03-01T00:00:00Z', '2026-03-01T00:00:01Z',
                  '2026-03-15T08:00:00Z']
        ids = [h['id'] for h in rows]
        dates = dict(zip(ids, stamps))
        self.set_dates(dates)
        rows = self.history_rows()
        by = {h['id']: h['at'] for h in rows}
        self.assertEqual({i: by[i] for i in dates}, dates)

        def between(a, b):
            return [h['id'] for h in rows if a <= h['at'][:10] <= b]

        for a, b in [('2026-02-01', '2026-02-28'), ('2026-01-31', '2026-01-31'),
                     ('2026-02-01', '2026-02-01'), ('2026-02-28', '2026-03-01'),
                     ('2026-03-02', '2026-03-14'), ('2026-01-01', '2026-12-31')]:
            got = [h['id'] for h in self.history_rows('--from', a, '--to', b)]
            self.assertEqual(got, between(a, b), '--from %s --to %s' % (a, b))
        self.assertEqual([h['id'] for h in self.history_rows('--from', '2026-02-01', '--to',
                                                              '2026-02-28')], ids[1:4])
        self.assertEqual([h['id'] for h in self.history_rows('--to', '2026-02-01')], ids[:3])
        self.assertEqual([h['id'] for h in self.history_rows('--from', '2026-03-01')],
                         ids[4:])
        # dates with other filters
        got = self.history_rows('--from', '2026-03-01', '--status', 'queued')
        self.assertEqual([h['id'] for h in got],
                         [h['id'] for h in rows if h['at'] >= '2026-03-01'
                          and h['event'] == 'queued'])

    def test_pagination_and_formats(self):
        rows = self.book(sms=False)
        n = len(rows)
        self.assertGreater(n, 6)
        page2 = self.history_rows('--per-page', '3', '--page', '2')
        self.assertEqual(page2, rows[3:6])
        # csv lists every row, like the export
        r = self.ok('history', 'list', '--format', 'csv')
        table = e2e.parse_csv(r.out)
        self.assertEqual(table[0], LIST_KEYS)
        self.assertEqual(table[1:], [[neutral(cell(h[k])) for k in LIST_KEYS] for h in rows])
        # a table paginates and tells how many rows match
        r = self.ok('history', 'list', '--status', 'sent')
        sent = [h for h in rows if h['event'] == 'sent']
        self.assertRegex(r.out, r'\b%d rows\b' % len(sent))
        for h in sent:
            self.assertRegex(r.out, r'(?m)^\s*%d\s+\d{4}-' % h['id'])
        for h in rows:
            if h['event'] != 'sent':
                self.assertNotRegex(r.out, r'(?m)^\s*%d\s+\d{4}-' % h['id'])
        # a table page
        r = self.ok('history', 'list', '--per-page', '4', '--page', '2')
        shown = [int(x) for x in re.findall(r'(?m)^\s*(\d+)\s+\d{4}-\d\d-\d\dT', r.out)]
        self.assertEqual(shown, [h['id'] for h in rows[4:8]], r.out)
        self.assertRegex(r.out, r'\b%d rows\b' % n)

    def test_bad_filters_exit_2(self):
        self.book(sms=False, campaign=False)
        for args in (['--from', '2026-13-01'], ['--to', '2026-02-30'], ['--from', 'yesterday'],
                     ['--channel', 'fax'], ['--contact', 'abc']):
            self.fails('history', 'list', *args)
            self.fails('history', 'export', '--format', 'csv', '-o', self.path('x.csv'), *args)
            self.assertFalse(os.path.exists(self.path('x.csv')))


# ---------------------------------------------------------------------------------
# history show, operator, message SHA-256


class HistoryShow(ComplianceCase):
    def parse_table(self, out):
        """The `name value` lines of history show (table)."""
        lines = out.split('\n')
        fields = {}
        for i, name in enumerate(SHOW_KEYS):
            m = re.match(r'^(\S+)(?: +(.*))?$', lines[i])
            self.assertTrue(m, 'line %d of history show: %r' % (i + 1, lines[i]))
            self.assertEqual(m.group(1), name, 'line %d of history show' % (i + 1))
            fields[name] = (m.group(2) or '').rstrip()
        return fields, '\n'.join(lines[len(SHOW_KEYS):])

    def test_show_table_and_json(self):
        rows = self.book(sms=True)
        users = os_users()
        sample = {}
        for h in rows:  # one row of each kind
            sample.setdefault((h['event'], h['channel'], h['campaign'], h['reason']), h)
        self.assertGreaterEqual(len(sample), 8)
        for h in sample.values():
            full = self.show(h['id'])
            for k in LIST_KEYS:
                self.assertEqual(full[k], h[k], 'row %d %s' % (h['id'], k))
            self.assertIsInstance(full['id'], int)
            self.assertTrue(full['contact_id'] is None or isinstance(full['contact_id'], int))
            self.assertIn(full['operator'], users, 'default operator: the OS user')
            r = self.ok('history', 'show', h['id'])
            fields, _ = self.parse_table(r.out)
            for k in SHOW_KEYS:
                self.assertEqual(fields[k], cell(full[k]), 'row %d: table %s' % (h['id'], k))
            self.assertEqual(cell(full['consent']), '', 'transactional rows need no consent')
            if h['event'] in ('queued', 'sent'):
                self.assertRegex(full['message_sha256'] or '', HEX64, full)
        self.fails('history', 'show', 999999)
        self.fails('history', 'show', 999999, '--format', 'json')
        self.fails('history', 'show', 'abc')
        self.fails('history', 'show')

    def test_operator_option(self):
        self.book(sms=False, campaign=False, operator='alice')
        rows = self.history_rows()
        for h in rows:
            self.assertEqual(self.show(h['id'])['operator'], 'alice', h)
        # the next process without --operator: the OS user again
        self.import_docs('invoice', [('F9', 'P2')], name='more.csv')
        self.ok('run', '--date', RUN_DATE)
        new = [h for h in self.history_rows() if h['id'] > rows[-1]['id']]
        self.assertTrue(new)
        for h in new:
            self.assertIn(self.show(h['id'])['operator'], os_users(), h)
        # and a campaign launched by bob
        self.ok('--operator', 'bob', 'campaign', 'new', 'noel', '--template', 'info',
                '--channel', 'email', '--purpose', 'service', '--party', 'P1')
        self.ok('--operator', 'bob', 'campaign', 'launch', 'noel', '--yes')
        camp = self.history_rows('--campaign', 'noel')
        self.assertTrue(camp)
        for h in camp:
            self.assertEqual(self.show(h['id'])['operator'], 'bob', h)
        # the operator is part of the chain
        self.verify_history()
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET operator = 'mallory' WHERE id = %d" % camp[0]['id'])
        self.verify_broken(camp[0]['id'])

    def test_message_block_and_sha256(self):
        rows = self.book(sms=True)
        mails = [h for h in rows if h['channel'] == 'email' and h['event'] in ('queued', 'sent')]
        self.assertGreaterEqual(len(mails), 10)
        seen = {}
        for h in mails:
            path = self.maildir_file(h['message_id'])
            self.assertTrue(os.path.exists(path), 'no Maildir file for %r' % h)
            data = self.read_bytes(path)
            sha = hashlib.sha256(data).hexdigest()
            full = self.show(h['id'])
            self.assertEqual(full['message_sha256'], sha,
                             'row %d (%s): message_sha256 is not the delivered file\'s'
                             % (h['id'], h['event']))
            seen.setdefault(h['message_id'], {})[h['event']] = full['message_sha256']
            if h['event'] == 'queued' and len(seen) > 2:
                continue  # the block of every sent row, of a few queued ones
            size, shown_sha, shown = self.message_block(h['id'])
            self.assertEqual(size, len(data))
            self.assertEqual(shown_sha, sha)
            self.assertTrue(shown.startswith(data),
                            'the message shown is not the delivered bytes (row %d)' % h['id'])
        for message_id, by in seen.items():
            self.assertEqual(set(by), {'queued', 'sent'}, message_id)
            self.assertEqual(by['queued'], by['sent'], message_id)
        # SMS: the same SHA-256 on the queued and the sent row, too
        sms = [h for h in rows if h['channel'] == 'sms' and h['event'] in ('queued', 'sent')]
        self.assertTrue(sms)
        by = {}
        for h in sms:
            v = self.show(h['id'])['message_sha256']
            self.assertRegex(v or '', HEX64, 'SMS row %d without message_sha256' % h['id'])
            by.setdefault(h['message_id'], set()).add(v)
        for message_id, v in by.items():
            self.assertEqual(len(v), 1, 'queued and sent SMS rows differ: %s' % message_id)
        # no message_sha256 and no message block where no message was made
        skipped = [h for h in rows if h['event'] == 'skipped']
        self.assertTrue(skipped)
        for h in skipped[:3]:
            self.assertIsNone(self.show(h['id'])['message_sha256'], h)
            r = self.ok('history', 'show', h['id'])
            self.assertNotIn('\nmessage (', r.out)
        # once the message is gone from the Maildir, no block (and no error)
        h = [x for x in mails if x['event'] == 'sent'][0]
        os.unlink(self.maildir_file(h['message_id']))
        r = self.ok('history', 'show', h['id'])
        self.assertNotRegex(r.out, r'(?m)^message \(')
        self.assertRegex(self.show(h['id'])['message_sha256'], HEX64)

    def message_block(self, rid):
        """(size, sha256, the bytes shown) of history show ID's message block."""
        r = self.ok('history', 'show', rid)
        raw = r.out.encode('utf-8')
        m = re.search(rb'(?m)^message \((\d+) bytes, SHA-256 ([0-9a-f]{64})\):\n', raw)
        self.assertTrue(m, 'no message block for row %s:\n%r' % (rid, r))
        return int(m.group(1)), m.group(2).decode(), raw[m.end():]

    def test_message_block_from_the_spool(self):
        # an unreachable SMTP server: the message stays deferred in the spool
        self.append_config('\n[email]\ntransport = smtp\n[smtp]\nurl = smtp://127.0.0.1:%d\n'
                           'max_attempts = 1\ntimeout = 5\n' % e2e.free_port())
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email'], PARTIES)))
        self.import_docs('invoice', [('F1', 'P1')])
        r = self.run_postier('run', '--date', RUN_DATE)
        self.assertEqual(r.rc, 75, r)  # deferred: EX_TEMPFAIL
        rows = [h for h in self.history_rows() if h['message_id']]
        self.assertEqual([h['event'] for h in rows], ['queued', 'deferred'], rows)
        queued = self.show(rows[0]['id'])
        self.assertRegex(queued['message_sha256'] or '', HEX64)
        size, sha, shown = self.message_block(rows[0]['id'])
        self.assertEqual(sha, queued['message_sha256'])
        self.assertEqual(len(shown) >= size and hashlib.sha256(shown[:size]).hexdigest(), sha,
                         'the message shown from the spool is not the one hashed')
        self.assertIn(b'Message-ID: ' + rows[0]['message_id'].encode(), shown[:size])
        # delivered later (Maildir): the sent row has the same SHA-256, the file's
        self.write_config(self.read_config().replace('transport = smtp', 'transport = maildir'))
        self.ok('run', '--date', RUN_DATE)
        sent = [h for h in self.history_rows() if h['event'] == 'sent']
        self.assertEqual(len(sent), 1)
        data = self.read_bytes(self.maildir_file(sent[0]['message_id']))
        self.assertEqual(self.show(sent[0]['id'])['message_sha256'],
                         hashlib.sha256(data).hexdigest())
        self.assertEqual(hashlib.sha256(data).hexdigest(), queued['message_sha256'],
                         'the message delivered is not the one queued')
        self.assertEqual(self.message_block(sent[0]['id'])[1], queued['message_sha256'])

    def test_consent_at_send_time(self):
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email'], PARTIES)))
        self.ok('contacts', 'import', self.write('c.csv', csv_text(
            ['party_ref', 'last_name', 'first_name', 'email', 'consents'],
            [dict(party_ref='P1', last_name='Martin', first_name='Élodie',
                  email='elodie@lefevre.fr', consents='commercial|esign'),
             dict(party_ref='P1', last_name='Durand', first_name='Luc',
                  email='luc@lefevre.fr', consents='')])))
        ids = self.contact_ids()
        self.ok('campaign', 'new', 'promo', '--template', 'info', '--channel', 'email',
                '--purpose', 'commercial', '--party', 'P1')
        self.ok('campaign', 'launch', 'promo', '--yes')
        rows = self.history_rows('--campaign', 'promo')
        mine = [h for h in rows if h['contact_id'] == ids['Martin']]
        self.assertEqual([h['event'] for h in mine], ['queued', 'sent'])
        for h in mine:
            self.assertEqual(set((self.show(h['id'])['consent'] or '').split('|')),
                             {'commercial', 'esign'}, 'the consent state used: %r' % h)
        other = [h for h in rows if h['contact_id'] == ids['Durand']]
        self.assertEqual([(h['event'], h['reason']) for h in other],
                         [('skipped', 'no_consent:commercial')])
        # the contact withdraws later: the history keeps the state at send time
        self.ok('contacts', 'edit', ids['Martin'], '--consents', '')
        for h in mine:
            self.assertIn('commercial', self.show(h['id'])['consent'] or '')
        self.verify_history()
        # and the consent is part of the chain
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET consent = 'esign' WHERE id = %d" % mine[0]['id'])
        self.verify_broken(mine[0]['id'])

    def test_provider_id_of_the_gateway(self):
        gw = sms_gateway.Gateway(self.path('gateway'), mode='json').start()
        self.addCleanup(gw.stop)
        self.write_config(self.base_ini + (
            '\n[store]\ntemplates = %s\n[run]\nsms_types = invoice\n[sms]\ntransport = json\n'
            'url = %s\nsender = POSTIER\ntimeout = 10\n' % (self.tdir, gw.url)))
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email'], PARTIES)))
        self.import_contacts([c for c in CONTACTS if c['key'] in ('martin', 'whitaker')])
        self.import_docs('invoice', [('F1', 'P1'), ('F2', 'P2')])
        self.ok('run', '--date', RUN_DATE)
        self.assertEqual(len(gw.accepted()), 2)
        replies = {json.loads(q['reply'])['id'] for q in gw.accepted()}
        self.assertEqual(replies, {'gw-1', 'gw-2'})
        sent = self.history_rows('--channel', 'sms', '--status', 'sent')
        self.assertEqual(len(sent), 2)
        self.assertEqual({self.show(h['id'])['provider_id'] for h in sent}, replies)
        by_number = {q['to']: json.loads(q['reply'])['id'] for q in gw.accepted()}
        for h in sent:
            self.assertEqual(self.show(h['id'])['provider_id'], by_number[h['address']])
        for h in self.history_rows('--channel', 'sms', '--status', 'queued'):
            self.assertIsNone(self.show(h['id'])['provider_id'])
        self.verify_history()
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET provider_id = 'gw-99' WHERE id = %d" % sent[0]['id'])
        self.verify_broken(sent[0]['id'])

    def test_message_sha256_in_chain(self):
        rows = self.book(sms=False, campaign=False)
        sent = [h for h in rows if h['event'] == 'sent'][0]
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET message_sha256 = '%s' WHERE id = %d"
                    % ('0' * 64, sent['id']))
        self.verify_broken(sent['id'])


# ---------------------------------------------------------------------------------
# history export


class HistoryExport(ComplianceCase):
    def export(self, fmt, name, *args):
        out = self.path(name)
        r = self.ok('history', 'export', '--format', fmt, '-o', out, *args)
        return out, r

    def test_csv_equals_list(self):
        rows = self.book()
        out, r = self.export('csv', 'h.csv')
        self.assertEqual(r.out.strip(), 'exported %d history rows to %s' % (len(rows), out))
        raw = self.read_bytes(out)
        self.assertFalse(raw.startswith(b'\xef\xbb\xbf'), 'BOM without --bom')
        self.assertTrue(raw.endswith(b'\r\n'))
        self.assertNotIn(b'\n', raw.replace(b'\r\n', b''), 'records end with CRLF')
        table = e2e.parse_csv(raw.decode('utf-8'))
        self.assertEqual(table[0], LIST_KEYS)
        self.assertEqual(len(table) - 1, len(rows))
        self.assertEqual(table[1:], [[neutral(cell(h[k])) for k in LIST_KEYS] for h in rows])
        # RFC 4180 quoting of the ref with a comma and quotes
        self.assertIn(b'"O3,""x"""', raw)
        # formula neutralisation: = @ - refs
        docs = {row[LIST_KEYS.index('document_ref')] for row in table[1:]}
        self.assertTrue({"'=1+1", "'@O2", "'-D1"} <= docs, docs)
        self.assertFalse({'=1+1', '@O2', '-D1'} & docs, docs)
        # SMS numbers start with '+': neutralised too
        addrs = {row[LIST_KEYS.index('address')] for row in table[1:]}
        self.assertIn("'+33612345678", addrs)
        self.assertFalse([a for a in addrs if a[:1] in DANGEROUS], addrs)

    def test_csv_filters_bom_separator(self):
        rows = self.book()
        want = [h for h in rows if h['party_ref'] == 'P2' and h['event'] in ('sent',)]
        self.assertGreaterEqual(len(want), 3)
        out, r = self.export('csv', 'x.csv', '--party', 'P2', '--status', 'sent', '--bom',
                             '--separator', ';')
        self.assertEqual(r.out.strip(), 'exported %d history rows to %s' % (len(want), out))
        raw = self.read_bytes(out)
        self.assertTrue(raw.startswith(b'\xef\xbb\xbfid;at;event;'), raw[:40])
        table = e2e.parse_csv(raw[3:].decode('utf-8'), delimiter=';')
        self.assertEqual(table[0], LIST_KEYS)
        self.assertEqual(table[1:], [[neutral(cell(h[k])) for k in LIST_KEYS] for h in want])
        # every list filter works in export (same rows as list)
        for args in (['--channel', 'sms'], ['--type', 'order'], ['--campaign', 'noel'],
                     ['--document', '=1+1'], ['--contact', self.ids['martin']],
                     ['--from', rows[0]['at'][:10], '--to', rows[0]['at'][:10],
                      '--status', 'failed']):
            listed = self.history_rows(*args)
            self.assertTrue(listed, args)
            out, r = self.export('csv', 'f.csv', *args)
            self.assertIn('exported %d history rows' % len(listed), r.out)
            table = e2e.parse_csv(self.read_bytes(out).decode('utf-8'))
            self.assertEqual([int(x[0]) for x in table[1:]], [h['id'] for h in listed], args)
        # nothing matching: a header only
        out, r = self.export('csv', 'none.csv', '--party', 'NOPE')
        self.assertIn('exported 0 history rows', r.out)
        self.assertEqual(e2e.parse_csv(self.read_bytes(out).decode('utf-8')), [LIST_KEYS])

    def test_export_usage(self):
        self.book(sms=False, campaign=False)
        self.fails('history', 'export', '--format', 'csv')
        self.fails('history', 'export', '-o', self.path('x.pdf'), '--format', 'pdf')
        self.assertFalse(os.path.exists(self.path('x.pdf')))

    def test_xlsx(self):
        import openpyxl
        rows = self.book()
        out, r = self.export('xlsx', 'h.xlsx')
        self.assertEqual(r.out.strip(), 'exported %d history rows to %s' % (len(rows), out))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            wb = openpyxl.load_workbook(out)
        self.assertEqual([str(w.message) for w in caught], [], 'openpyxl warnings')
        ws = wb.worksheets[0]
        self.assertEqual([c.value for c in ws[1]], LIST_KEYS)
        self.assertTrue(all(c.font.b for c in ws[1]), 'the header is bold')
        self.assertFalse(any(c.font.b for c in ws[2]), 'data rows are not bold')
        self.assertEqual(ws.freeze_panes, 'A2')
        self.assertEqual(ws.auto_filter.ref, 'A1:T%d' % (len(rows) + 1))
        self.assertEqual(ws.max_row, len(rows) + 1)
        self.assertEqual(ws.max_column, len(LIST_KEYS))
        widths = [ws.column_dimensions[openpyxl.utils.get_column_letter(i + 1)].width
                  for i in range(len(LIST_KEYS))]
        self.assertGreater(widths[LIST_KEYS.index('hash')], widths[LIST_KEYS.index('id')],
                           'sensible widths: %r' % widths)
        for h, xrow in zip(rows, ws.iter_rows(min_row=2)):
            for k, c in zip(LIST_KEYS, xrow):
                v = h[k]
                if k in ('id', 'contact_id') and v is not None:
                    self.assertEqual(c.data_type, 'n', (k, c.value))
                    self.assertEqual(c.value, v)
                elif k == 'at':
                    self.assertEqual(c.data_type, 'd', (k, c.value))
                    self.assertIsInstance(c.value, datetime.datetime)
                    self.assertEqual(c.value.strftime('%Y-%m-%dT%H:%M:%SZ'), v)
                    self.assertTrue(c.number_format and c.number_format != 'General',
                                    c.number_format)
                elif v is None:
                    self.assertIsNone(c.value, (h['id'], k))
                else:
                    self.assertEqual(c.data_type, 's', (h['id'], k, c.value))
                    self.assertIn(c.value, (v, "'" + v) if v[:1] in DANGEROUS else (v,),
                                  (h['id'], k))
        sms = [c.value for c in ws['E'][1:] if c.value and c.value.lstrip("'").startswith('+')]
        self.assertTrue(sms, 'SMS addresses are strings in the XLSX')
        self.assertIn(sms[0].lstrip("'"), ('+33612345678', '+33798765432'))
        # filters apply
        out, r = self.export('xlsx', 'sms.xlsx', '--channel', 'sms', '--status', 'sent')
        want = [h for h in rows if h['channel'] == 'sms' and h['event'] == 'sent']
        ws = openpyxl.load_workbook(out).worksheets[0]
        self.assertEqual([c.value for c in ws['A'][1:]], [h['id'] for h in want])
        self.assertEqual(ws.auto_filter.ref, 'A1:T%d' % (len(want) + 1))

class LargeExport(ComplianceCase):
    """20,000 rows.  The workspace goes to /dev/shm when it is a writable
    tmpfs: 10,000 Maildir files are slow to remove on some disks."""

    def setUp(self):
        saved = tempfile.tempdir
        if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK | os.X_OK):
            tempfile.tempdir = '/dev/shm'
        try:
            super().setUp()
        finally:
            tempfile.tempdir = saved

    def test_large_export_streamed(self):
        import openpyxl
        self.import_invoice_book(50, 5000)   # 10,000 messages: 20,000 rows
        self.ok('run', '--date', RUN_DATE)
        n = self.sql('SELECT count(*) FROM history')[0][0]
        self.assertGreaterEqual(n, 20000)
        one = len(self.history_rows('--document', 'F00001'))
        self.assertEqual(one, 4)
        peaks = {}
        for fmt in ('csv', 'xlsx'):
            for name, args in (('all', []), ('one', ['--document', 'F00001'])):
                out = self.path('%s-%s.%s' % (name, fmt, fmt))
                argv = self.postier_argv('history', 'export', '--format', fmt, '-o', out, *args)
                env = self.postier_env()
                # under AddressSanitizer freed memory waits in a quarantine
                # (256 MB by default): without it, RSS measures the program
                env['ASAN_OPTIONS'] = (env.get('ASAN_OPTIONS', '') +
                                       ':quarantine_size_mb=0').lstrip(':')
                p = subprocess.Popen(argv, env=env, cwd=self.tmp,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                _, status, ru = os.wait4(p.pid, 0)
                p.returncode = os.waitstatus_to_exitcode(status)
                so, se = p.stdout.read().decode(), p.stderr.read().decode()
                p.stdout.close()
                p.stderr.close()
                self.assertEqual(p.returncode, 0, se)
                self.assertIn('exported %d history rows' % (n if name == 'all' else one), so)
                peaks[fmt, name] = ru.ru_maxrss
        for fmt in ('csv', 'xlsx'):
            self.assertLess(peaks[fmt, 'all'] - peaks[fmt, 'one'], 4096,
                            'history export --format %s holds the rows in memory (peak RSS '
                            'KiB): %r' % (fmt, peaks))
        with open(self.path('all-csv.csv'), 'rb') as f:
            table = e2e.parse_csv(f.read().decode('utf-8'))
        self.assertEqual(table[0], LIST_KEYS)
        self.assertEqual(len(table), n + 1)
        self.assertEqual([int(x[0]) for x in table[1:]], list(range(1, n + 1)))
        self.assertEqual(sum(1 for x in table[1:] if x[2] == 'sent'), 10000)
        # the XLSX: every row there (counted in the sheet's XML: openpyxl is slow
        # on 20,000 rows), the first rows and the last read back with openpyxl
        path = self.path('all-xlsx.xlsx')
        with zipfile.ZipFile(path) as z:
            sheets = sorted(x for x in z.namelist() if re.match(r'xl/worksheets/sheet\d+\.xml$', x))
            self.assertEqual(len(sheets), 1, z.namelist())
            xml = z.read(sheets[0])
        rows = re.findall(rb'<row r="(\d+)"', xml)
        self.assertEqual(len(rows), n + 1)
        self.assertEqual(int(rows[-1]), n + 1)
        self.assertIn(b'<autoFilter ref="A1:T%d"' % (n + 1), xml)
        self.assertRegex(xml, rb'<c r="A%d"[^>]*><v>%d</v>' % (n + 1, n))
        wb = openpyxl.load_workbook(path, read_only=True)
        ws = wb.worksheets[0]
        head = list(ws.iter_rows(min_row=1, max_row=3, values_only=True))
        wb.close()
        self.assertEqual(list(head[0]), LIST_KEYS)
        self.assertEqual([r[0] for r in head[1:]], [1, 2])
        self.assertIsInstance(head[1][1], datetime.datetime)


# ---------------------------------------------------------------------------------
# history verify


class HistoryVerify(ComplianceCase):
    """Each test tampers with its own copy of one book's database (built by
    the first test, then copied: faster than running the book again)."""

    cache = None

    @classmethod
    def tearDownClass(cls):
        if cls.cache:
            shutil.rmtree(cls.cache, ignore_errors=True)
            cls.cache = None
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        cls = type(self)
        if cls.cache:
            for suffix in ('-wal', '-shm'):
                if os.path.exists(self.db + suffix):
                    os.unlink(self.db + suffix)
            for suffix in ('', '-wal'):
                if os.path.exists(os.path.join(cls.cache, 'postier.db' + suffix)):
                    shutil.copy(os.path.join(cls.cache, 'postier.db' + suffix),
                                self.db + suffix)
            for name, dest in CHAIN_FILES:  # the history key and head go with it
                shutil.copy(os.path.join(cls.cache, name), self.path(*dest))
        else:
            self.book(sms=False, campaign=False)
            cache = tempfile.mkdtemp(prefix='postier-e2e-verify-')
            for suffix in ('', '-wal'):
                if os.path.exists(self.db + suffix):
                    shutil.copy(self.db + suffix, os.path.join(cache, 'postier.db' + suffix))
            for name, src in CHAIN_FILES:
                shutil.copy(self.path(*src), os.path.join(cache, name))
            cls.cache = cache
        self.rows = self.history_rows()
        self.n = len(self.rows)
        self.assertGreaterEqual(self.n, 10)
        self.verify_history()

    def test_intact_and_auditor_recipe(self):
        r = self.ok('history', 'verify')
        self.assertEqual(r.out.strip(), 'history intact: %d rows, hash chain verified' % self.n)
        self.assertEqual(self.auditor_chain(), [], 'the documented recipe reproduces the chain')

    def test_altered_row(self):
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET address = 'evil@attacker.example' WHERE id = 5")
        self.verify_broken(5)

    def test_altered_date_of_row(self):
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET at = '2020-01-01T00:00:00Z' WHERE id = 7")
        self.verify_broken(7)

    def test_altered_hash_of_row(self):
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET hash = '%s' WHERE id = 4" % ('a' * 64))
        self.verify_broken(4)

    def test_deleted_row(self):
        self.tamper('DROP TRIGGER history_no_delete', 'DELETE FROM history WHERE id = 6')
        r = self.verify_broken(7)
        self.assertIn('6', r.out.split(':', 1)[1], 'the message should name the gap')

    def test_deleted_first_rows(self):
        self.tamper('DROP TRIGGER history_no_delete', 'DELETE FROM history WHERE id <= 2')
        self.verify_broken(3)

    def test_deleted_then_rechained(self):
        # a forger deletes a row and recomputes the whole chain: the gap shows
        self.tamper('DROP TRIGGER history_no_delete', 'DELETE FROM history WHERE id = 4')
        self.auditor_chain(rehash=True)
        self.verify_broken(5)

    def test_swapped_rows(self):
        cols = [c for c in CANON + CANON_OPTIONAL]
        a, b = 3, 8
        ra = self.sql('SELECT %s FROM history WHERE id = ?' % ','.join(cols), (a,))[0]
        rb = self.sql('SELECT %s FROM history WHERE id = ?' % ','.join(cols), (b,))[0]
        self.assertNotEqual(ra, rb)
        sets = ', '.join('%s = ?' % c for c in cols)
        self.tamper('DROP TRIGGER history_no_update',
                    ('UPDATE history SET %s WHERE id = ?' % sets, tuple(rb) + (a,)),
                    ('UPDATE history SET %s WHERE id = ?' % sets, tuple(ra) + (b,)))
        self.verify_broken(a)

    def test_swapped_rows_with_their_hashes(self):
        cols = CANON + CANON_OPTIONAL + ['hash']
        a, b = 2, 9
        ra = self.sql('SELECT %s FROM history WHERE id = ?' % ','.join(cols), (a,))[0]
        rb = self.sql('SELECT %s FROM history WHERE id = ?' % ','.join(cols), (b,))[0]
        sets = ', '.join('%s = ?' % c for c in cols)
        self.tamper('DROP TRIGGER history_no_update',
                    ('UPDATE history SET %s WHERE id = ?' % sets, tuple(rb) + (a,)),
                    ('UPDATE history SET %s WHERE id = ?' % sets, tuple(ra) + (b,)))
        self.verify_broken(a)

    def test_appended_forged_row(self):
        self.tamper(('INSERT INTO history (id, at, event, channel, address, hash) '
                     "VALUES (?, '2026-11-23T00:00:00Z', 'sent', 'email', 'x@y.example', ?)",
                     (self.n + 1, 'b' * 64)))
        self.verify_broken(self.n + 1)

    def test_no_update_or_delete_through_sqlite(self):
        con = sqlite3.connect(self.db)
        try:
            with self.assertRaises(sqlite3.DatabaseError):
                con.execute("UPDATE history SET reason = 'x' WHERE id = 1")
            with self.assertRaises(sqlite3.DatabaseError):
                con.execute('DELETE FROM history WHERE id = 1')
        finally:
            con.close()
        self.verify_history()


# ---------------------------------------------------------------------------------
# history purge


class HistoryPurge(ComplianceCase):
    PURGED = re.compile(r'^purged (\d+) history rows before (\d{4}-\d\d-\d\d)(;.*)?$')

    def purged_row(self, rows):
        p = [h for h in rows if h['event'] == 'purged']
        self.assertEqual(len(p), 1, rows)
        return p[0]

    def test_purge_everything_then_new_rows(self):
        rows = self.book(sms=False, campaign=False)
        last = rows[-1]
        tomorrow = day(datetime.date.fromisoformat(last['at'][:10]), 1)
        r = self.ok('--operator', 'dpo', 'history', 'purge', '--before', tomorrow)
        m = self.PURGED.match(r.out.strip())
        self.assertTrue(m, r)
        self.assertEqual((int(m.group(1)), m.group(2)), (len(rows), tomorrow))
        after = self.history_rows()
        self.assertEqual(len(after), 1, 'only the purge row remains')
        p = after[0]
        self.assertEqual((p['event'], p['reason']), ('purged', 'retention'))
        self.assertGreater(p['id'], last['id'], 'ids are never reused')
        self.assertTrue(p['server_reply'].endswith('anchor %d %s' % (last['id'], last['hash'])),
                        p)
        self.assertEqual(self.show(p['id'])['operator'], 'dpo')
        self.assertEqual(self.sql('SELECT last_id, last_hash FROM history_anchor'),
                         [(last['id'], last['hash'])])
        r = self.ok('history', 'verify')
        self.assertEqual(r.out.strip(), 'history intact: 1 rows, hash chain verified')
        self.assertEqual(self.auditor_chain(), [])
        # new rows after the purge chain on
        self.import_docs('invoice', [('F9', 'P2')], name='more.csv')
        self.ok('run', '--date', RUN_DATE)
        more = self.history_rows()
        self.assertGreater(len(more), 1)
        self.assertEqual([h['id'] for h in more], list(range(p['id'], p['id'] + len(more))))
        r = self.ok('history', 'verify')
        self.assertIn('history intact: %d rows' % len(more), r.out)
        # a purge before 2000: nothing
        r = self.ok('history', 'purge', '--before', '2000-01-01')
        self.assertEqual(r.out.strip(), 'no history row before 2000-01-01')
        self.assertEqual(self.history_rows(), more)
        # the anchor forged: caught
        self.tamper("UPDATE history_anchor SET last_hash = '00'")
        self.assertEqual(self.run_postier('history', 'verify').rc, 1)

    def test_purge_then_remaining_row_altered(self):
        rows = self.book(sms=False, campaign=False)
        tomorrow = day(datetime.date.fromisoformat(rows[-1]['at'][:10]), 1)
        self.ok('history', 'purge', '--before', tomorrow)
        self.import_docs('invoice', [('F9', 'P2')], name='more.csv')
        self.ok('run', '--date', RUN_DATE)
        more = self.history_rows()
        victim = more[2]['id']
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET reason = 'forged' WHERE id = %d" % victim)
        self.verify_broken(victim)

    def test_purge_row_altered_or_anchor_moved(self):
        rows = self.book(sms=False, campaign=False)
        tomorrow = day(datetime.date.fromisoformat(rows[-1]['at'][:10]), 1)
        self.ok('history', 'purge', '--before', tomorrow)
        p = self.purged_row(self.history_rows())
        # the anchor pointing elsewhere (another id): caught
        self.tamper('UPDATE history_anchor SET last_id = last_id - 1')
        self.assertEqual(self.run_postier('history', 'verify').rc, 1)
        self.tamper('UPDATE history_anchor SET last_id = last_id + 1')
        self.verify_history()
        # the purge row's own anchor text altered: caught
        self.tamper('DROP TRIGGER history_no_update',
                    ("UPDATE history SET server_reply = replace(server_reply, 'anchor', "
                     "'anchr') WHERE id = ?", (p['id'],)))
        self.assertEqual(self.run_postier('history', 'verify').rc, 1)

    def test_partial_purge(self):
        rows = self.book(sms=False, campaign=False)
        self.assertGreaterEqual(len(rows), 8)
        # the first four rows from January, the rest from March (re-chained)
        self.set_dates({h['id']: ('2026-01-%02dT10:00:00Z' % (10 + i) if i < 4 else
                                  '2026-03-%02dT10:00:00Z' % (1 + i))
                        for i, h in enumerate(rows)})
        rows = self.history_rows()
        r = self.ok('history', 'purge', '--before', '2026-01-12')
        m = self.PURGED.match(r.out.strip())
        self.assertTrue(m, r)
        self.assertEqual(int(m.group(1)), 2)
        after = self.history_rows()
        self.assertEqual([h['id'] for h in after],
                         [h['id'] for h in rows[2:]] + [rows[-1]['id'] + 1])
        self.assertEqual(after[:-1], rows[2:], 'the kept rows are unchanged')
        p = after[-1]
        self.assertEqual(p['event'], 'purged')
        self.assertTrue(p['server_reply'].endswith('anchor %d %s' % (rows[1]['id'],
                                                                    rows[1]['hash'])), p)
        self.verify_history()
        # the boundary: rows of 2026-01-12 itself are kept by --before 2026-01-12
        self.assertEqual(rows[2]['at'][:10], '2026-01-12')
        # a second purge up to March: removes the January rest, keeps the chain
        r = self.ok('history', 'purge', '--before', '2026-03-01')
        self.assertTrue(self.PURGED.match(r.out.strip()), r)
        self.assertEqual(int(self.PURGED.match(r.out.strip()).group(1)), 2)
        after2 = self.history_rows()
        self.assertEqual([h['id'] for h in after2],
                         [h['id'] for h in rows[4:]] + [p['id'], p['id'] + 1])
        self.assertEqual(len([h for h in after2 if h['event'] == 'purged']), 2)
        self.verify_history()
        self.assertEqual(self.auditor_chain(), [])
        # a kept row altered: caught
        self.tamper('DROP TRIGGER history_no_update',
                    "UPDATE history SET address = 'x@y.example' WHERE id = %d" % rows[5]['id'])
        self.verify_broken(rows[5]['id'])

    def test_purge_usage(self):
        self.book(sms=False, campaign=False)
        n = len(self.history_rows())
        self.fails('history', 'purge')
        self.fails('history', 'purge', '--before', '2026-02-30')
        self.fails('history', 'purge', '--before', 'tomorrow')
        self.assertEqual(len(self.history_rows()), n)


# ---------------------------------------------------------------------------------
# the asset-freeze register (LATER: `registry` is being implemented)

LOAD = re.compile(r'^registry: (\d+) entr(?:y|ies) \(published ([^)]*)\) from (.+); '
                  r'(\d+) contacts? match(?:es)?$', re.M)
CHECK_KEYS = {'contact_id', 'party_ref', 'name', 'entry_id', 'entry_name', 'matched'}
REG_CONTACTS = [
    # key, party, last, first, company, email
    ('exact', 'P1', 'EXEMPLOV', 'Ivan Petrovitch', '', 'ivan@exemple.fr'),
    ('alias', 'P1', 'Exemploff', 'ivan', '', 'exemploff@exemple.fr'),
    ('order', 'P1', 'Petróvitch-Exemplov', 'Iván,', '', 'order@exemple.fr'),
    ('company', 'P2', '', '', "SOCIETE FICTIVE D'IMPORT EXPORT", 'sfie@exemple.fr'),
    ('sigle', 'P2', '', '', 'Sfie', 'sigle@exemple.fr'),
    ('clean', 'P1', 'Martin', 'Élodie', '', 'compta@exemple.fr'),
    ('near', 'P1', 'Petrov', 'Ivan', '', 'petrov@exemple.fr'),
    ('boat', 'P2', '', '', 'Transports Exemplaires', 'boat@exemple.fr'),
]
EXPECT_MATCH = {'exact': '9001', 'alias': '9001', 'order': '9001', 'company': '9002',
                'sigle': '9002'}


class Registry(ComplianceCase):
    """The asset-freeze register: `registry load|check`, flagging on save
    and import, `skipped registry_match`, `contacts clear-registry`.
    Written from the contract before the command existed (LATER)."""

    def reg_book(self, contacts=REG_CONTACTS):
        self.ok('parties', 'import', self.write('parties.csv', csv_text(
            ['ref', 'kind', 'name', 'email'], PARTIES)))
        rows = [dict(party_ref=p, last_name=l, first_name=f, company=c, email=e,
                     flags='invoice|order')
                for _, p, l, f, c, e in contacts]
        self.ok('contacts', 'import', self.write('reg-contacts.csv', csv_text(
            ['party_ref', 'last_name', 'first_name', 'company', 'email', 'flags'], rows)))
        by_email = {c['email']: c['id'] for c in self.all_contacts()}
        return {k: by_email[e] for k, _, _, _, _, e in contacts}

    def load(self, path=REGISTER):
        r = self.ok('registry', 'load', path)
        m = LOAD.search(r.out)
        self.assertTrue(m, 'no "registry: N entries (published DATE) from FILE; M contacts '
                           'match" line:\n%r' % r)
        return m, r

    def check(self):
        v = self.json('registry', 'check')
        for x in v:
            self.assertEqual(set(x), CHECK_KEYS, x)
        return v

    def assert_matches(self, ids, want):
        """registry check lists exactly the contacts of `want` {key: entry id}."""
        got = self.check()
        by = {x['contact_id']: x for x in got}
        self.assertEqual(len(by), len(got), 'a contact listed twice: %r' % got)
        self.assertEqual(set(by), {ids[k] for k in want}, got)
        for k, entry in want.items():
            x = by[ids[k]]
            self.assertEqual(str(x['entry_id']), entry, x)
        return by

    def test_load_sample_and_check(self):
        ids = self.reg_book()
        m, r = self.load()
        self.assertEqual(int(m.group(1)), 3, 'three entries (a person, a company, a ship)')
        self.assertTrue(m.group(2).startswith('2026-11-20'), m.group(2))
        self.assertIn(os.path.basename(REGISTER), m.group(3))
        self.assertEqual(int(m.group(4)), len(EXPECT_MATCH))
        by = self.assert_matches(ids, EXPECT_MATCH)
        person = fold('EXEMPLOV Ivan Petrovitch')
        self.assertEqual(fold(by[ids['exact']]['matched']), person)
        self.assertEqual(by[ids['alias']]['matched'], 'Ivan EXEMPLOFF')
        self.assertEqual(fold(by[ids['order']]['matched']), person)
        self.assertIn('EXEMPLOV', by[ids['exact']]['entry_name'])
        company = fold("Société Fictive d'Import-Export")
        self.assertEqual(fold(by[ids['company']]['entry_name']), company)
        self.assertEqual(fold(by[ids['company']]['matched']), company)
        self.assertEqual(by[ids['sigle']]['matched'], 'SFIE')
        for k in EXPECT_MATCH:
            x = by[ids[k]]
            self.assertEqual(x['party_ref'], 'P2' if k in ('company', 'sigle') else 'P1')
            self.assertTrue(x['name'])
        self.assertIn('Exemploff', by[ids['alias']]['name'])
        # the table form lists them too
        t = self.ok('registry', 'check')
        self.assertIn('Ivan EXEMPLOFF', t.out)
        self.assertNotIn('Martin', t.out)

    def test_flagged_on_add_edit_import(self):
        ids = self.reg_book([c for c in REG_CONTACTS if c[0] in ('clean', 'near', 'boat')])
        m, _ = self.load()
        self.assertEqual(int(m.group(4)), 0)
        self.assertEqual(self.check(), [])
        # add
        new = self.add_contact('--party', 'P1', '--last-name', 'exemplov',
                               '--first-name', 'IVAN-PETROVITCH', '--email', 'new@exemple.fr')
        self.assertEqual({x['contact_id'] for x in self.check()}, {new})
        # edit: a clean contact renamed to an alias
        self.ok('contacts', 'edit', ids['near'], '--last-name', 'Exemplov',
                '--first-name', 'I. P.')
        self.assertEqual({x['contact_id'] for x in self.check()}, {new, ids['near']})
        # import
        self.ok('contacts', 'import', self.write('more.csv', csv_text(
            ['party_ref', 'company', 'email', 'flags'],
            [dict(party_ref='P2', company='Societe fictive d import-export',
                  email='imp@exemple.fr', flags='invoice')])))
        imported = [c['id'] for c in self.all_contacts() if c['email'] == 'imp@exemple.fr']
        self.assertEqual(len(imported), 1)
        got = {x['contact_id']: x for x in self.check()}
        self.assertEqual(set(got), {new, ids['near'], imported[0]})
        self.assertEqual(str(got[imported[0]]['entry_id']), '9002')
        self.assertNotIn(ids['clean'], got)

    def test_run_skips_then_clear(self):
        ids = self.reg_book([c for c in REG_CONTACTS if c[0] in ('exact', 'clean', 'company')])
        self.load()
        self.import_docs('invoice', [('F1', 'P1'), ('F2', 'P2')])
        self.ok('run', '--date', RUN_DATE)
        rows = self.history_rows()
        skipped = {(h['contact_id'], h['document_ref']): h for h in rows
                   if h['event'] == 'skipped'}
        for k, doc in (('exact', 'F1'), ('company', 'F2')):
            h = skipped.get((ids[k], doc))
            self.assertTrue(h, 'no skipped row for %s on %s: %r' % (k, doc, rows))
            self.assertEqual(h['reason'], 'registry_match', h)
        sent = {h['address'] for h in rows if h['event'] == 'sent'}
        self.assertIn('compta@exemple.fr', sent)
        self.assertFalse({'ivan@exemple.fr', 'sfie@exemple.fr'} & sent, sent)
        for p in glob.glob(os.path.join(self.maildir, '*')):
            msg = self.parse_wire(self.read_bytes(p))
            self.assertNotIn(msg['To'].addresses[0].addr_spec,
                             ('ivan@exemple.fr', 'sfie@exemple.fr'))
        # clearing needs a reason
        self.fails('contacts', 'clear-registry', ids['exact'])
        self.assertIn(ids['exact'], {x['contact_id'] for x in self.check()})
        self.ok('--operator', 'alice', 'contacts', 'clear-registry', ids['exact'],
                '--reason', 'homonyme vérifié (né en 1990)')
        cleared = self.history_rows('--status', 'registry_cleared')
        self.assertEqual(len(cleared), 1, cleared)
        self.assertEqual(cleared[0]['contact_id'], ids['exact'])
        self.assertEqual(cleared[0]['reason'], 'homonyme vérifié (né en 1990)')
        self.assertEqual(self.show(cleared[0]['id'])['operator'], 'alice')
        self.assertEqual({x['contact_id'] for x in self.check()}, {ids['company']})
        # the cleared contact receives the next document; the company still not
        self.import_docs('invoice', [('F3', 'P1'), ('F4', 'P2')], name='more.csv')
        self.ok('run', '--date', RUN_DATE)
        rows = self.history_rows()
        got = {(h['event'], h['document_ref'], h['address'], h['reason']) for h in rows}
        self.assertIn(('sent', 'F3', 'ivan@exemple.fr', None), got)
        self.assertIn(('skipped', 'F4', 'sfie@exemple.fr', 'registry_match'), got)
        self.assertNotIn(('sent', 'F4', 'sfie@exemple.fr', None), got)
        self.verify_history()

    def test_run_stops_when_the_register_cannot_be_read(self):
        # a lookup that fails is never taken for "not flagged": the run
        # stops before sending anything
        self.reg_book([c for c in REG_CONTACTS if c[0] in ('exact', 'clean', 'company')])
        self.load()
        self.import_docs('invoice', [('F1', 'P1'), ('F2', 'P2')])
        self.sql('ALTER TABLE contact RENAME COLUMN registry_cleared TO was_cleared')
        r = self.run_postier('run', '--date', RUN_DATE)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn('registry_cleared', r.err)
        self.assertEqual(glob.glob(os.path.join(self.maildir, '*')), [])
        self.assertFalse([h for h in self.history_rows() if h['event'] in ('queued', 'sent')])
        # nor does loading the register report success having checked part
        r = self.run_postier('registry', 'load', REGISTER)
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn('registry_cleared', r.err)

    def test_campaign_skips_registry_match(self):
        ids = self.reg_book([c for c in REG_CONTACTS if c[0] in ('exact', 'alias', 'clean')])
        self.load()
        self.ok('campaign', 'new', 'noel', '--template', 'info', '--channel', 'email',
                '--purpose', 'service', '--party', 'P1')
        self.ok('campaign', 'launch', 'noel', '--yes')
        rows = self.history_rows('--campaign', 'noel')
        skipped = {h['contact_id']: h['reason'] for h in rows if h['event'] == 'skipped'}
        self.assertEqual(skipped.get(ids['exact']), 'registry_match', rows)
        self.assertEqual(skipped.get(ids['alias']), 'registry_match', rows)
        sent = {h['address'] for h in rows if h['event'] == 'sent'}
        self.assertEqual(sent, {'compta@exemple.fr'})

    def test_campaign_stops_when_the_register_cannot_be_read(self):
        self.reg_book([c for c in REG_CONTACTS if c[0] in ('exact', 'alias', 'clean')])
        self.load()
        self.ok('campaign', 'new', 'noel', '--template', 'info', '--channel', 'email',
                '--purpose', 'service', '--party', 'P1')
        self.sql('ALTER TABLE contact RENAME COLUMN registry_cleared TO was_cleared')
        r = self.run_postier('campaign', 'launch', 'noel', '--yes')
        self.assertNotEqual(r.rc, 0, r)
        self.assertIn('registry_cleared', r.err)
        self.assertEqual(glob.glob(os.path.join(self.maildir, '*')), [])
        self.assertFalse([h for h in self.history_rows() if h['event'] in ('queued', 'sent')])

    def test_csv_register(self):
        ids = self.reg_book([c for c in REG_CONTACTS if c[0] in ('clean', 'near', 'exact')] +
                            [('dupond', 'P1', 'Dupond', 'Jean', '', 'jd@exemple.fr'),
                             ('dupont', 'P2', 'DUPONT', 'Jean-Luc', '', 'jld@exemple.fr')])
        self.load()
        self.assertEqual({x['contact_id'] for x in self.check()}, {ids['exact']})
        path = self.write('gels.csv', csv_text(
            ['name', 'birth_date', 'aliases'],
            [dict(name='Jean-Luc Dupont', birth_date='1970-01-02',
                  aliases='JL Dupont|Jean Dupond'),
             dict(name='Zorro', birth_date='', aliases='')]))
        r = self.ok('registry', 'load', path)
        m = re.search(r'^registry: (\d+) entr(?:y|ies)\b.* from (.+); (\d+) contacts? '
                      r'match(?:es)?$', r.out, re.M)
        self.assertTrue(m, r)
        self.assertEqual((int(m.group(1)), int(m.group(3))), (2, 2))
        self.assertIn('gels.csv', m.group(2))
        # the CSV replaced the Trésor register
        got = {x['contact_id']: x for x in self.check()}
        self.assertEqual(set(got), {ids['dupond'], ids['dupont']})
        self.assertEqual(got[ids['dupond']]['matched'], 'Jean Dupond')
        self.assertEqual(fold(got[ids['dupont']]['matched']), fold('Jean-Luc Dupont'))
        self.assertEqual(fold(got[ids['dupont']]['entry_name']), fold('Jean-Luc Dupont'))

    def test_bad_registers(self):
        ids = self.reg_book([c for c in REG_CONTACTS if c[0] in ('clean', 'exact')])
        self.load()
        cases = [
            ('noname.csv', 'nom,aliases\nDupont,\n', (r'noname\.csv', r'\bname\b')),
            ('empty3.csv', 'name,aliases\nDupont,\n,JD\n', (r'empty3\.csv', r':3\b|line 3')),
            ('broken.json', '{"Publications": {"PublicationDetail": [', (r'broken\.json',)),
            ('nonom.json', json.dumps({'Publications': {
                'DatePublication': '2026-11-20T09:30:00+01:00',
                'PublicationDetail': [
                    {'IdRegistre': 1, 'Nature': 'Personne physique', 'Nom': 'A',
                     'RegistreDetail': []},
                    {'IdRegistre': 4242, 'Nature': 'Personne physique',
                     'RegistreDetail': []}]}}),
             (r'nonom\.json', r'4242|entry 2|entry 1\b')),
        ]
        for name, text, patterns in cases:
            r = self.fails('registry', 'load', self.write(name, text))
            for p in patterns:
                self.assertRegex(r.err, p, name)
        self.fails('registry', 'load', self.path('missing.json'), contains='missing.json')
        self.fails('registry', 'load')
        # a failed load changes nothing: the register loaded before still holds
        self.assertEqual({x['contact_id'] for x in self.check()}, {ids['exact']})


if __name__ == '__main__':
    e2e.main()
