#!/usr/bin/python3
"""End-to-end: `postier retry` (SPEC §5, §6 `retry`; issue 16 point 3).  A
message that failed (a template error, a missing attachment, a bad
[sender], a 5xx) is sent again once its cause is fixed, to the recipients
that would be chosen today, never to an address that already has a `sent`
row for that document; the history keeps the failed row and adds the new
attempt; `run` says how many failed messages wait for `retry`.  Real
peers: the Maildir and aiosmtpd (smtp_peer.py)."""
import collections
import email
import email.policy
import fcntl
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e  # noqa: E402
import smtp_peer  # noqa: E402

DATE = '2026-11-23'
GOOD = ('Subject: Facture {{doc.ref}}\n\n'
        'Bonjour {{contact.first_name}},\n'
        'votre facture {{doc.ref}} de {{doc.amount|money}}.\n')
# a syntax error: the message fails with reason `template`
BROKEN = ('Subject: Facture {{doc.ref}}\n\n'
          'Bonjour {{#if contact.first_name}}{{contact.first_name}},\n')
WAITING = re.compile(e2e.RETRY_WAITING, re.M)


class RetryCase(e2e.PostierCase):
    run_date = DATE

    def setUp(self):
        super().setUp()
        self.append_config('\n[run]\nfallback = none\n')
        self.base_ini = self.read_config()
        self.maildir = self.path('spool', 'sent')

    def book(self, addresses, docs=('F001',), flags='invoice'):
        """Party P1 whose contacts (one per address, flagged `flags`) each
        receive every invoice of `docs`."""
        self.ok('parties', 'import', self.write(
            'p.csv', 'ref,kind,name,email\nP1,client,Boulangerie Lefèvre,accueil@lefevre.example\n'))
        rows = ['party_ref,last_name,first_name,email,flags']
        rows += ['P1,Martin%d,Élodie,%s,%s' % (i, a, flags) for i, a in enumerate(addresses)]
        self.ok('contacts', 'import', self.write('c.csv', '\n'.join(rows) + '\n'))
        if docs:
            self.add_docs('invoice', docs)

    def add_docs(self, type_, refs, extra=''):
        head = 'ref,party_ref,amount' + (',attachment' if extra else '')
        rows = [head] + ['%s,P1,120.50%s' % (r, (',' + extra) if extra else '') for r in refs]
        self.ok('documents', 'import', self.write('d-%s.csv' % refs[0], '\n'.join(rows) + '\n'),
                '--type', type_)

    def template(self, folder, text):
        self.write_template(folder, 'fr.eml.tmpl', text)

    def retry(self, *args, rc=None):
        r = self.run_postier('retry', *args)
        if rc is not None:
            self.assertEqual(r.rc, rc, 'expected exit %d:\n%r' % (rc, r))
        return r

    def retry_summary(self, r):
        """The counts of retry's summary line (the run's, `retry TODAY: ...`)."""
        pat = (e2e.RUN_SUMMARY.replace('^run ', '^(?:dry )?retry ')
               .replace(' queued', ' (?:queued|to send)') % r'\d{4}-\d\d-\d\d')
        m = re.search(pat, r.out, re.M)
        self.assertTrue(m, 'no retry summary on stdout:\n%r' % r)
        return dict(zip(e2e.RUN_SUMMARY_KEYS, map(int, m.groups())))

    def waiting(self, r):
        m = WAITING.search(r.out)
        return int(m.group(1)) if m else 0

    def mails(self):
        """The messages in the Maildir: [(To address, Message-ID, bytes)]."""
        out = []
        for sub in ('new', 'cur'):
            d = os.path.join(self.maildir, sub)
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else ():
                data = self.read_bytes(os.path.join(d, name))
                msg = email.message_from_bytes(data, policy=email.policy.default)
                out.append((msg['To'].addresses[0].addr_spec, str(msg['Message-ID']), data))
        return out

    def events(self, address, ref='F001'):
        return [(h['event'], h['reason']) for h in self.history_rows()
                if h['address'] == address and h['document_ref'] == ref and h['message_id']]

    def state(self):
        return (self.sql('SELECT * FROM delivery ORDER BY id'),
                self.sql('SELECT count(*) FROM history'), self.mails())


