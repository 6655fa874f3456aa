#!/usr/bin/python3
"""End-to-end: the SMTP transport (SPEC §4, §5, §6 `run`, §8) against a real
SMTP server (smtp_peer.py, aiosmtpd in a subprocess).  Every message on the
wire is parsed strictly; replies of every kind (2xx, 4xx at RCPT and DATA,
5xx, a connection dropped after DATA) are checked in the history; an
unreachable server, refused AUTH and an untrusted certificate lose nothing;
parallel connections, their reuse, the rate limit and the progress display
are observed from the server's side."""
import os
import pty
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import smtp_peer  # noqa: E402
from e2e import free_port  # noqa: E402

DATE = '2026-11-23'
SENDER = 'noreply@example.invalid'
TEMPFAIL = '451 4.3.0 Try again later'
NOUSER = '550 5.1.1 No such user'
QUEUED_AS = re.compile(r'^250 2\.0\.0 Ok: queued as [0-9A-F]{12}$')

FIRST = ['Élodie', 'Jérôme', 'Anne', 'Luc', 'Zoé', 'Hervé', 'Inès', 'Noël']
LAST = ['Martin', 'Lefèvre', 'Dupont', 'Durand', 'Bernard', 'Petit', 'Moreau', 'Garçon']


class SmtpCase(e2e.PostierCase):
    certdir = None
    run_date = DATE

    @classmethod
    def setUpClass(cls):
        # a self-signed certificate usable as its own CA, for 127.0.0.1
        cls._certs = tempfile.TemporaryDirectory(prefix='postier-e2e-cert-')
        d = cls.certdir = cls._certs.name
        cls.cert, cls.key = os.path.join(d, 'cert.pem'), os.path.join(d, 'key.pem')
        subprocess.run(
            ['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
             'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', cls.key, '-out', cls.cert,
             '-days', '3', '-subj', '/CN=127.0.0.1',
             '-addext', 'subjectAltName=IP:127.0.0.1',
             '-addext', 'basicConstraints=critical,CA:TRUE',
             '-addext', 'keyUsage=critical,digitalSignature,keyCertSign'],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @classmethod
    def tearDownClass(cls):
        cls._certs.cleanup()

    def setUp(self):
        super().setUp()
        self.append_config('\n[store]\ntemplates = %s\n[run]\nfallback = none\n'
                           % e2e.TEMPLATES)
        self.base_ini = self.read_config()
        self.peer_dir = self.path('peer')
        self.ndocs = 0

    # -- setting up ---------------------------------------------------------------

    def start_peer(self, mode='accept', **kw):
        p = smtp_peer.Peer(self.peer_dir, mode=mode, **kw).start()
        self.addCleanup(p.stop)
        return p

    def smtp_config(self, url, **keys):
        """The workspace INI with [email] transport = smtp and [smtp] keys
        (connections 2, max_attempts 3, timeout 10 unless given)."""
        if not isinstance(url, str):
            url = url.url
        opts = {'url': url, 'connections': 2, 'max_attempts': 3, 'timeout': 10}
        opts.update(keys)
        self.write_config(self.base_ini + '\n[email]\ntransport = smtp\n[smtp]\n' +
                          ''.join('%s = %s\n' % kv for kv in opts.items()))

    def book(self, addresses, docs=1, attachments=None):
        """One party P1 whose contacts (one per address, flagged invoice) all
        receive each of `docs` new invoices: docs * len(addresses) messages.
        Returns {address: display name}."""
        self.ok('parties', 'import', self.write('p.csv',
                'ref,kind,name,email\nP1,client,Boulangerie Lefèvre SARL,accueil@lefevre.example\n'))
        rows, names = ['party_ref,civility,last_name,first_name,email,flags'], {}
        for i, a in enumerate(addresses):
            first = FIRST[i % len(FIRST)]
            last = LAST[i % len(LAST)] + ('' if i < len(LAST) else str(i))
            rows.append('P1,,%s,%s,%s,invoice' % (last, first, a))
            names[a] = '%s %s' % (first, last)
        self.ok('contacts', 'import', self.write('c.csv', '\n'.join(rows) + '\n'))
        self.add_docs(docs, attachments)
        return names

    def add_docs(self, n, attachments=None):
        head = 'ref,party_ref,amount,due_date' + (',attachment' if attachments else '')
        rows = [head]
        for k in range(n):
            self.ndocs += 1
            rows.append('F%03d,P1,%d.50,2026-12-31' % (self.ndocs, 100 + self.ndocs) +
                        (',"%s"' % attachments[k] if attachments else ''))
        name = 'd%d.csv' % self.ndocs
        self.ok('documents', 'import', self.write(name, '\n'.join(rows) + '\n'),
                '--type', 'invoice')

    # -- running and reading ------------------------------------------------------

    def history(self):
        """The history rows with a Message-ID (those of messages)."""
        return [h for h in self.history_rows() if h['message_id']]

    def events_of(self, address):
        """[(event, reason, server_reply)] of one address, in order."""
        return [(h['event'], h['reason'], h['server_reply']) for h in self.history()
                if h['address'] == address]

    def assert_delivered_once(self, peer, addresses):
        """Every address got exactly one accepted message, all ids distinct."""
        msgs = peer.messages()
        got = sorted(a for m in msgs for a in m['rcpt'])
        self.assertEqual(got, sorted(addresses))
        ids = [m['message_id'] for m in msgs]
        self.assertEqual(len(set(ids)), len(ids), ids)
        sent = [h for h in self.history() if h['event'] == 'sent']
        self.assertEqual(sorted(h['address'] for h in sent), sorted(addresses))
        self.assertEqual(sorted(h['message_id'] for h in sent), sorted(ids))
        return msgs


class Delivery(SmtpCase):
    def test_accept(self):
        addrs = ['compta@lefevre.example', 'direction@lefevre.example']
        names = self.book(addrs, docs=2)
        peer = self.start_peer()
        self.smtp_config(peer)
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual(s, dict(documents=2, queued=4, sent=4, deferred=0, failed=0, skipped=0))
        msgs = peer.messages()
        self.assertEqual(len(msgs), 4)
        seen = set()
        for m in msgs:
            msg = self.parse_wire(m['data'])
            self.assertEqual(m['mail_from'], SENDER)
            self.assertEqual(len(m['rcpt']), 1)
            rcpt = m['rcpt'][0]
            self.assertIn(rcpt, addrs)
            frm = msg['From'].addresses
            self.assertEqual([(a.display_name, a.addr_spec) for a in frm], [('Postier', SENDER)])
            to = msg['To'].addresses
            self.assertEqual([(a.display_name, a.addr_spec) for a in to], [(names[rcpt], rcpt)])
            ref = re.search(r'F\d{3}', msg['Subject']).group(0)
            self.assertEqual(msg['Subject'], 'Votre facture %s – Boulangerie Lefèvre SARL' % ref)
            self.assertIn(b'=?', m['data'].split(b'\r\n\r\n')[0], 'Subject not RFC 2047')
            self.assertIsNotNone(msg['Date'].datetime)
            self.assertRegex(msg['Message-ID'], r'^<[0-9a-f]{32}@example\.invalid>$')
            self.assertEqual(m['message_id'], msg['Message-ID'])
            self.assertEqual(msg['Auto-Submitted'], 'auto-generated')
            self.assertEqual(msg['MIME-Version'], '1.0')
            text = msg.get_body(('plain',)).get_content()
            self.assertIn(names[rcpt], text)
            self.assertIn(ref, text)
            seen.add((ref, rcpt))
        self.assertEqual(len(seen), 4)
        self.assertEqual(len({m['message_id'] for m in msgs}), 4)
        # history: queued then sent, with the server's own final reply
        by_mid = {m['message_id']: m for m in msgs}
        hist = self.history()
        self.assertEqual(sorted(h['event'] for h in hist), ['queued'] * 4 + ['sent'] * 4)
        for h in hist:
            self.assertEqual(h['channel'], 'email')
            self.assertIn(h['message_id'], by_mid)
            m = by_mid[h['message_id']]
            self.assertEqual(h['address'], m['rcpt'][0])
            self.assertEqual(h['party_ref'], 'P1')
            self.assertEqual(h['document_type'], 'invoice')
            if h['event'] == 'sent':
                self.assertEqual(h['server_reply'], m['reply'])
                self.assertRegex(h['server_reply'], QUEUED_AS)
                self.assertIsNone(h['reason'])
        self.verify_history()
        # a second run sends nothing
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['sent']), (0, 0, 0))
        self.assertEqual(len(peer.messages()), 4)
        self.assertEqual(len(self.history()), 8)

    def test_attachment(self):
        pdf1 = b'%PDF-1.4\n' + bytes(range(256)) * 20 + b'\n%%EOF\n'
        pdf2 = b'%PDF-1.7\n' + os.urandom(4000) + b'\n%%EOF\n'
        # attachments are read from inside the documents folder (SPEC §8)
        p1, p2 = 'facture-F001.pdf', 'Facture n°12 é.pdf'
        self.write(os.path.join('documents', p1), pdf1)
        self.write(os.path.join('documents', p2), pdf2)
        self.book(['compta@lefevre.example'], docs=2, attachments=[p1, p2])
        peer = self.start_peer()
        self.smtp_config(peer)
        self.run_job(rc=0)
        msgs = peer.messages()
        self.assertEqual(len(msgs), 2)
        got = {}
        for m in msgs:
            msg = self.parse_wire(m['data'])
            self.assertEqual(msg.get_content_type(), 'multipart/mixed')
            atts = list(msg.iter_attachments())
            self.assertEqual(len(atts), 1, [a.get_content_type() for a in atts])
            a = atts[0]
            self.assertEqual(a.get_content_type(), 'application/pdf')
            self.assertEqual(a.get_content_disposition(), 'attachment')
            got[a.get_filename()] = (a.get_content(), m['data'])
            self.assertIsNotNone(msg.get_body(('plain',)))
        self.assertEqual(sorted(got), sorted(['facture-F001.pdf', 'Facture n°12 é.pdf']))
        self.assertEqual(got['facture-F001.pdf'][0], pdf1)
        self.assertEqual(got['Facture n°12 é.pdf'][0], pdf2)
        self.assertIn(b"filename*", got['Facture n°12 é.pdf'][1], 'non-ASCII name not RFC 2231')

    def test_tempfail_once_is_retried_in_the_same_run(self):
        addrs = ['compta@lefevre.example', 'direction@lefevre.example']
        self.book(addrs)
        peer = self.start_peer('tempfail-once')
        self.smtp_config(peer, max_attempts=3)
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred'], s['failed']), (2, 2, 0, 0))
        msgs = self.assert_delivered_once(peer, addrs)
        self.assertEqual(len(peer.received()), 2)  # no DATA after a 451 at RCPT
        for a in addrs:
            ev = self.events_of(a)
            self.assertEqual([e[:2] for e in ev],
                             [('queued', None), ('deferred', 'tempfail'), ('sent', None)], ev)
            self.assertEqual(ev[1][2], TEMPFAIL)
            self.assertRegex(ev[2][2], QUEUED_AS)
            self.assertEqual(ev[2][2], [m['reply'] for m in msgs if m['rcpt'] == [a]][0])
            # the retry came after a backoff (~1 s), not at once
            t = [e['t'] for e in peer.events() if e['cmd'] == 'RCPT' and e['rcpt'] == a]
            self.assertEqual(len(t), 2)
            self.assertGreater(t[1] - t[0], 0.7, 'no backoff before the retry')
            self.assertLess(t[1] - t[0], 10)
        self.verify_history()

    def test_tempfail_at_data(self):
        addr = 'compta@lefevre.example'
        self.book([addr])
        peer = self.start_peer('tempfail-data-once')
        self.smtp_config(peer)
        self.run_job(rc=0)
        ev = self.events_of(addr)
        self.assertEqual([e[:2] for e in ev],
                         [('queued', None), ('deferred', 'tempfail'), ('sent', None)], ev)
        self.assertEqual(ev[1][2], TEMPFAIL)
        rec = peer.received()
        self.assertEqual([x['code'] for x in rec], [451, 250])
        self.assertEqual(rec[0]['data'], rec[1]['data'])
        self.assert_delivered_once(peer, [addr])

    def test_reject_fails_only_the_bad_ones(self):
        good = ['compta@lefevre.example', 'direction@lefevre.example']
        bad = ['bad.one@lefevre.example', 'badguy@lefevre.example']
        self.book([good[0], bad[0], good[1], bad[1]])
        peer = self.start_peer('reject')
        self.smtp_config(peer)
        r = self.run_job(rc=1)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred'], s['failed']), (4, 2, 0, 2))
        self.assertIn('rejected 2', self.run_summary_line(r))
        self.assert_delivered_once(peer, good)
        for a in bad:
            self.assertEqual(self.events_of(a), [('queued', None, None),
                                                 ('failed', 'rejected', NOUSER)])
        for a in good:
            self.assertEqual([e[0] for e in self.events_of(a)], ['queued', 'sent'])
        rcpts = [e['rcpt'] for e in peer.events() if e['cmd'] == 'RCPT']
        rows = len(self.history())
        # the rejected are never retried
        r = self.run_job()
        self.assertNotEqual(r.rc, 2, r)
        self.assertEqual(self.run_summary(r)['sent'], 0)
        self.assertEqual([e['rcpt'] for e in peer.events() if e['cmd'] == 'RCPT'], rcpts)
        self.assertEqual(len(self.history()), rows)
        self.verify_history()

    def test_dropped_after_data_is_ambiguous_then_resent_identically(self):
        addrs = ['compta@lefevre.example', 'direction@lefevre.example']
        self.book(addrs)
        peer = self.start_peer('drop-after-data')
        self.smtp_config(peer)
        r = self.run_job(rc=0)
        self.assertEqual(self.run_summary(r)['sent'], 2)
        for a in addrs:
            ev = self.events_of(a)
            self.assertEqual([e[:2] for e in ev],
                             [('queued', None), ('deferred', 'ambiguous'), ('sent', None)], ev)
            self.assertRegex(ev[2][2], QUEUED_AS)
        rec = peer.received()
        self.assertEqual(len(rec), 4)
        for a in addrs:
            copies = [x for x in rec if x['rcpt'] == [a]]
            self.assertEqual([x['dropped'] for x in copies], [True, False])
            self.assertEqual(copies[0]['message_id'], copies[1]['message_id'])
            self.assertEqual(copies[0]['data'], copies[1]['data'])
        msgs = self.assert_delivered_once(peer, addrs)
        mids = {h['message_id'] for h in self.history() if h['address'] in addrs}
        self.assertEqual(mids, {m['message_id'] for m in msgs})
        self.verify_history()

    def test_max_attempts_then_left_for_the_next_run(self):
        addrs = ['compta@lefevre.example', 'direction@lefevre.example']
        self.book(addrs)
        peer = self.start_peer('tempfail-always')
        self.smtp_config(peer, max_attempts=3)
        r = self.run_job(rc=75)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred'], s['failed']), (2, 0, 2, 0))
        for a in addrs:
            self.assertEqual(self.events_of(a), [('queued', None, None),
                                                 ('deferred', 'tempfail', TEMPFAIL),
                                                 ('deferred', 'tempfail', TEMPFAIL),
                                                 ('deferred', 'tempfail', TEMPFAIL)])
            t = [e['t'] for e in peer.events() if e['cmd'] == 'RCPT' and e['rcpt'] == a]
            self.assertEqual(len(t), 3)
            # backoff about 1 s, then doubling
            self.assertGreater(t[1] - t[0], 0.7)
            self.assertGreater(t[2] - t[1], 1.5)
            self.assertLess(t[2] - t[1], 10)
        self.assertEqual(peer.received(), [])
        # the next run, the server accepting again, delivers them
        peer.stop()
        peer.mode = 'accept'
        peer.start()
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['sent'], s['deferred']), (0, 0, 2, 0))
        self.assert_delivered_once(peer, addrs)
        for a in addrs:
            self.assertEqual([e[0] for e in self.events_of(a)],
                             ['queued', 'deferred', 'deferred', 'deferred', 'sent'])
            mids = {h['message_id'] for h in self.history() if h['address'] == a}
            self.assertEqual(len(mids), 1, 'Message-ID not stable across attempts: %r' % mids)
        self.verify_history()