class Retry(RetryCase):
    def test_template_error_fixed_then_retried(self):
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', BROKEN)
        r = self.run_job(rc=1)
        s = self.run_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['failed']), (1, 1, 1), r)
        self.assertEqual(self.events(a), [('failed', 'template')])
        self.assertEqual(self.waiting(r), 1, r)
        # fixed, but `run` alone sends nothing: the document was processed
        self.template('invoice', GOOD)
        r = self.run_job(rc=0)
        s = self.run_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['sent']), (0, 0, 0), r)
        self.assertEqual(self.waiting(r), 1, r)
        self.assertEqual(self.mails(), [])
        # a dry run shows it and writes nothing
        before = self.state()
        r = self.retry('--dry-run', rc=0)
        self.assertIn('invoice F001', r.out)
        self.assertIn(a, r.out)
        self.assertEqual(self.retry_summary(r)['queued'], 1, r)
        self.assertEqual(self.state(), before)
        # the retry sends it, once; the failed row stays
        r = self.retry(rc=0)
        s = self.retry_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['sent'], s['failed']), (1, 1, 1, 0), r)
        self.assertEqual(self.waiting(r), 0, r)
        mails = self.mails()
        self.assertEqual([m[0] for m in mails], [a])
        self.assertIn(b'120,50', mails[0][2])
        self.assertEqual(self.events(a), [('failed', 'template'), ('queued', None),
                                          ('sent', None)])
        # nothing twice: a second retry and a run send nothing more
        r = self.retry(rc=0)
        s = self.retry_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['sent']), (0, 0, 0), r)
        r = self.run_job(rc=0)
        self.assertEqual(self.waiting(r), 0, r)
        self.assertNotIn('retry', r.out)
        self.assertEqual(len(self.mails()), 1)
        self.verify_history()

    def test_still_broken_fails_again_and_stays_retryable(self):
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        r = self.retry(rc=1)
        s = self.retry_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['failed']), (1, 1, 1), r)
        self.assertEqual(self.events(a), [('failed', 'template'), ('failed', 'template')])
        self.assertEqual(self.waiting(r), 1, r)
        self.template('invoice', GOOD)
        self.retry(rc=0)
        self.assertEqual([m[0] for m in self.mails()], [a])
        self.verify_history()

    def test_missing_attachment_put_in_place_then_retried(self):
        a = 'compta@lefevre.example'
        self.book([a], docs=())
        self.template('invoice', GOOD)
        pdf = self.write(os.path.join('documents', 'F001.pdf'), b'%PDF-1.4 facture F001\n')
        self.add_docs('invoice', ['F001'], extra='F001.pdf')
        os.rename(pdf, pdf + '.away')  # gone by the time of the run
        r = self.run_job(rc=1)
        self.assertEqual(self.run_summary(r)['failed'], 1, r)
        self.assertEqual([e[0] for e in self.events(a)], ['failed'])
        self.assertEqual(self.mails(), [])
        os.rename(pdf + '.away', pdf)
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        mails = self.mails()
        self.assertEqual([m[0] for m in mails], [a])
        self.assertIn(b'F001.pdf', mails[0][2])
        self.assertEqual([e[0] for e in self.events(a)], ['failed', 'queued', 'sent'])

    def test_missing_template_added_then_retried(self):
        a = 'compta@lefevre.example'
        self.book([a], docs=(), flags='order')
        self.add_docs('order', ['C001'])
        tdir = self.path('templates', 'order')
        for name in os.listdir(tdir) if os.path.isdir(tdir) else ():
            os.unlink(os.path.join(tdir, name))
        r = self.run_job()
        self.assertEqual(r.rc, 1, r)
        self.assertEqual([e[0] for e in self.events(a, 'C001')], ['failed'])
        self.template('order', GOOD)
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual([m[0] for m in self.mails()], [a])

    def test_recipient_chosen_today(self):
        """The contact's address was corrected meanwhile: the retry goes to
        the address the document would reach today."""
        old, new = 'compta@lefevre.exmaple', 'compta@lefevre.example'
        self.book([old])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        cid = self.contacts()[0]['id']
        self.ok('contacts', 'edit', cid, '--email', new)
        self.template('invoice', GOOD)
        r = self.retry('--dry-run', rc=0)
        self.assertIn('invoice F001: %s no longer a recipient' % old, r.out)
        self.assertIn('<%s>' % new, r.out)
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual(self.waiting(r), 0, r)  # nothing waits for the old address
        self.assertEqual([m[0] for m in self.mails()], [new])
        self.assertEqual(self.events(new), [('queued', None), ('sent', None)])
        self.assertEqual(self.events(old), [('failed', 'template')])  # kept
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['documents'], 0, r)
        self.assertEqual(len(self.mails()), 1)
        self.verify_history()

    def test_contact_ended_meanwhile_is_not_sent_to(self):
        """...and its failed message stays failed (it may be active again)."""
        a, b = 'compta@lefevre.example', 'direction@lefevre.example'
        self.book([a, b])
        self.template('invoice', BROKEN)
        r = self.run_job(rc=1)
        self.assertEqual(self.waiting(r), 2, r)
        ended = [c['id'] for c in self.contacts() if c['email'] == b][0]
        self.ok('contacts', 'end', ended, '--date', '2026-01-01')
        self.template('invoice', GOOD)
        r = self.retry(rc=0)
        s = self.retry_summary(r)
        self.assertEqual((s['sent'], s['skipped']), (1, 1), r)
        self.assertEqual(self.waiting(r), 1, r)
        self.assertEqual([m[0] for m in self.mails()], [a])
        self.assertEqual(self.events(b), [('failed', 'template')])
        self.assertEqual([h['reason'] for h in self.history_rows()
                          if h['event'] == 'skipped' and h['contact_id'] == ended], ['inactive'])

    def test_filters(self):
        a = 'compta@lefevre.example'
        self.book([a], docs=('F001', 'F002'), flags='invoice|order')
        self.add_docs('order', ['C001'])
        self.template('invoice', BROKEN)
        self.template('order', BROKEN)
        r = self.run_job(rc=1)
        self.assertEqual(self.run_summary(r)['failed'], 3, r)
        self.assertEqual(self.waiting(r), 3, r)
        self.template('invoice', GOOD)
        self.template('order', GOOD)
        # filters that match nothing
        for args in (['--reason', 'rejected'], ['--since', '2099-01-01'],
                     ['--document', 'F404'], ['--type', 'due_notice']):
            r = self.retry(*args, rc=0)
            self.assertEqual(self.retry_summary(r)['queued'], 0, (args, r))
        self.assertEqual(self.mails(), [])
        # one document by ref
        r = self.retry('--document', 'F002', rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual(self.events(a, 'F002')[-1], ('sent', None))
        self.assertEqual(self.events(a, 'F001'), [('failed', 'template')])
        # one type
        r = self.retry('--type', 'order', '--reason', 'template', '--since', '2000-01-01',
                       rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual(self.events(a, 'C001')[-1], ('sent', None))
        self.assertEqual(self.waiting(r), 1, r)
        # the rest
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual(sorted(m[0] for m in self.mails()), [a] * 3)
        self.verify_history()

    def test_bad_sender_fixed_then_retried(self):
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', GOOD)
        self.write_config(self.base_ini + '[sender]\nemail = facturation lefevre\n')
        r = self.run_job(rc=1)
        self.assertEqual(self.run_summary(r)['failed'], 1, r)
        self.assertEqual([e[0] for e in self.events(a)], ['failed'])
        self.write_config(self.base_ini + '[sender]\nemail = factures@lefevre.example\n')
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        mails = self.mails()
        self.assertEqual([m[0] for m in mails], [a])
        self.assertIn(b'factures@lefevre.example', mails[0][2])

    def test_sms_too_long_then_allowed(self):
        """An SMS over [sms] max_segments fails (too_long); once the limit
        is raised, retry sends the SMS and never the e-mail again."""
        a = 'compta@lefevre.example'
        self.ok('parties', 'import', self.write(
            'p.csv', 'ref,kind,name,email\nP1,client,Boulangerie Lefèvre,accueil@lefevre.example\n'))
        self.ok('contacts', 'import', self.write(
            'c.csv', 'party_ref,last_name,first_name,email,phones,flags\n'
                     'P1,Martin,Élodie,%s,06 12 34 56 78,order\n' % a))
        self.ok('documents', 'import', self.write(
            'o.csv', 'ref,party_ref,amount,msg\nC001,P1,12.50,%s\n' % ('livraison ' * 30)),
            '--type', 'order')
        self.template('order', GOOD)
        self.write_template('order', 'fr.sms.tmpl', 'Commande {{doc.ref}} : {{doc.msg}}')
        sms = '\n[run]\nsms_types = order\n[sms]\ntransport = maildir\nmax_segments = %d\n'
        self.write_config(self.base_ini + sms % 1)
        r = self.run_job(rc=1)
        s = self.run_summary(r)
        self.assertEqual((s['sent'], s['failed']), (1, 1), r)
        self.assertEqual(self.waiting(r), 1, r)
        num = '+33612345678'
        self.assertEqual(self.events(num, 'C001'), [('failed', 'too_long')])
        self.write_config(self.base_ini + sms % 3)
        r = self.retry(rc=0)
        s = self.retry_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['failed']), (1, 1, 0), r)
        self.assertEqual(self.events(num, 'C001'), [('failed', 'too_long'), ('queued', None),
                                                    ('sent', None)])
        self.assertEqual([e[0] for e in self.events(a, 'C001')], ['queued', 'sent'])
        self.assertEqual(len(os.listdir(self.path('spool', 'sms', 'new'))), 1)
        self.assertEqual([m[0] for m in self.mails()], [a])
        self.verify_history()

    def test_refused_by_the_lock_does_nothing(self):
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', BROKEN)
        self.run_job(rc=1)
        self.template('invoice', GOOD)
        before = self.state()
        with open(self.path('spool', 'lock'), 'a') as held:  # a run under way
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            r = self.run_postier('retry')
        self.assertNotIn(r.rc, (0, 2), r)
        self.assertIn('postier: ', r.err)
        self.assertNotIn('retry ', r.out)  # no summary of what it did not do
        self.assertEqual(self.state(), before)
        self.assertEqual(self.retry_summary(self.retry(rc=0))['sent'], 1)

    def test_usage_errors(self):
        self.fails('retry', '--since', '23/11/2026', contains='--since')
        self.fails('retry', '--type', 'nonsense', contains='--type')
        self.fails('retry', 'extra', contains='extra')
        self.assertIn('Usage: postier retry', self.ok('retry', '--help').out)