class Failures(SmtpCase):
    def test_unreachable_then_back(self):
        addrs = ['compta@lefevre.example', 'direction@lefevre.example', 'anne@lefevre.example']
        self.book(addrs)
        port = free_port()
        self.smtp_config('smtp://127.0.0.1:%d' % port, max_attempts=2, timeout=5)
        r = self.fails('run', '--date', DATE, rc=75, contains='cannot connect')
        self.assertEqual(len(r.err.strip().splitlines()), 1, r)
        self.assertEqual([h for h in self.history() if h['event'] == 'sent'], [])
        self.assertNotEqual(os.listdir(self.path('spool', 'queue')), [], 'spool emptied')
        peer = self.start_peer(port=port)
        r = self.run_job(rc=0)
        self.assertEqual(self.run_summary(r)['sent'], 3)
        self.assert_delivered_once(peer, addrs)
        self.verify_history()

    def test_spool_and_journal_of_an_earlier_version(self):
        """Left by a crashed run of the version before deliveries were named
        by id: spool records "<name> <length>" and journal lines without
        "=<id>".  The next run still finds each delivery: the one the
        journal says was accepted is recorded as sent, not sent again."""
        addrs = ['compta@lefevre.example', 'direction@lefevre.example', 'anne@lefevre.example']
        self.book(addrs)
        port = free_port()
        self.smtp_config('smtp://127.0.0.1:%d' % port, max_attempts=1, timeout=5)
        self.fails('run', '--date', DATE, rc=75, contains='cannot connect')
        qdir = self.path('spool', 'queue')
        segs = os.listdir(qdir)
        self.assertEqual(len(segs), 1, segs)
        with open(os.path.join(qdir, segs[0]), 'rb') as f:
            data = f.read()
        old, at, names = b'', 0, []
        while at < len(data):  # "<name> <length> <id>\n<bytes>" -> "<name> <length>\n"
            nl = data.index(b'\n', at)
            name, length, ident = data[at:nl].split(b' ')
            self.assertGreater(int(ident), 0)
            body = data[nl + 1:nl + 1 + int(length)]
            old += name + b' ' + length + b'\n' + body
            names.append(name.decode())
            at = nl + 1 + int(length)
        self.assertEqual(len(names), 3)
        with open(os.path.join(qdir, segs[0]), 'wb') as f:
            f.write(old)
        con = sqlite3.connect(self.db)
        first = con.execute("SELECT address, message_id, attempts FROM delivery"
                            " ORDER BY id LIMIT 1").fetchone()
        con.close()
        spool = first[1][1:first[1].index('@')]
        self.assertIn(spool, names)
        with open(self.path('spool', 'journal'), 'a') as f:
            f.write('%s\tS\t%d\t250\t-\t250 2.0.0 Ok: queued as LEGACY1\n'
                    % (spool, first[2] + 1))
        peer = self.start_peer(port=port)
        self.run_job(rc=0)
        got = sorted(a for m in peer.messages() for a in m['rcpt'])
        self.assertEqual(got, sorted(a for a in addrs if a != first[0]))
        sent = {h['address']: h['server_reply'] for h in self.history() if h['event'] == 'sent'}
        self.assertEqual(sorted(sent), sorted(addrs))
        self.assertIn('LEGACY1', sent[first[0]])
        self.assertEqual(os.listdir(qdir), [])
        self.verify_history()

    def test_auth(self):
        addrs = ['compta@lefevre.example', 'direction@lefevre.example']
        self.book(addrs)
        peer = self.start_peer(auth=('postier', 's3cret'))  # no TLS: a relay on this host
        self.smtp_config(peer, username='postier', password='wrong', allow_plaintext_auth='yes')
        self.fails('run', '--date', DATE, rc=2, contains='authentication')
        self.assertEqual(peer.messages(), [])
        self.assertIn(535, [e['code'] for e in peer.events() if e['cmd'] == 'AUTH'])
        self.assertEqual([h for h in self.history() if h['event'] == 'sent'], [])
        # with the right password, nothing was lost
        self.smtp_config(peer, username='postier', password='s3cret', allow_plaintext_auth='yes')
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, addrs)
        self.assertEqual([m['auth'] for m in msgs], ['postier'] * 2)
        self.verify_history()

    def test_starttls_untrusted_then_trusted(self):
        addrs = ['compta@lefevre.example', 'direction@lefevre.example']
        self.book(addrs)
        peer = self.start_peer(tls_cert=self.cert, tls_key=self.key)
        self.smtp_config(peer, starttls='always')
        self.fails('run', '--date', DATE, rc=2, contains='certificate')
        self.assertEqual(peer.messages(), [])
        self.assertEqual([h for h in self.history() if h['event'] == 'sent'], [])
        self.smtp_config(peer, starttls='always', ca_file=self.cert)
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, addrs)
        self.assertEqual([m['tls'] for m in msgs], [True, True])
        self.assertTrue(any(e['cmd'] == 'STARTTLS' for e in peer.events()))
        self.verify_history()

    def test_smtps_implicit_tls(self):
        addrs = ['compta@lefevre.example']
        self.book(addrs)
        peer = self.start_peer(tls_cert=self.cert, tls_key=self.key, implicit_tls=True)
        self.assertTrue(peer.url.startswith('smtps://'))
        self.smtp_config(peer, ca_file=self.cert)
        self.run_job(rc=0)
        msgs = self.assert_delivered_once(peer, addrs)
        self.assertEqual([m['tls'] for m in msgs], [True])