class RetrySmtp(RetryCase):
    def setUp(self):
        super().setUp()
        self.peer = smtp_peer.Peer(self.path('peer'), mode='reject').start()
        self.addCleanup(self.peer.stop)
        self.write_config(self.base_ini + '\n[email]\ntransport = smtp\n[smtp]\nurl = %s\n'
                          'connections = 2\nmax_attempts = 2\ntimeout = 10\n' % self.peer.url)

    def test_5xx_then_accepted_sent_exactly_once(self):
        good, bad = 'compta@lefevre.example', 'bad.boss@lefevre.example'
        self.book([good, bad])
        self.template('invoice', GOOD)
        r = self.run_job(rc=1)
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['failed']), (2, 1, 1), r)
        self.assertEqual(self.waiting(r), 1, r)
        # the server accepts it now
        self.peer.stop()
        self.peer.mode = 'accept'
        self.peer.start()
        r = self.retry('--reason', 'template', rc=0)  # not why it failed
        self.assertEqual(self.retry_summary(r)['documents'], 0, r)
        self.assertEqual(len(self.peer.messages()), 1)
        r = self.retry('--reason', 'rejected', rc=0)
        s = self.retry_summary(r)
        self.assertEqual((s['documents'], s['queued'], s['sent'], s['failed']), (1, 1, 1, 0), r)
        got = sorted(x for m in self.peer.messages() for x in m['rcpt'])
        self.assertEqual(got, [bad, good])  # good: once, by the run; bad: by the retry
        self.assertEqual(self.events(bad), [('queued', None), ('failed', 'rejected'),
                                            ('queued', None), ('sent', None)])
        self.assertEqual([e[0] for e in self.events(good)], ['queued', 'sent'])
        mids = {h['message_id'] for h in self.history_rows() if h['address'] == bad}
        self.assertEqual(len(mids), 1, mids)  # the same Message-ID: a resend is recognisable
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 0, r)
        self.assertEqual(len(self.peer.messages()), 2)
        self.verify_history()


    def test_deferred_past_max_attempts_sent_by_retry(self):
        a = 'compta@lefevre.example'
        self.book([a])
        self.template('invoice', GOOD)
        self.peer.stop()
        self.peer.mode = 'tempfail-always'
        self.peer.start()
        r = self.run_job()
        s = self.run_summary(r)
        self.assertEqual((s['queued'], s['sent'], s['deferred'], s['failed']), (1, 0, 1, 0), r)
        self.assertEqual([e[0] for e in self.events(a)], ['queued', 'deferred', 'deferred'])
        self.peer.stop()
        self.peer.mode = 'accept'
        self.peer.start()
        r = self.retry(rc=0)
        self.assertEqual(self.retry_summary(r)['sent'], 1, r)
        self.assertEqual([x for m in self.peer.messages() for x in m['rcpt']], [a])
        self.assertEqual([e[0] for e in self.events(a)],
                         ['queued', 'deferred', 'deferred', 'sent'])
        self.assertEqual(self.retry_summary(self.retry(rc=0))['sent'], 0)
        self.assertEqual(len(self.peer.messages()), 1)