class Throughput(SmtpCase):
    def test_connections_are_parallel_bounded_and_reused(self):
        addrs = ['c%02d@lefevre.example' % i for i in range(4)]
        self.book(addrs, docs=5)  # 20 messages
        peer = self.start_peer(delay=0.2)
        self.smtp_config(peer, connections=3)
        r = self.run_job(rc=0)
        self.assertEqual(self.run_summary(r)['sent'], 20)
        self.assertEqual(len(peer.messages()), 20)
        self.assertLessEqual(peer.max_concurrent_sessions(), 3)
        self.assertGreater(peer.max_concurrent_sessions(), 1, 'no parallel sessions')
        self.assertLessEqual(peer.connections(), 3, 'connections not reused')

    def test_rate_per_second(self):
        addrs = ['c%02d@lefevre.example' % i for i in range(3)]
        self.book(addrs, docs=5)  # 15 messages
        peer = self.start_peer()
        self.smtp_config(peer, connections=3, rate_per_second=5)
        self.run_job(rc=0)
        self.assertEqual(len(peer.messages()), 15)
        starts = sorted(e['t'] for e in peer.events() if e['cmd'] == 'MAIL')
        self.assertEqual(len(starts), 15)
        for i, t in enumerate(starts):
            window = [u for u in starts[i:] if u < t + 0.9]
            self.assertLessEqual(len(window), 5, 'more than 5 messages started within 0.9 s: %r'
                                 % [round(u - starts[0], 3) for u in starts])
        self.assertGreater(starts[-1] - starts[0], 1.7)

    def test_progress_only_on_a_terminal(self):
        addrs = ['c%02d@lefevre.example' % i for i in range(3)]
        self.book(addrs, docs=4)  # 12 messages
        peer = self.start_peer(delay=0.12)
        self.smtp_config(peer, connections=1)
        r = self.run_job(rc=0)  # stderr is a pipe
        self.assertEqual(self.run_summary(r)['sent'], 12)
        self.assertNotIn('msg/s', r.err)
        self.assertNotIn('ETA', r.err)
        self.add_docs(4)  # 12 more, this time with stderr on a terminal
        master, slave = pty.openpty()
        env = dict(os.environ, LC_ALL='C.UTF-8')
        env.pop('POSTIER_CONFIG', None)
        p = subprocess.Popen(self.postier_argv('run', '--date', DATE), cwd=self.tmp, env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        chunks = []

        def drain():
            while True:
                try:
                    b = os.read(master, 4096)
                except OSError:
                    return
                if not b:
                    return
                chunks.append(b)
        t = threading.Thread(target=drain)
        t.start()
        out, _ = p.communicate(timeout=e2e.TIMEOUT)
        t.join(10)
        os.close(master)
        tty = b''.join(chunks).decode('utf-8', 'replace')
        self.assertEqual(p.returncode, 0, (out, tty))
        self.assertEqual(len(peer.messages()), 24)
        self.assertRegex(tty, r'sent \d+/12\b')
        self.assertIn('msg/s', tty)
        self.assertIn('ETA', tty)
        self.assertNotIn('msg/s', out.decode('utf-8', 'replace'))


if __name__ == '__main__':
    unittest.main(verbosity=2)