class RetryCrash(RetryCase):
    """kill -9 of `retry` at several moments (SPEC §5): the next retry,
    with no manual step, sends every failed message exactly once."""
    DOCS = 800  # two recipients each

    def test_kill_9_loses_and_doubles_nothing(self):
        self.import_invoice_book(300, self.DOCS)
        self.template('invoice', BROKEN)
        r = self.run_job(rc=1)
        self.assertEqual(self.waiting(r), 2 * self.DOCS, r)
        self.template('invoice', GOOD)
        kills = 0
        for delay in (0.05, 0.2, 0.4, 0.7, 1.0, 1.5):
            p = subprocess.Popen(self.postier_argv('retry'), cwd=self.tmp,
                                 env=self.postier_env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(delay)  # (whenever it lands, the outcome must be the same)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
        self.assertGreater(kills, 0, 'the retry finished before any kill: make it bigger')
        r = self.retry(rc=0)
        self.assertEqual(self.waiting(r), 0, r)
        ids = collections.Counter(m[1] for m in self.mails())
        self.assertEqual(len(ids), 2 * self.DOCS)
        self.assertEqual(max(ids.values()), 1)
        self.assertEqual(self.sql("SELECT state, count(*) FROM delivery GROUP BY state"),
                         [('sent', 2 * self.DOCS)])
        self.assertEqual(self.sql("SELECT count(*) FROM history WHERE event = 'failed'"),
                         [(2 * self.DOCS,)])  # the first failures, kept (the template is fixed)
        self.assertEqual(self.sql("SELECT count(DISTINCT message_id), count(*) FROM history"
                                  " WHERE event = 'sent'"), [(2 * self.DOCS, 2 * self.DOCS)])
        self.assertEqual(os.listdir(self.path('spool', 'queue')), [])
        self.assertEqual(self.retry_summary(self.retry(rc=0))['documents'], 0)
        self.verify_history()

if __name__ == '__main__':
    e2e.main()
